"""The two sides of each row: the toolkit's trainers and HF's way (`run_mlm` / `run_glue`: a
plain `Trainer`), on the same synthetic data and hyper-parameters."""

from __future__ import annotations

from typing import Any

from bench.gpu_training.profiling import step_timer
from bench.gpu_training.runs import Run, Sizes
from bench.gpu_training.synthetic import (
    ListDataset,
    model_config,
    stream_blocks,
    tlm_pairs,
    word_tokenizer,
    xnli_pairs,
)
from xlm_hf.text.special_tokens import MASK, PAD


def training_values(sizes: Sizes, task: str, device: str) -> dict[str, Any]:
    """The hyperparameters both paths share (the recipe defaults of the toolkit for the task)."""
    steps = sizes.warmup + sizes.timed + 2
    pretraining = task.startswith("mlm")
    return {
        "max_steps": steps,
        "per_device_train_batch_size": sizes.batch if pretraining else sizes.xnli_batch,
        "learning_rate": 1e-4 if pretraining else 2e-5,
        "adam_beta2": 0.98,
        "max_grad_norm": 5.0 if pretraining else 1.0,
        "lr_scheduler_type": "inverse_sqrt" if pretraining else "linear",
        "warmup_steps": 10 if pretraining else 0,
        "bf16": device == "cuda",
        "use_cpu": device != "cuda",
        "logging_steps": sizes.log_every,
        "eval_strategy": "no",
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "seed": 0,
        "remove_unused_columns": False,
    }


def pretraining_trainer(run: Run, sizes: Sizes, device: str, output_dir: str):
    import torch
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments, XLMWithLMHeadModel

    from xlm_hf.config.training_args import PretrainingArguments
    from xlm_hf.data.collators import MaskingCollator
    from xlm_hf.data.mixture import MixtureBatches
    from xlm_hf.data.sources import stream_source, tlm_source
    from xlm_hf.model.heads import XLMWithTargetedLMHead, set_attention
    from xlm_hf.training.trainer import PretrainTrainer

    steps = sizes.warmup + sizes.timed + 2
    blocks = stream_blocks(sizes, steps * sizes.batch)
    values = {**training_values(sizes, run.task, device), "output_dir": output_dir}
    torch.manual_seed(0)
    with torch.device(device):
        if run.path == "xlm_hf":
            model = XLMWithTargetedLMHead(model_config(sizes))
            model.training_kernels, model.compile_encoder = run.kernels, run.compile
        else:
            model = XLMWithLMHeadModel(model_config(sizes))
        set_attention(model, run.attention)
    timer = step_timer(sizes, device, model, PAD)
    if run.path == "hf":
        trainer = Trainer(
            model=model,
            args=TrainingArguments(**values),
            train_dataset=ListDataset([{"input_ids": row.tolist()} for row in blocks]),
            data_collator=DataCollatorForLanguageModeling(word_tokenizer(sizes.vocab), mlm_probability=0.15),
            callbacks=[timer],
        )
        return trainer, timer
    masking = MaskingCollator(vocab_size=sizes.vocab, mask_token_id=MASK, pad_token_id=PAD)
    sources = [stream_source("mlm", "en", 0, blocks, sizes.batch, masking)]
    if run.task == "mlm-tlm":
        sources.append(
            tlm_source("en-fr", (0, 0), *tlm_pairs(sizes, steps * sizes.batch), sizes.batch, None, masking)
        )
    mixture = MixtureBatches(sources, 0.7, seed=0)
    trainer = PretrainTrainer(
        model=model, args=PretrainingArguments(**values), mixture=mixture, callbacks=[timer]
    )
    return trainer, timer


def xnli_trainer(run: Run, sizes: Sizes, device: str, output_dir: str):
    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, XLMForSequenceClassification

    from xlm_hf.config.training_args import XnliTrainingArguments
    from xlm_hf.model.fused_training import LENGTH_BUCKET
    from xlm_hf.model.heads import use_training_kernels
    from xlm_hf.tasks.classification import ClassificationCollator
    from xlm_hf.tasks.trainer import TaskTrainer

    steps = sizes.warmup + sizes.timed + 2
    pairs = xnli_pairs(sizes, steps * sizes.xnli_batch)
    values = {**training_values(sizes, run.task, device), "output_dir": output_dir}
    torch.manual_seed(0)
    with torch.device(device):
        model = XLMForSequenceClassification(model_config(sizes, num_labels=3))
    timer = step_timer(sizes, device, model, PAD)
    if run.path == "hf":  # run_glue's way: no language ids, pad to the longest of the batch
        rows = [{"input_ids": p["input_ids"], "labels": p["labels"]} for p in pairs]
        trainer = Trainer(
            model=model,
            args=TrainingArguments(**values),
            train_dataset=ListDataset(rows),
            data_collator=DataCollatorWithPadding(word_tokenizer(sizes.vocab)),
            callbacks=[timer],
        )
        return trainer, timer
    model = use_training_kernels(model, run.kernels, run.compile)
    if run.compile_mode is not None:  # this process's shared layer, compiled in that mode
        from xlm_hf.model import fused_training

        fused_training._compiled_layer = torch.compile(
            fused_training._layer, fullgraph=True, mode=run.compile_mode
        )
    args = XnliTrainingArguments(**{**values, "num_train_epochs": 1.0, "load_best_model_at_end": False})
    if device == "cuda":  # as `finetune_xnli.run` sets them for the fused path on CUDA
        args.accelerator_config.non_blocking = True
        args.dataloader_num_workers = max(args.dataloader_num_workers, 1)
    trainer = TaskTrainer(
        model=model,
        args=args,
        train_dataset=ListDataset(pairs),
        data_collator=ClassificationCollator(PAD, length_bucket=LENGTH_BUCKET, max_length=512),
        callbacks=[timer],
    )
    return trainer, timer
