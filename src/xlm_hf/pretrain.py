"""XLM pretraining (CLM / MLM / TLM): ``python -m xlm_hf.pretrain --config recipes/pretrain/X.yaml``.

parse recipe → tokenizer (learned first if missing) → corpora → batches → model → Trainer → save.
The output directory is a plain HF model + tokenizer, with ``results.json`` beside it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xlm_hf.atomic_files import write_json
from xlm_hf.config.recipes import PretrainRecipe, load_pretrain_recipe
from xlm_hf.launch import run_command
from xlm_hf.training import run_dir

logger = logging.getLogger(__name__)

DESCRIPTION = "pretrain XLMWithLMHeadModel with CLM / MLM / TLM"


def build_trainer(recipe: PretrainRecipe, callbacks: Sequence[Any] = ()) -> tuple[Any, Any, str | None]:
    """(trainer, pretraining data, checkpoint to resume from): everything up to ``train()``.

    Every input is checked before the first write: the recipe, the input files, the tokenizer,
    the model directory and its weights, the checkpoint to resume from; only then are corpora
    tokenised into the cache. `callbacks`: extra `TrainerCallback`s (``make bench`` times steps).
    """
    from transformers import set_seed

    from xlm_hf.data.corpora import check_cache_dir, load_corpora
    from xlm_hf.data.inputs import resolve_inputs
    from xlm_hf.data.pretraining import build_mixture, build_pretraining_data
    from xlm_hf.model.loading import check_model_inputs, load_pretraining_model
    from xlm_hf.text.pretokenize import recorded_preprocessing, use_preprocessing
    from xlm_hf.text.tokenizer_files import load_tokenizer
    from xlm_hf.training.checkpoints import resume_checkpoint
    from xlm_hf.training.ranks import node_mains_first
    from xlm_hf.training.trainer import PretrainTrainer
    from xlm_hf.vocab import tokenizer_dir

    data_cfg, args = recipe.data, recipe.training
    run_dir.check(recipe)  # before any work: output_dir is empty, this recipe's, or to be overwritten
    checkpoint = resume_checkpoint(args)
    set_seed(args.seed)
    # one writer per folder: the global main, then each other node's main (see training.ranks)
    with node_mains_first(args):
        inputs = resolve_inputs(data_cfg)  # every input checked before a vocabulary is learned
        check_cache_dir(data_cfg)
        tok_dir = tokenizer_dir(recipe)  # learned from the recipe's vocab section when missing
        tokenizer = load_tokenizer(tok_dir, "model.tokenizer")
        # hf or xlm: the directory's record, else the recipe's choice; saved with the model (in
        # tokenizer_config.json), so fine-tuning applies the same. The corpora get the choice where
        # it applies (a recorded setting is part of the tokenizer's fingerprint already)
        choice = recipe.model.preprocessing if recorded_preprocessing(tokenizer) is None else None
        use_preprocessing(tokenizer, recipe.model.preprocessing, "model.preprocessing")
        check_model_inputs(recipe.model, data_cfg, tokenizer)  # languages, lengths: before any corpus
        model = load_pretraining_model(recipe.model, tokenizer, data_cfg.languages)  # weights readable
        corpora = load_corpora(data_cfg, tok_dir, seed=args.seed, inputs=inputs, preprocessing=choice)
        data = build_pretraining_data(  # inside: the main process keeps the TLM index beside the store
            data_cfg,
            corpora,
            tokenizer,
            args.per_device_train_batch_size,
            args.per_device_eval_batch_size,
            parts=args.world_size * args.gradient_accumulation_steps,
        )
    mixture = build_mixture(data_cfg, data, args)
    logger.info(
        "global batch: %d sequences per device × %d processes × %d accumulation steps",
        args.per_device_train_batch_size,
        args.world_size,
        args.gradient_accumulation_steps,
    )
    for name, prob, tokens in mixture.describe():
        logger.info(
            "source %-12s p=%.3f tokens=%d packing=%s", name, prob, tokens, data.packing.get(name, "-")
        )
    if not data.validation:
        logger.warning("no validation data: evaluation is off")

    run_dir.record(recipe)
    trainer = PretrainTrainer(
        model=model,
        args=args,
        mixture=mixture,
        validation=data.validation,
        processing_class=tokenizer,
        callbacks=list(callbacks) or None,
    )
    if checkpoint:
        trainer.resume_from(checkpoint)
    return trainer, data, checkpoint


def run(recipe: PretrainRecipe, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train, evaluate per language, save the HF model + tokenizer and ``results.json``.

    After ``--resume`` the figures cover the whole run (every segment), and ``initial_eval`` is
    the first segment's.
    """
    import torch

    from xlm_hf.training.checkpoints import raise_if_stopped
    from xlm_hf.training.trainer import nested_eval

    args = recipe.training
    trainer, data, checkpoint = build_trainer(recipe, callbacks)
    # FSDP / DeepSpeed place the model on devices only inside train(): no evaluation before it
    # (on CPU processes the model already is where it trains, whole on every rank)
    sharded = trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled
    if not checkpoint and not (sharded and args.device.type != "cpu") and data.validation:
        trainer.initial_eval = nested_eval(trainer.evaluate())
    first_step = trainer.before.global_step
    try:
        train_output = trainer.train(resume_from_checkpoint=checkpoint)
    finally:
        trainer.stopper.restore()
    raise_if_stopped(trainer.stopper, args.output_dir)
    segment_steps = train_output.global_step - first_step
    totals = trainer.totals(
        train_output.training_loss * segment_steps, train_output.metrics.get("train_runtime", 0.0)
    )
    step, metrics = trainer.last_eval or (-1, {})
    if data.validation and step != trainer.state.global_step:
        metrics = trainer.evaluate()
    trainer.save_model(args.output_dir)  # model + tokenizer (the trainer's processing_class)
    trainer.save_state()  # trainer_state.json: the per-step log history

    reduce = trainer.accelerator.reduce
    tokens = int(reduce(torch.tensor(totals.train_tokens, device=args.device), "sum").item())
    results = {
        "train_loss": totals.loss_sum / max(train_output.global_step, 1),
        "train_runtime": totals.train_runtime,
        "train_steps": train_output.global_step,
        "train_tokens": tokens,
        "train_seconds": totals.train_seconds,  # in training steps: evaluation excluded
        "train_tokens_per_second": tokens_per_second(tokens, totals.train_seconds),
        "eval": nested_eval(metrics),
        "initial_eval": trainer.initial_eval,
        "packing_efficiency": data.packing,
        "tlm_pairs_dropped": data.dropped_pairs,
        **({"decontaminated": data.decontaminated} if data.decontaminated else {}),
        "sampling": {name: prob for name, prob, _ in trainer.mixture.describe()},
        "languages": recipe.data.languages,
        "objectives": recipe.data.objectives,
        "world_size": args.world_size,
        "mixed_precision": args.mixed_precision,
        "peak_memory_mb": peak_memory_mb(),
    }
    if args.should_save:
        write_json(Path(args.output_dir) / "results.json", results)
    return results


