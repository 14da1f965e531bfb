"""The training sections of recipes: transformers' `TrainingArguments` with XLM's defaults.

`PretrainingArguments` and `XnliTrainingArguments` only change defaults; `check_training` refuses
sizes TrainingArguments accepts but cannot train with, and `resolve_mixed_precision` settles the
one precision of a run between the recipe and the launch config.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from transformers import TrainingArguments

from xlm_hf.errors import ConfigError, require

logger = logging.getLogger(__name__)


def check_training(args: Any) -> None:
    """Sizes of the training section that TrainingArguments itself accepts but cannot train with."""
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"):
        require(getattr(args, name) >= 1, f"training.{name}", "must be >= 1")
    for name in ("logging_steps", "save_steps", "eval_steps"):
        value = getattr(args, name)
        require(value is None or value > 0, f"training.{name}", "must be > 0")
    require(args.learning_rate >= 0, "training.learning_rate", "must be >= 0")
    require(args.max_steps > 0 or args.num_train_epochs > 0, "training.num_train_epochs", "must be > 0")


def cpu_only_machine() -> bool:
    """No CUDA, MPS or XPU device: everything runs on the CPU anyway."""
    import torch

    xpu = getattr(torch, "xpu", None)
    return not (
        torch.cuda.is_available()
        or torch.backends.mps.is_available()
        or (xpu is not None and xpu.is_available())
    )


class _CpuByDefault:
    """Default ``use_cpu`` to true on a machine without an accelerator. Two reasons: accelerate
    joins several CPU processes (torchrun) into one gloo group only when asked for the CPU (without
    it every process would silently train its own copy of the model), and bf16 on the CPU is
    refused unless ``use_cpu`` is set."""

    def __post_init__(self) -> None:
        # `accelerate launch` with a CPU config exports ACCELERATE_USE_CPU; TrainingArguments then
        # builds a CPU process group but still reports cuda:0 as its device on a GPU machine
        launched_on_cpu = os.environ.get("ACCELERATE_USE_CPU", "false").lower() in ("1", "true", "yes")
        if not self.use_cpu and (launched_on_cpu or cpu_only_machine()):
            self.use_cpu = True
        super().__post_init__()


@dataclass
class PretrainingArguments(_CpuByDefault, TrainingArguments):
    """TrainingArguments with XLM's pretraining defaults (Adam β2 0.98, inverse-sqrt, clip 5)."""

    output_dir: str | None = "runs/pretrain"
    per_device_train_batch_size: int = 32
    per_device_eval_batch_size: int = 32
    max_steps: int = 100000
    learning_rate: float = 1e-4
    adam_beta2: float = 0.98
    max_grad_norm: float = 5.0
    lr_scheduler_type: str = "inverse_sqrt"
    warmup_steps: float = 4000
    logging_steps: float = 50
    eval_strategy: str = "steps"
    eval_steps: float | None = 1000
    save_steps: float = 1000
    save_total_limit: int | None = 2
    remove_unused_columns: bool = False
    report_to: None | str | list[str] = "none"
    # every parameter takes part in every step: no search for unused ones (and no DDP warning per rank)
    ddp_find_unused_parameters: bool | None = False
    # a NaN loss is logged as NaN rather than replaced by the running mean: the check reads the loss
    # on the host every step, which on a GPU waits for the step to finish (a sync in every step)
    logging_nan_inf_filter: bool = False
    overwrite_output_dir: bool = False  # write into an output_dir that holds another run (see run_dir)


@dataclass
class XnliTrainingArguments(_CpuByDefault, TrainingArguments):
    """TrainingArguments with the XNLI protocol's defaults (per-epoch eval, keep the best model)."""

    output_dir: str | None = "runs/xnli"
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 64
    learning_rate: float = 5e-6
    adam_beta2: float = 0.98
    num_train_epochs: float = 5.0
    eval_strategy: str = "epoch"
    save_strategy: str = "epoch"
    save_total_limit: int | None = 1
    load_best_model_at_end: bool = True
    logging_steps: float = 50
    remove_unused_columns: bool = False
    report_to: None | str | list[str] = "none"
    # every parameter takes part in every step: no search for unused ones (and no DDP warning per rank)
    ddp_find_unused_parameters: bool | None = False
    # a NaN loss is logged as NaN rather than replaced by the running mean: the check reads the loss
    # on the host every step, which on a GPU waits for the step to finish (a sync in every step)
    logging_nan_inf_filter: bool = False
    overwrite_output_dir: bool = False  # write into an output_dir that holds another run (see run_dir)


def resolve_mixed_precision(args: TrainingArguments) -> str:
    """The one mixed-precision setting of the run: the launch config's (``accelerate launch`` passes
    it as ACCELERATE_MIXED_PRECISION) when it asks for fp16/bf16, else the recipe's. Both asking for
    different precisions is an error, never a silent choice."""
    launcher = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    recipe = "bf16" if args.bf16 else "fp16" if args.fp16 else "no"
    if launcher != "no" and recipe != "no" and launcher != recipe:
        raise ConfigError(
            f"training.{recipe}: the recipe asks for {recipe} but the launch config asks for {launcher} "
            f"(mixed_precision); keep one of them"
        )
    if launcher != "no" and recipe == "no":
        args.bf16, args.fp16 = launcher == "bf16", launcher == "fp16"
        args.mixed_precision = launcher
    chosen = launcher if launcher != "no" else recipe
    source = "launch config" if launcher != "no" else "recipe" if recipe != "no" else "default"
    logger.info("mixed precision: %s (from the %s)", chosen, source)
    return chosen
