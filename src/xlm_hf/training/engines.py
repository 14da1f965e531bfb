"""Which engine trains (one process, DDP, FSDP2, DeepSpeed), FSDP2 on CPU processes, and proof of it.

accelerate turns a launch config's ``distributed_type: FSDP`` (or `TrainingArguments.fsdp`) into
FSDP only on accelerators: `AcceleratorState` (accelerate/state.py, 1.x) sets
``DistributedType.FSDP`` inside the branch for multi-device types (MULTI_GPU, MULTI_NPU, ...) and
skips it for MULTI_CPU, the type of ``use_cpu: true``. The FSDP plugin is then dropped without a
word and the processes run plain DDP. `EngineMixin` restores what was asked for: when FSDP was
requested and accelerate kept MULTI_CPU, it promotes accelerate's own state to FSDP, so
`Accelerator.prepare` applies FSDP2 (`fully_shard` over the gloo group) and `Trainer` saves,
loads and clips as under FSDP on GPUs. Only accelerate's state changes (and `PartialState`'s, as
accelerate does it: its barriers then name the rank's device, which gloo ignores).

Once the model is prepared, `EngineMixin` logs one line naming the engine and checks it: under
FSDP every parameter must be a sharded `DTensor`, under DeepSpeed the optimizer must be ZeRO's,
partitioned; else the run stops (a silent fallback to data parallelism is the failure this
module exists to prevent). DeepSpeed needs no help on CPU processes: its CPU accelerator runs
ZeRO over gloo.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from transformers import TrainerCallback

logger = logging.getLogger(__name__)


def fsdp_requested(args: Any) -> bool:
    """The launch config (``accelerate launch``: ACCELERATE_USE_FSDP) or the recipe
    (``training.fsdp``) asks for FSDP."""
    launched = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true", "yes")
    return launched or getattr(args, "fsdp_plugin_args", None) is not None


def fsdp_plugin(args: Any) -> Any:
    """The FSDP plugin of the run: from the recipe's ``training.fsdp`` settings, else from the
    launcher's FSDP_* variables (what `Accelerator` itself builds, before the state drops it)."""
    from accelerate.utils import FullyShardedDataParallelPlugin

    plugin_args = getattr(args, "fsdp_plugin_args", None)
    return FullyShardedDataParallelPlugin(**plugin_args) if plugin_args else FullyShardedDataParallelPlugin()


def promote_to_fsdp_on_cpu(trainer: Any) -> bool:
    """FSDP asked for but accelerate kept MULTI_CPU (see the module docstring): make accelerate's
    state FSDP with the requested plugin. Returns whether it did."""
    from accelerate import PartialState
    from accelerate.utils import DistributedType

    state = trainer.accelerator.state
    if (
        state.distributed_type != DistributedType.MULTI_CPU
        or getattr(state, "fsdp_plugin", None) is not None
        or not fsdp_requested(trainer.args)
    ):
        return False
    plugin = fsdp_plugin(trainer.args)
    if state.mixed_precision != "no":
        plugin.set_mixed_precision(state.mixed_precision)
    # what AcceleratorState.__init__ does for FSDP on a multi-GPU machine; PartialState too, since
    # every later AcceleratorState() copies its distributed_type over the accelerator's
    state.distributed_type = DistributedType.FSDP
    state.fsdp_plugin = plugin
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP
    trainer.is_fsdp_enabled = True
    if trainer.args.process_index == 0:
        logger.info(
            "accelerate keeps FSDP off on CPU processes (MULTI_CPU): applying FSDP%d through its own "
            "preparation over gloo",
            plugin.fsdp_version,
        )
    return True


def describe(trainer: Any, model: Any) -> str:
    """One line: the engine that trains `model` (after `Accelerator.prepare`), with its evidence."""
    args = trainer.args
    where = f"{args.world_size} process(es), {args.device.type}"
    if trainer.is_deepspeed_enabled:
        stage, local, total = zero_evidence(trainer.model_wrapped)
        return (
            f"engine: DeepSpeed ZeRO-{stage} ({where}): this rank holds {local:,} of {total:,} "
            "optimizer parameter values"
        )
    if trainer.is_fsdp_enabled:
        plugin = trainer.accelerator.state.fsdp_plugin
        units, local, total = fsdp_evidence(model)
        return (
            f"engine: FSDP{plugin.fsdp_version} ({where}): {units} fully_shard unit(s), this rank holds "
            f"{local:,} of {total:,} parameter values"
        )
    if args.world_size > 1:
        import torch

        wrapped = isinstance(trainer.model_wrapped, torch.nn.parallel.DistributedDataParallel)
        return f"engine: {'DDP' if wrapped else 'data parallel'} ({where})"
    return f"engine: one process ({where})"


def fsdp_evidence(model: Any) -> tuple[int, int, int]:
    """(FSDP units, parameter values this rank holds, parameter values in all): the values held
    are the local shards of `DTensor` parameters. Raises RuntimeError if any parameter is not a
    DTensor: FSDP was asked for and is not what runs."""
    from torch.distributed.fsdp import FSDPModule
    from torch.distributed.tensor import DTensor

    plain = [name for name, p in model.named_parameters() if not isinstance(p, DTensor)]
    if plain:
        raise RuntimeError(
            f"FSDP was requested but {len(plain)} parameters are not sharded (first: {plain[0]}): "
            "the engine fell back to plain data parallelism"
        )
    units = sum(isinstance(m, FSDPModule) for m in model.modules())
    params = list(model.parameters())
    return units, sum(p.to_local().numel() for p in params), sum(p.numel() for p in params)


def zero_evidence(engine: Any) -> tuple[int, int, int]:
    """(ZeRO stage, fp32 master values this rank's optimizer holds, parameter values in all) of a
    `deepspeed.DeepSpeedEngine`. Stages 1 and 2 partition the optimizer (its fp32 copy and Adam's
    moments) over the ranks: with several ranks each holds a part. Raises RuntimeError when
    `engine` is not DeepSpeed's or its optimizer is not partitioned."""
    stage = engine.zero_optimization_stage() if hasattr(engine, "zero_optimization_stage") else 0
    total = sum(p.numel() for p in engine.module.parameters()) if hasattr(engine, "module") else 0
    partitions = getattr(getattr(engine, "optimizer", None), "single_partition_of_fp32_groups", None)
    if not stage or partitions is None:
        raise RuntimeError(
            f"DeepSpeed was requested but {type(engine).__name__} runs without a ZeRO optimizer"
        )
    return stage, sum(p.numel() for p in partitions), total


class ReportEngine(TrainerCallback):
    """At the start of training (the model prepared): one line naming the engine, checked."""

    def __init__(self, trainer: Any) -> None:
        self.trainer = trainer

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        line = describe(self.trainer, self.trainer.model)
        if args.process_index == 0:
            logger.info("%s", line)
        return control


class EngineMixin:
    """For `Trainer` subclasses: FSDP on CPU processes as asked, and the engine line at train begin."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.add_callback(ReportEngine(self))

    def create_accelerator_and_postprocess(self) -> None:
        super().create_accelerator_and_postprocess()
        promote_to_fsdp_on_cpu(self)
