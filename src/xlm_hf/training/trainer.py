"""`Trainer` for XLM pretraining: mixture batches in, target-only loss, per-language validation.

Only three things differ from `transformers.Trainer`: the training data loader (the mixture already
yields whole batches), `compute_loss` (switches causal attention per batch and counts tokens), and
`evaluate` (perplexity and accuracy per objective and language on fixed, pre-masked batches).

On a GPU the loader builds the mixture's batches in a worker process, prepares them for the fused
path there (`fused_training.prepare_batch`: padding flag, bucket lengths, target positions), pins
them and copies them to the device without waiting: batch building and copies overlap the steps.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader, IterableDataset
from transformers import Trainer

from xlm_hf.data.mixture import MixtureBatches
from xlm_hf.data.validation import ValidationSet, metric_names
from xlm_hf.model.fused_training import prepare_batch
from xlm_hf.text.special_tokens import IGNORE_INDEX
from xlm_hf.training.checkpoints import CleanSaves, watch_for_signals
from xlm_hf.training.engines import EngineMixin

logger = logging.getLogger(__name__)

#: written into every checkpoint (one per rank): what the run did before it, for resumed runs' totals
TOTALS_FILE = "xlm_hf_totals-{rank}.json"


@dataclass
class RunTotals:
    """What all segments of a run (one per ``--resume``) did together, up to `global_step`.

    `loss_sum` adds the per-step training losses (as `Trainer` sums them); `train_seconds` is wall
    time in training, evaluation excluded; `train_tokens` counts this rank's non-pad tokens.
    """

    global_step: int = 0
    loss_sum: float = 0.0
    train_tokens: int = 0
    train_seconds: float = 0.0
    train_runtime: float = 0.0
    initial_eval: dict = field(default_factory=dict)

    @classmethod
    def read(cls, checkpoint: str | Path, rank: int) -> RunTotals:
        """The totals saved in `checkpoint` (zeros for a checkpoint written by an older xlm-hf)."""
        path = Path(checkpoint) / TOTALS_FILE.format(rank=rank)
        return cls(**json.loads(path.read_text())) if path.exists() else cls()


class PretrainTrainer(EngineMixin, CleanSaves, Trainer):
    def __init__(self, *args, mixture: MixtureBatches, validation: Sequence[ValidationSet] = (), **kwargs):
        if not validation:  # nothing to evaluate: turn evaluation off rather than fail in Trainer
            kwargs["args"].eval_strategy = "no"
        # eval_dataset only tells Trainer that evaluation exists; `evaluate` reads `validation`
        super().__init__(*args, train_dataset=mixture, eval_dataset=list(validation) or None, **kwargs)
        self.mixture = mixture
        self.validation = list(validation)
        self.train_tokens = 0
        self.eval_seconds = 0.0  # time spent in evaluate(), excluded from tokens/s
        self.last_eval: tuple[int, dict[str, float]] | None = None  # (step, metrics): no re-evaluation
        self.resume_rng_from: str | None = None  # checkpoint whose RNG states the first step restores
        self.before = RunTotals()  # what earlier segments of this run did (see `resume_from`)
        self.initial_eval: dict = {}
        self.segment_started = time.perf_counter()
        self.stopper = watch_for_signals(self)
        keep_auto_kernels_off_sharded_parameters(self)

    def resume_from(self, checkpoint: str) -> None:
        """Continue the run saved in `checkpoint`: the mixture replays its draws up to it without
        building those batches (so `Trainer` must not skip data itself), dropout continues from
        its RNG states, and the run's totals start from what it had done."""
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
        self.mixture.start = state["global_step"] * self.args.gradient_accumulation_steps
        self.args.ignore_data_skip = True
        self.resume_rng_from = checkpoint
        self.before = RunTotals.read(checkpoint, self.args.process_index)
        self.initial_eval = self.before.initial_eval

    def train(self, *args, **kwargs):
        self.segment_started = time.perf_counter()
        self.eval_seconds = 0.0
        return super().train(*args, **kwargs)

    def totals(self, segment_loss_sum: float, segment_runtime: float) -> RunTotals:
        """The run's totals now: earlier segments plus this one (this rank's tokens)."""
        return RunTotals(
            global_step=self.state.global_step,
            loss_sum=self.before.loss_sum + segment_loss_sum,
            train_tokens=self.before.train_tokens + self.train_tokens,
            train_seconds=self.before.train_seconds
            + max(time.perf_counter() - self.segment_started - self.eval_seconds, 0.0),
            train_runtime=self.before.train_runtime + segment_runtime,
            initial_eval=self.initial_eval,
        )

    def _save_checkpoint(self, model, trial) -> None:
        super()._save_checkpoint(model, trial)
        folder = Path(self.args.output_dir) / f"checkpoint-{self.state.global_step}"
        if folder.is_dir():  # the loss so far: what Trainer has drained plus what it has not yet
            loss = self._total_loss_scalar + float(self._tr_loss)
            runtime = time.perf_counter() - self.segment_started
            totals = self.totals(loss, runtime)
            path = folder / TOTALS_FILE.format(rank=self.args.process_index)
            path.write_text(json.dumps(asdict(totals), indent=1) + "\n")

    def _issue_warnings_after_load(self, load_result) -> None:
        """A checkpoint stores the tied output weight once, as the embeddings: its absence is
        expected (the weights are tied again), not a "missing keys" warning."""
        tied = set(getattr(self.model, "_tied_weights_keys", None) or ())
        missing = [key for key in load_result.missing_keys if key not in tied]
        if len(missing) < len(load_result.missing_keys):
            self.model.tie_weights()
        super()._issue_warnings_after_load(load_result._replace(missing_keys=missing))

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
        """``eval_<objective>_ppl.<lang>`` and ``eval_<objective>_acc.<lang>`` for every validation set
        (the toolkit's one metric scheme, ``eval_<metric>.<name>``, as XNLI's ``eval_accuracy.en``)."""
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
                targets = batch["labels"][batch["labels"] != IGNORE_INDEX]
                nll += float(out.loss) * len(targets)
                correct += int((out.logits.argmax(-1) == targets).sum())
                count += len(targets)
            ppl_key, acc_key = metric_names(vset.objective)
            metrics[f"{metric_key_prefix}_{ppl_key}.{vset.name}"] = math.exp(min(nll / max(count, 1), 50.0))
            metrics[f"{metric_key_prefix}_{acc_key}.{vset.name}"] = correct / max(count, 1)
        model.train(was_training)
        self.eval_seconds += time.perf_counter() - started
        self.last_eval = (self.state.global_step, metrics)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def keep_auto_kernels_off_sharded_parameters(trainer: Trainer, key: str = "model.training_kernels") -> None:
    """FSDP and DeepSpeed ZeRO-3 gather a module's parameters when that module's forward is called;
    the toolkit's kernels (``xlm_hf`` on CPU, ``fused`` on GPU) read them without such calls. With
    FSDP, accelerate always makes the tied embeddings and output layer a unit of their own, so the
    kernels would read sharded tensors: sharded runs take HF's forward. ``training_kernels: auto``
    switches with one INFO line; a recipe that names a kernel path is refused (`key`)."""
    from xlm_hf.errors import ConfigError

    model = trainer.model
    plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    sharded = trainer.is_fsdp_enabled or (plugin is not None and getattr(plugin, "zero_stage", 0) == 3)
    if not sharded or not hasattr(model, "training_path"):
        return
    path = model.training_path(trainer.args.device)
    if path == "hf":
        return
    engine = "FSDP" if trainer.is_fsdp_enabled else "DeepSpeed ZeRO-3"
    if model.training_kernels != "auto":
        raise ConfigError(f"{key}: {path} reads parameters that {engine} keeps sharded; use auto or hf")
    if trainer.args.process_index == 0:  # one line for the run, not one per rank
        logger.info("parameters are sharded (%s): training steps run HF's forward, not %s", engine, path)
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
    """``{"eval_mlm_ppl.en": x}`` → ``{"mlm_ppl": {"en": x}}`` (the results.json layout)."""
    out: dict[str, dict[str, float]] = {}
    for key, value in metrics.items():
        if not key.startswith(f"{prefix}_") or "." not in key:
            continue
        metric, name = key[len(prefix) + 1 :].rsplit(".", 1)
        out.setdefault(metric, {})[name] = value
    return out
