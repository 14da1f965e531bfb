"""Steps: the toolkit's own commands run one after the other as subprocesses, each into its own
directory, skipped when finished and resumed when cut short. A study (``xlm-hf reproduce``) and a
suite (``xlm-hf evaluate``) are lists of steps."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xlm_hf.atomic_files import write_json
from xlm_hf.errors import ConfigError, Interrupted, XlmHfError

logger = logging.getLogger(__name__)


@dataclass
class Step:
    name: str
    argv: list[str]  # xlm-hf arguments
    output_dir: Path
    done_file: str
    section: str = "study"  # the recipe section whose output_dir holds the step (error messages)

    @property
    def record(self) -> Path:
        """``<step dir>.step.json``: the command that made the step's directory (beside it, since
        a run directory must hold only its run)."""
        return self.output_dir.with_name(self.output_dir.name + ".step.json")

    @property
    def done(self) -> bool:
        """Finished, by the same command: results of a changed step are refused, never reused."""
        if not (self.output_dir / self.done_file).exists():
            return False
        recorded = self.record
        if recorded.exists() and json.loads(recorded.read_text())["argv"] != self.argv:
            raise ConfigError(
                f"{self.section}: {self.output_dir} holds step {self.name} run with other settings "
                f"(see {recorded}); delete it or choose another {self.section}.output_dir"
            )
        return True


def study_overrides(values: dict[str, Any]) -> list[str]:
    """``key=<JSON>``: JSON is YAML, so paths with ``#`` or words like ``no`` / ``off`` stay strings."""
    return [f"{key}={json.dumps(value)}" for key, value in values.items()]


@contextlib.contextmanager
def exclusive(out: Path, key: str, command: str) -> Iterator[None]:
    """Hold `out`'s lock: two runs of `command` never write one directory at the same time."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{key}: another {command} is running in {out}") from None
        yield


def run_step(step: Step, log_path: Path, echo: bool = False) -> float:
    """Run one step in a subprocess (resuming when it has checkpoints); returns its wall time.
    `echo`: the step's output also goes to this process's stderr (its progress bars, as it runs).

    The child runs in its own session, so a signal reaches it only through this process: the
    first SIGINT or SIGTERM is passed on once (the child saves a checkpoint and exits), and the
    study then stops, whatever the child's exit status. A second one kills the child.
    """
    argv = list(step.argv)
    if any(step.output_dir.glob("checkpoint-*")):
        argv.append("--resume")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    write_json(step.record, {"step": step.name, "argv": step.argv})
    start = time.monotonic()
    stopped: list[int] = []
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"$ xlm-hf {shlex.join(argv)}\n")
        log.flush()
        process = subprocess.Popen(
            [sys.executable, "-m", "xlm_hf", *argv],
            stdout=subprocess.PIPE if echo else log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        copier = threading.Thread(target=_copy, args=(process.stdout, log), daemon=True) if echo else None
        if copier is not None:
            copier.start()

        def forward(signum: int, frame: Any) -> None:
            stopped.append(signum)
            process.send_signal(signum if len(stopped) == 1 else signal.SIGKILL)

        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            code = process.wait()
            if copier is not None:
                copier.join()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if stopped or code in (128 + signal.SIGINT, 128 + signal.SIGTERM, -signal.SIGINT, -signal.SIGTERM):
        signum = stopped[0] if stopped else abs(code) % 128
        raise Interrupted.study_step(signum, step.name)
    if code != 0:
        raise XlmHfError(f"{step.section} step {step.name} failed (exit status {code}): see {log_path}")
    return time.monotonic() - start


def _copy(source: Any, log: Any) -> None:
    """A step's output, as it comes, to its log and to this process's stderr."""
    for chunk in iter(lambda: source.read1(4096), b""):
        text = chunk.decode("utf-8", errors="replace")
        log.write(text)
        log.flush()
        sys.stderr.write(text)
        sys.stderr.flush()


def run_steps(
    steps: list[Step], out: Path, echo: bool = False, done: Callable[[Step, float], None] | None = None
) -> None:
    """Run every unfinished step in order, each logging to ``<out>/logs/<step>.log``; `done(step,
    seconds)` after each one run (a study adds up its wall times)."""
    for index, step in enumerate(steps, 1):
        if step.done:
            logger.info("[%d/%d] %s: done already", index, len(steps), step.name)
            continue
        log = out / "logs" / f"{step.name}.log"
        logger.info("[%d/%d] %s: running (log: %s)", index, len(steps), step.name, log)
        seconds = run_step(step, log, echo=echo)
        logger.info("[%d/%d] %s: %.1f min", index, len(steps), step.name, seconds / 60)
        if done is not None:
            done(step, seconds)
