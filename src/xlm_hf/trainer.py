"""`Trainer` for XLM pretraining: mixture batches in, target-only loss, per-language validation.

Only three things differ from `transformers.Trainer`: the training data loader (the mixture already
yields whole batches), `compute_loss` (switches causal attention per batch and counts tokens), and
`evaluate` (perplexity and accuracy per objective and language on fixed, pre-masked batches).

On a GPU the loader builds the mixture's batches in a worker process, prepares them for the fused
path there (`fused_training.prepare_batch`: padding flag, bucket lengths, target positions), pins
them and copies them to the device without waiting: batch building and copies overlap the steps.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, IterableDataset
from transformers import Trainer

from xlm_hf.data.streams import MixtureBatches
from xlm_hf.fused_training import prepare_batch

logger = logging.getLogger(__name__)


@dataclass
class ValidationSet:
    """Pre-collated batches of one objective and language (or pair): identical at every evaluation."""

    objective: str
    name: str
    batches: list[dict]


def metric_names(objective: str) -> tuple[str, str]:
    return f"{objective}_ppl", f"{objective}_acc"


class PretrainTrainer(Trainer):
    def __init__(self, *args, mixture: MixtureBatches, validation: Sequence[ValidationSet] = (), **kwargs):
        # eval_dataset only tells Trainer that evaluation exists; `evaluate` reads `validation`
        super().__init__(*args, train_dataset=mixture, eval_dataset=list(validation) or None, **kwargs)
        self.mixture = mixture
        self.validation = list(validation)
        self.train_tokens = 0
        self.eval_seconds = 0.0  # time spent in evaluate(), excluded from tokens/s
        self.last_eval: tuple[int, dict[str, float]] | None = None  # (step, metrics): no re-evaluation
        self.resume_rng_from: str | None = None  # checkpoint whose RNG states the first step restores
        keep_auto_kernels_off_sharded_parameters(self)

    def get_train_dataloader(self) -> Iterable[dict]:
        """The mixture's batches (one objective and language each; no re-batching).

        On CUDA, or with ``training.dataloader_num_workers`` > 0, they are built in one worker
        process (one, because the mixture is one ordered stream: several would each yield all of
        it). For the fused path they are prepared there too; on CUDA they come pinned and are
        copied to the GPU with non-blocking copies as soon as the trainer reads them."""
        model = self.accelerator.unwrap_model(self.model)
        device = self.args.device
        batches: IterableDataset = self.mixture
        if getattr(model, "training_path", None) and model.training_path(device) == "fused":
            batches = PreparedBatches(
                self.mixture, model.config.pad_token_id, model.config.max_position_embeddings
            )
        on_gpu = device.type == "cuda"
        loader = DataLoader(
            batches,
            batch_size=None,
            num_workers=1 if on_gpu or self.args.dataloader_num_workers > 0 else 0,
            pin_memory=on_gpu and self.args.dataloader_pin_memory,
        )
        return DeviceBatches(loader, device) if on_gpu else loader

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        causal = inputs.pop("causal", False)
        inputs.pop("source", None)
        n_tokens = inputs.pop("n_tokens", 0)  # counted on the CPU by the mixture: no device sync here
        if model.training:
            self.train_tokens += int(n_tokens)
            if self.resume_rng_from:
                self.restore_rng_state()
        outputs = model(**inputs, causal=bool(causal), num_items_in_batch=num_items_in_batch)
        loss = outputs.loss
        if num_items_in_batch is not None and self.args.average_tokens_across_devices:
            # the loss is this rank's share of the global target sum; DDP averages gradients over
            # ranks, so scale back up to the sum (as `Trainer.compute_loss` does)
            loss = loss * self.accelerator.num_processes
        return (loss, outputs) if return_outputs else loss

    def restore_rng_state(self) -> None:
        """Dropout continues where the checkpoint left it. `Trainer` restores the RNG states only
        when it skips data itself; the mixture skips instead (`ignore_data_skip`), and the states
        are loaded here, right before the first resumed forward pass draws from them."""
        self._load_rng_state(self.resume_rng_from)
        self.resume_rng_from = None

    @torch.no_grad()
    def evaluate(
        self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"
    ) -> dict[str, float]:
        """``eval.<objective>_ppl.<lang>`` and ``eval.<objective>_acc.<lang>`` for every validation set."""
        started = time.perf_counter()
        model = self.accelerator.unwrap_model(self.model)
        was_training = model.training
        model.eval()
        metrics: dict[str, float] = {}
        for vset in self.validation:
            nll, correct, count = 0.0, 0, 0
            for batch in vset.batches:
                batch = {k: v.to(self.args.device) if torch.is_tensor(v) else v for k, v in batch.items()}
                causal = batch.pop("causal", False)
                batch.pop("source", None)
                with self.accelerator.autocast():
                    out = model(**batch, causal=bool(causal))
                targets = batch["labels"][batch["labels"] != -100]
                nll += float(out.loss) * len(targets)
                correct += int((out.logits.argmax(-1) == targets).sum())
                count += len(targets)
            ppl_key, acc_key = metric_names(vset.objective)
            metrics[f"{metric_key_prefix}.{ppl_key}.{vset.name}"] = math.exp(min(nll / max(count, 1), 50.0))
            metrics[f"{metric_key_prefix}.{acc_key}.{vset.name}"] = correct / max(count, 1)
        model.train(was_training)
        self.eval_seconds += time.perf_counter() - started
        self.last_eval = (self.state.global_step, metrics)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def keep_auto_kernels_off_sharded_parameters(trainer: Trainer) -> None:
    """FSDP and DeepSpeed ZeRO-3 gather a layer's parameters when that module's forward is called;
    the fused path reads them itself. With ``training_kernels: auto`` such runs take HF's forward."""
    model = trainer.model
    plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    sharded = trainer.is_fsdp_enabled or (plugin is not None and getattr(plugin, "zero_stage", 0) == 3)
    if (
        sharded
        and getattr(model, "training_kernels", None) == "auto"
        and model.training_path(trainer.args.device) == "fused"
    ):
        logger.info("parameters are sharded: training steps run HF's forward (training_kernels auto)")
        model.training_kernels = "hf"


class PreparedBatches(IterableDataset):
    """The mixture's micro-batches with what the fused forward wants computed on the CPU
    (`fused_training.prepare_batch`), in the process that builds them."""

    def __init__(self, mixture: MixtureBatches, pad_token_id: int, max_length: int) -> None:
        self.mixture, self.pad_token_id, self.max_length = mixture, pad_token_id, max_length

    def __iter__(self) -> Iterator[dict]:
        for batch in self.mixture:
            yield prepare_batch(batch, self.pad_token_id, self.max_length)


class DeviceBatches:
    """Batches moved to `device` as they are read, by non-blocking copies (from pinned memory): the
    copy is queued behind the step in flight instead of waiting for it, as a blocking copy would."""

    def __init__(self, loader: DataLoader, device: torch.device) -> None:
        self.loader, self.device = loader, device

    def __iter__(self) -> Iterator[dict]:
        for batch in self.loader:
            yield {
                k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()
            }


def nested_eval(metrics: dict[str, float], prefix: str = "eval") -> dict[str, dict[str, float]]:
    """``{"eval.mlm_ppl.en": x}`` → ``{"mlm_ppl": {"en": x}}`` (the results.json layout)."""
    out: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[0] == prefix:
            out.setdefault(parts[1], {})[parts[2]] = value
    return out