#: below this much training time a rate means nothing (a run of a step or two, timer resolution)
MIN_SECONDS_FOR_A_RATE = 0.01


def tokens_per_second(tokens: int, seconds: float) -> float | None:
    """`tokens` / `seconds`, or None when the time is too short to give a rate."""
    return tokens / seconds if seconds >= MIN_SECONDS_FOR_A_RATE else None


def peak_memory_mb() -> float:
    """This process's high-water mark: GPU memory allocated by torch, else the CPU resident set."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def summary(results: dict[str, Any]) -> str:
    """A readable end-of-run table: per objective and language, initial → final perplexity."""
    lines = [
        f"steps {results['train_steps']}  loss {results['train_loss']:.3f}  "
        f"{results['train_runtime']:.0f}s  {_rate(results['train_tokens_per_second'])} tokens/s",
        f"{'metric':<10} {'lang':<7} {'start':>10} {'end':>10}",
    ]
    for metric, per_lang in results["eval"].items():
        for lang, value in per_lang.items():
            start = results.get("initial_eval", {}).get(metric, {}).get(lang)
            start_text = f"{start:10.2f}" if start is not None else f"{'-':>10}"
            lines.append(f"{metric:<10} {lang:<7} {start_text} {value:10.2f}")
    return "\n".join(lines)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def main(argv: list[str] | None = None) -> int:
    """``xlm-hf pretrain --config RECIPE`` (also ``python -m xlm_hf.pretrain``)."""
    return run_command("pretrain", DESCRIPTION, argv, _command, resumable=True)


def _command(config: str, overrides: list[str]) -> None:
    recipe = load_pretrain_recipe(config, overrides)
    results = run(recipe)
    if recipe.training.process_index == 0:  # one summary, not one per data-parallel rank
        print(summary(results))
        print(f"model, tokenizer and results.json in {recipe.training.output_dir}")


if __name__ == "__main__":
    raise SystemExit(main())
