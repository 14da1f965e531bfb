"""A reproduction study: no pretraining vs MLM vs MLM+TLM, fine-tuned on English, XNLI in every language.

``xlm-hf reproduce --config recipes/reproduce/cpu-xnli15.yaml`` (``make reproduce DATA_DIR=...``)
runs the toolkit's own recipes as steps, one subprocess each:

    pretrain-<v>               xlm-hf pretrain --config <recipe of v> <pretrain_overrides>
    xnli-<variant>-seed<s>     xlm-hf finetune-xnli --config <finetune> <finetune_overrides>
    alignment                  translation retrieval and <unk> rates (xlm_hf.alignment)
    report                     study_results.json, tables.md and plots/*.png

The ``random`` variant fine-tunes the architecture and tokenizer of ``random_init_from`` with
fresh weights (``xnli.init=random``). A step whose results file exists is skipped, and one cut
short resumes from its newest complete checkpoint, so running the command again continues the
study. Each step's output goes to ``<output_dir>/logs/<step>.log`` and its wall time to
``timings.json``.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xlm_hf.checkpoints import TrainingInterrupted
from xlm_hf.config import ConfigError, load_sections
from xlm_hf.errors import XlmHfError
from xlm_hf.pretrain import write_json

logger = logging.getLogger(__name__)

RANDOM = "random"


@dataclass
class StudyConfig:
    """Which recipes make the variants, how they are changed for the study, and which seeds."""

    output_dir: str
    pretrain: dict[str, str]  # variant name → pretraining recipe
    finetune: str  # XNLI recipe, the same for every variant
    variants: list[str] = field(default_factory=lambda: [RANDOM, "mlm", "mlm-tlm"])
    random_init_from: str = "mlm"  # whose config and tokenizer the random variant uses
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    pretrain_overrides: dict[str, Any] = field(default_factory=dict)  # for every variant
    variant_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # variant → its own
    finetune_overrides: dict[str, Any] = field(default_factory=dict)
    alignment_sentences: int = 500
    reference: dict[str, dict[str, float]] = field(default_factory=dict)  # published rows, for the table

    def __post_init__(self) -> None:
        for variant in self.variants:
            if variant != RANDOM and variant not in self.pretrain:
                raise ConfigError(f"study.variants: {variant!r} has no recipe in study.pretrain")
        if RANDOM in self.variants and self.random_init_from not in self.pretrain:
            raise ConfigError(f"study.random_init_from: {self.random_init_from!r} is not in study.pretrain")
        for name, recipe in [*self.pretrain.items(), ("finetune", self.finetune)]:
            if not Path(recipe).is_file():
                key = "study.finetune" if name == "finetune" else f"study.pretrain.{name}"
                raise ConfigError(f"{key}: no recipe file {recipe}")
        for variant in self.variant_overrides:
            if variant not in self.pretrain:
                raise ConfigError(f"study.variant_overrides: {variant!r} is not in study.pretrain")
        if not self.seeds:
            raise ConfigError("study.seeds: must list at least one seed")
        if self.alignment_sentences < 2:
            raise ConfigError("study.alignment_sentences: must be >= 2")


def load_study(path: str, overrides: list[str] = ()) -> StudyConfig:
    """The study, with every step's recipe and overrides checked: a typo fails now, not hours in."""
    from xlm_hf import finetune_xnli, pretrain

    study = load_sections(path, list(overrides), {"study": StudyConfig})["study"]
    for step in plan(study):
        load = pretrain.load_recipe if step.argv[0] == "pretrain" else finetune_xnli.load_recipe
        try:
            load(step.argv[2], step.argv[3:])
        except ConfigError as err:
            raise ConfigError(f"study step {step.name} ({step.argv[2]}): {err}") from None
    return study


@dataclass
class Step:
    name: str
    argv: list[str]  # xlm-hf arguments
    output_dir: Path
    done_file: str

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
                f"study: {self.output_dir} holds step {self.name} run with other settings "
                f"(see {recorded}); delete it or choose another study.output_dir"
            )
        return True


def _overrides(values: dict[str, Any]) -> list[str]:
    """``key=<JSON>``: JSON is YAML, so paths with ``#`` or words like ``no`` / ``off`` stay strings."""
    return [f"{key}={json.dumps(value)}" for key, value in values.items()]


def pretrained_dir(study: StudyConfig, variant: str) -> Path:
    return Path(study.output_dir) / f"pretrain-{variant}"


def finetune_dir(study: StudyConfig, variant: str, seed: int) -> Path:
    return Path(study.output_dir) / f"xnli-{variant}-seed{seed}"


