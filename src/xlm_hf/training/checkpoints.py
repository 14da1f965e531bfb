"""Checkpoints that survive interruption: a stop on SIGINT/SIGTERM, and completeness markers.

- `StopOnSignal`: the first SIGINT or SIGTERM lets the current optimizer step finish, saves a
  checkpoint and ends training; `run` then raises `Interrupted` and the CLI exits with
  128 + the signal number. A second SIGINT interrupts at once. With several processes the stop is
  agreed on by all ranks (one flag all-reduced per step), so a signal that reaches only one rank
  still stops every rank at the same step.
- `resume_checkpoint`: which checkpoint ``training.resume_from_checkpoint`` means, checked up front.
- `MarkCompleteCheckpoints`: `Trainer` writes a checkpoint file by file, so a process killed
  (SIGKILL, OOM, pre-emption) while saving leaves a folder that looks like the newest checkpoint but
  does not load. Each rank writes ``.complete-<rank>`` once its part is on disk; `last_complete`
  resumes from the newest checkpoint whose every rank finished, skipping (and naming) the others.
- `CleanSaves`: a save the disk refuses (full, over quota) removes its half-written checkpoint and
  ends the run with one line (`StorageError`), the checkpoints before it intact.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from transformers import TrainerCallback

from xlm_hf.errors import ConfigError, Interrupted, StorageError, disk_full

logger = logging.getLogger(__name__)

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class StopOnSignal(TrainerCallback):
    """Save and stop at the end of the step during which SIGINT or SIGTERM arrived."""

    def __init__(self, any_rank: Callable[[bool], bool] = lambda flag: flag) -> None:
        self.any_rank = any_rank  # OR of a flag over all ranks (identity with one process)
        self.signum: int | None = None
        self.stopped_at: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame) -> None:
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt  # asked twice: stop now, without a checkpoint
        if self.signum is None:
            logger.warning("%s: saving a checkpoint after this step", signal.Signals(signum).name)
        self.signum = signum

    def on_train_begin(self, args, state, control, **kwargs):
        if threading.current_thread() is threading.main_thread():  # handlers live on the main thread
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)

    def on_step_end(self, args, state, control, **kwargs):
        if self.any_rank(self.signum is not None):
            self.signum = self.signum or signal.SIGTERM  # another rank was signalled
            self.stopped_at = state.global_step
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_train_end(self, args, state, control, **kwargs):
        self.restore()

    def restore(self) -> None:
        """The process's handlers as they were before training. Also called when training raised
        (no on_train_end then): a handler left behind would outlive the run, and a process forked
        later (a multiprocessing pool's worker) would catch the SIGTERM meant to end it."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


class MarkCompleteCheckpoints(TrainerCallback):
    """After each save, this rank marks the checkpoint as fully written."""

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.is_dir():
            marker = folder / f".complete-{args.process_index}"
            marker.write_text(json.dumps({"world_size": args.world_size}))
        return control


class CleanSaves:
    """`Trainer` mixin: a checkpoint that the disk refuses to take (full, over quota) is removed
    rather than left half-written, and the run stops with one line (exit status 2)."""

    def _save_checkpoint(self, model, trial) -> None:
        try:
            super()._save_checkpoint(model, trial)
        except Exception as err:
            if not disk_full(err):
                raise
            folder = Path(self.args.output_dir) / f"checkpoint-{self.state.global_step}"
            shutil.rmtree(folder, ignore_errors=True)
            raise StorageError(
                f"training.output_dir: no space left on the device of {self.args.output_dir} while saving "
                f"{folder.name} (removed: nothing half-written); free space, then continue with --resume "
                "from the checkpoint before it"
            ) from None


def is_complete(folder: str | Path, legacy: bool = False) -> bool:
    """Every rank of the run that saved `folder` marked it written, and its trainer state parses.
    `legacy`: a run from before the markers, where the trainer state (written last) must do."""
    folder = Path(folder)
    try:
        json.loads((folder / "trainer_state.json").read_text())
        if legacy:
            return True
        markers = sorted(folder.glob(".complete-*"))
        world = json.loads(markers[0].read_text())["world_size"] if markers else None
    except (OSError, ValueError, KeyError):
        return False
    return world is not None and {m.name for m in markers} >= {f".complete-{r}" for r in range(world)}


def checkpoints_in(output_dir: str | Path) -> list[Path]:
    return [p for p in Path(output_dir).glob("checkpoint-*") if p.is_dir() and CHECKPOINT.match(p.name)]


def written_completely(folder: str | Path) -> bool:
    """`is_complete`, with markers required unless no checkpoint beside `folder` has any."""
    siblings = checkpoints_in(Path(folder).parent)
    return is_complete(folder, legacy=not any(next(p.glob(".complete-*"), None) for p in siblings))


def last_complete(output_dir: str | Path) -> str | None:
    """The newest complete checkpoint in `output_dir`; newer incomplete ones are named and skipped."""
    folders = checkpoints_in(output_dir)
    legacy = not any(next(p.glob(".complete-*"), None) for p in folders)
    for folder in sorted(folders, key=lambda p: int(CHECKPOINT.match(p.name).group(1)), reverse=True):
        if is_complete(folder, legacy):
            return str(folder)
        logger.warning("%s was not completely written (interrupted while saving?): skipped", folder)
    return None


def watch_for_signals(trainer) -> StopOnSignal:
    """Give `trainer` the stop-on-signal and checkpoint-marker callbacks; returns the stopper."""

    def any_rank(flag: bool) -> bool:
        if trainer.args.world_size == 1:
            return flag
        import torch

        total = trainer.accelerator.reduce(torch.tensor([int(flag)], device=trainer.args.device), "sum")
        return bool(total.item())

    stopper = StopOnSignal(any_rank)
    trainer.add_callback(stopper)
    trainer.add_callback(MarkCompleteCheckpoints())
    return stopper


def raise_if_stopped(stopper: StopOnSignal, output_dir: str) -> None:
    """After ``train()``: a signal ended it, so report where the checkpoint is instead of finishing."""
    if stopper.signum is None:
        return
    folder = Path(output_dir) / f"checkpoint-{stopper.stopped_at}"
    raise Interrupted.training(stopper.signum, str(folder) if folder.is_dir() else None)


#: values of ``training.resume_from_checkpoint`` that mean "do not resume"
RESUME_OFF = (None, "", "false", "False")
#: values that mean "the newest complete checkpoint in output_dir"
RESUME_LAST = ("last", "latest", "true", "True")


def resume_requested(args) -> bool:
    return args.resume_from_checkpoint not in RESUME_OFF


def resume_checkpoint(args) -> str | None:
    """``resume_from_checkpoint``: a path, or ``last`` for the newest completely written checkpoint
    in output_dir (one cut short by a kill while saving is skipped). Checked before any work, so a
    wrong path fails before corpora are tokenised."""
    import os

    value = args.resume_from_checkpoint
    if value in RESUME_OFF:
        return None
    if value in RESUME_LAST:
        found = last_complete(args.output_dir) if os.path.isdir(args.output_dir) else None
        if found is None:
            logger.warning(
                "resume_from_checkpoint=%s but %s holds no checkpoint: starting fresh", value, args.output_dir
            )
        return found
    if not Path(value).is_dir():
        raise ConfigError(f"training.resume_from_checkpoint: {value} is not a checkpoint directory")
    if not (Path(value) / "trainer_state.json").is_file():
        raise ConfigError(
            f"training.resume_from_checkpoint: {value} is not a checkpoint (no trainer_state.json); "
            "give a checkpoint-<step> directory, or `last`"
        )
    if not written_completely(value):
        raise ConfigError(f"training.resume_from_checkpoint: {value} was not completely written")
    return value
