"""A reproduction study: no pretraining vs MLM vs MLM+TLM, fine-tuned on English, XNLI in every language.

``xlm-hf reproduce --config recipes/reproduce/cpu-xnli15.yaml`` (``make reproduce DATA_DIR=...``)
runs the toolkit's own recipes as steps (`xlm_hf.reproduce.plan`), one subprocess each:

    pretrain-<v>               xlm-hf pretrain --config <recipe of v> <pretrain_overrides>
    xnli-<variant>-seed<s>     xlm-hf finetune-xnli --config <finetune> <finetune_overrides>
    alignment                  translation retrieval and <unk> rates (xlm_hf.reproduce.alignment)
    report                     study_results.json, tables.md and plots/*.png

The ``random`` variant fine-tunes the architecture and tokenizer of ``random_init_from`` with
fresh weights (``xnli.init=random``). A step whose results file exists is skipped, and one cut
short resumes from its newest complete checkpoint, so running the command again continues the
study. Each step's output goes to ``<output_dir>/logs/<step>.log`` and its wall time to
``timings.json``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from xlm_hf.atomic_files import write_json
from xlm_hf.config.sections import RANDOM, StudyConfig
from xlm_hf.errors import ConfigError
from xlm_hf.launch import run_command
from xlm_hf.reproduce.plan import (
    budget_variants,
    load_study,
    model_dir,
    plan,
    pretrained_dir,
    study_overrides,
)
from xlm_hf.steps import Step, exclusive, run_steps

logger = logging.getLogger(__name__)


def run(study: StudyConfig) -> dict[str, Any]:
    out = Path(study.output_dir)
    with exclusive(out, "study.output_dir", "xlm-hf reproduce"):
        return _run_locked(study, out)


def _run_locked(study: StudyConfig, out: Path) -> dict[str, Any]:
    timings_path = out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    if study.twin is not None:
        _make_twin_data(study, timings, timings_path)

    def add_time(step: Step, seconds: float) -> None:  # kept as each step ends: a stop loses nothing
        timings[step.name] = timings.get(step.name, 0.0) + seconds
        write_json(timings_path, timings)

    run_steps(plan(study), out, done=add_time)
    alignment_path = out / "alignment.json"
    settings = {
        "variants": list(study.variants),
        "budgets": list(study.budgets),
        "sentences": study.alignment_sentences if study.twin is None else study.twin.heldout_lines,
        "source": "xnli" if study.twin is None else "twin",
    }
    if not alignment_path.exists() or json.loads(alignment_path.read_text()).get("settings") != settings:
        start = time.monotonic()
        probed = {"settings": settings, "probe": alignment_probe(study)}
        if study.twin is not None:
            probed["shared_tokens"] = twin_shared_tokens(study)
        write_json(alignment_path, probed)
        timings["alignment"] = time.monotonic() - start
        write_json(timings_path, timings)
    from xlm_hf.reproduce.report.results import write_report

    return write_report(study, out)


def _make_twin_data(study: StudyConfig, timings: dict[str, float], timings_path: Path) -> None:
    """The twin study's data directory, made once per setting of ``study.twin``."""
    from dataclasses import asdict

    from xlm_hf.reproduce.twin import make_twin_data

    data_dir = twin_data_dir(study)
    record = data_dir / "twin_data.json"
    if record.exists() and json.loads(record.read_text()).get("settings") == asdict(study.twin):
        logger.info("twin data: done already (%s)", data_dir)
        return
    logger.info("twin data: writing %s", data_dir)
    start = time.monotonic()
    make_twin_data(study.twin, data_dir)
    timings["twin-data"] = time.monotonic() - start
    write_json(timings_path, timings)


def twin_data_dir(study: StudyConfig) -> Path:
    return Path(study.output_dir) / "data"


def probe_sentences(study: StudyConfig) -> dict[str, list[str]]:
    """The retrieval probe's parallel sentences: the twin's held-out lines, else XNLI dev premises."""
    if study.twin is not None:
        held = twin_data_dir(study) / "heldout"
        return {
            lang: (held / f"{lang}.txt").read_text(encoding="utf-8").splitlines() for lang in ("en", "twin")
        }
    from xlm_hf.config.recipes import load_xnli_recipe as load_recipe
    from xlm_hf.reproduce.alignment import distinct_premises
    from xlm_hf.xnli.data import load_xnli_split

    xnli = load_recipe(study.finetune, study_overrides(study.finetune_overrides)).xnli
    dev = load_xnli_split(xnli.eval, "dev", xnli.languages)
    return distinct_premises(dev, study.alignment_sentences)


def alignment_probe(study: StudyConfig) -> dict[str, Any]:
    """Retrieval and <unk> rates for every variant's encoder (the random one drawn from seed 0)."""
    import torch
    from transformers import XLMConfig, XLMModel, XLMTokenizer

    from xlm_hf.reproduce.alignment import probe

    sources = {
        v: model_dir(study, v) for v in [*study.variants, *(name for name, _, _ in budget_variants(study))]
    }
    for variant, source in sources.items():
        if "@" in variant and not source.is_dir():  # a checkpoint that save_total_limit deleted
            raise ConfigError(
                f"study.budgets: no model at {source} for {variant} (keep every checkpoint: "
                "training.save_total_limit: null)"
            )
    sentences = probe_sentences(study)
    results: dict[str, Any] = {}
    for variant, source in sources.items():
        tokenizer = XLMTokenizer.from_pretrained(str(source))
        if variant == RANDOM:
            torch.manual_seed(0)
            model = XLMModel(XLMConfig.from_pretrained(str(source)))
        else:
            model = XLMModel.from_pretrained(str(source))
        logger.info("alignment probe: %s (%d sentences per language)", variant, len(sentences["en"]))
        results[variant] = probe(model, tokenizer, sentences)
    return results


def twin_shared_tokens(study: StudyConfig) -> dict[str, Any]:
    """The subword tokens the two MLM halves still share under the study's vocabulary."""
    from transformers import XLMTokenizer

    from xlm_hf.reproduce.twin import shared_tokens

    tokenizer = XLMTokenizer.from_pretrained(str(pretrained_dir(study, sorted(study.pretrain)[0])))
    mono = twin_data_dir(study) / "mono"
    return shared_tokens(
        tokenizer,
        (mono / "en.txt").read_text(encoding="utf-8").splitlines(),
        (mono / "twin.txt").read_text(encoding="utf-8").splitlines(),
    )


def main(argv: list[str] | None = None) -> int:
    """``xlm-hf reproduce --config STUDY`` (also ``python -m xlm_hf.reproduce``); a study always
    continues where it stopped, so there is no ``--resume``."""
    return run_command("reproduce", DESCRIPTION, argv, _command)


DESCRIPTION = "run a study of recipes (pretraining variants x fine-tuning seeds) and report it"


def _command(config: str, overrides: list[str]) -> None:
    study = load_study(config, overrides)
    results = run(study)
    print(results["tables"])
    print(f"study_results.json, tables.md and plots/ in {study.output_dir}")