def plan(study: StudyConfig) -> list[Step]:
    """Every training step of the study, in the order they run: pretraining, then fine-tuning."""
    steps = []
    pretrained = sorted(
        {v for v in study.variants if v != RANDOM}
        | ({study.random_init_from} if RANDOM in study.variants else set())
    )
    for variant in pretrained:
        out = pretrained_dir(study, variant)
        argv = [
            "pretrain",
            "--config",
            study.pretrain[variant],
            *_overrides({"training.output_dir": str(out)}),
        ]
        steps.append(
            Step(
                f"pretrain-{variant}",
                argv + _overrides({**study.pretrain_overrides, **study.variant_overrides.get(variant, {})}),
                out,
                "results.json",
            )
        )
    # seed by seed, so that a study cut short still compares every variant
    for seed in study.seeds:
        for variant in study.variants:
            source = study.random_init_from if variant == RANDOM else variant
            out = finetune_dir(study, variant, seed)
            argv = [
                "finetune-xnli",
                "--config",
                study.finetune,
                *_overrides(
                    {
                        "xnli.model_name_or_path": str(pretrained_dir(study, source)),
                        "xnli.init": "random" if variant == RANDOM else "pretrained",
                        "training.seed": seed,
                        "training.output_dir": str(out),
                    }
                ),
            ]
            steps.append(
                Step(
                    f"xnli-{variant}-seed{seed}",
                    argv + _overrides(study.finetune_overrides),
                    out,
                    "xnli_results.json",
                )
            )
    return steps


def run_step(step: Step, log_path: Path) -> float:
    """Run one step in a subprocess (resuming when it has checkpoints); returns its wall time.

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
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

        def forward(signum: int, frame: Any) -> None:
            stopped.append(signum)
            process.send_signal(signum if len(stopped) == 1 else signal.SIGKILL)

        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            code = process.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    if stopped or code in (128 + signal.SIGINT, 128 + signal.SIGTERM, -signal.SIGINT, -signal.SIGTERM):
        signum = stopped[0] if stopped else abs(code) % 128
        raise StudyInterrupted(128 + signum, step.name)
    if code != 0:
        raise XlmHfError(f"study step {step.name} failed (exit status {code}): see {log_path}")
    return time.monotonic() - start


class StudyInterrupted(TrainingInterrupted):
    """A step stopped on a signal (its checkpoint saved): the CLI exits 128 + the signal."""

    def __init__(self, code: int, step: str) -> None:
        Exception.__init__(
            self,
            f"step {step} stopped by {signal.Signals(code - 128).name}; run the same command again to continue",
        )
        self.signum, self.checkpoint = code - 128, None


def run(study: StudyConfig) -> dict[str, Any]:
    out = Path(study.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"study.output_dir: another xlm-hf reproduce is running in {out}") from None
        return _run_locked(study, out)


def _run_locked(study: StudyConfig, out: Path) -> dict[str, Any]:
    timings_path = out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    steps = plan(study)
    for index, step in enumerate(steps, 1):
        if step.done:
            logger.info("[%d/%d] %s: done already", index, len(steps), step.name)
            continue
        logger.info(
            "[%d/%d] %s: running (log: %s)", index, len(steps), step.name, out / "logs" / f"{step.name}.log"
        )
        seconds = run_step(step, out / "logs" / f"{step.name}.log")
        timings[step.name] = timings.get(step.name, 0.0) + seconds
        write_json(timings_path, timings)
        logger.info("[%d/%d] %s: %.1f min", index, len(steps), step.name, seconds / 60)
    alignment_path = out / "alignment.json"
    settings = {"variants": list(study.variants), "sentences": study.alignment_sentences}
    if not alignment_path.exists() or json.loads(alignment_path.read_text()).get("settings") != settings:
        start = time.monotonic()
        write_json(alignment_path, {"settings": settings, "probe": alignment_probe(study)})
        timings["alignment"] = time.monotonic() - start
        write_json(timings_path, timings)
    from xlm_hf.study_report import write_report

    return write_report(study, out)


def alignment_probe(study: StudyConfig) -> dict[str, Any]:
    """Retrieval and <unk> rates for every variant's encoder (the random one drawn from seed 0)."""
    import torch
    from transformers import XLMConfig, XLMModel, XLMTokenizer

    from xlm_hf.alignment import distinct_premises, probe
    from xlm_hf.data.xnli import load_xnli_split
    from xlm_hf.finetune_xnli import load_recipe

    xnli = load_recipe(study.finetune, _overrides(study.finetune_overrides)).xnli
    dev = load_xnli_split(xnli.eval, "dev", xnli.languages)
    premises = distinct_premises(dev, study.alignment_sentences)
    results = {}
    for variant in study.variants:
        source = pretrained_dir(study, study.random_init_from if variant == RANDOM else variant)
        tokenizer = XLMTokenizer.from_pretrained(str(source))
        if variant == RANDOM:
            torch.manual_seed(0)
            model = XLMModel(XLMConfig.from_pretrained(str(source)))
        else:
            model = XLMModel.from_pretrained(str(source))
        logger.info("alignment probe: %s (%d sentences per language)", variant, len(premises["en"]))
        results[variant] = probe(model, tokenizer, premises)
    return results


def main(config: str, overrides: list[str]) -> None:
    study = load_study(config, overrides)
    results = run(study)
    print(results["tables"])
    print(f"study_results.json, tables.md and plots/ in {study.output_dir}")
