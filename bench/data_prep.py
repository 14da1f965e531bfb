"""Corpus preparation speed: raw text files → the token store, in MB of text per second.

Ours: `load_corpora` as pretraining runs it: `FastXLMTokenizer`, and each language's lines shared
out in chunks to forked workers (by default one per core and per 2 MB of text). Baseline: the same function with `data.fast_tokenizer: false` and
``num_proc: 1``, i.e. plain `XLMTokenizer` through `xlm_encode` inside one `Dataset.map` per
language. Each run starts from an empty cache folder and fresh tokenizers (no warm word caches);
the ids of every line are compared. The target row is wall-clock MB/s; MB per CPU second (this
process and its workers) is given beside it: it shows the gain per core, without the processes. Data: ../shared/data/mono (15 languages; quick: the first 1000 lines of each),
else the embedded sample. The vocabulary is learned in the same run from that data.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xlm_hf import SAMPLE_DIR
from xlm_hf.config.sections import DataConfig, VocabConfig
from xlm_hf.data import corpora, tokenise
from xlm_hf.vocab import build_vocab

SHARED_DATA = Path(
    os.environ.get("XLM_HF_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
QUICK_LINES = 1000


def _source_dir() -> Path:
    mono = SHARED_DATA / "mono"
    return mono if mono.is_dir() and any(mono.glob("*.txt")) else SAMPLE_DIR / "mono"


def _copy_corpus(source: Path, target: Path, max_lines: int | None) -> tuple[list[str], int]:
    """Write DIR/mono/<lang>.txt (the first `max_lines` lines); returns (languages, bytes)."""
    (target / "mono").mkdir(parents=True)
    langs, size = [], 0
    for path in sorted(source.glob("*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)[:max_lines]
        data = "".join(lines).encode("utf-8")
        (target / "mono" / path.name).write_bytes(data)
        langs.append(path.stem)
        size += len(data)
    return langs, size


def _warm_up(tokenizer_dir: Path, langs: list[str]) -> None:
    """Import the segmenters (rjieba, PyThaiNLP) once, so neither side pays for it in its timing."""
    for fast in (True, False):
        for lang in langs:
            tokenise.encode(["Warm up, 1 2 3."], str(tokenizer_dir), lang, fast=fast)
    tokenise._TOKENIZERS.clear()


@dataclass
class Timing:
    """Wall-clock and CPU seconds (this process and its finished workers) of one run."""

    wall: float
    cpu: float


def _cpu_seconds() -> float:
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def _prepare(data_dir: Path, cache_dir: Path, tokenizer_dir: Path, langs: list[str], **data: Any):
    """(Timing, corpora) of one cold `load_corpora` run."""
    config = DataConfig(languages=langs, data_dir=str(data_dir), cache_dir=str(cache_dir), **data)
    tokenise._TOKENIZERS.clear()
    wall, cpu = time.perf_counter(), _cpu_seconds()
    result = corpora.load_corpora(config, tokenizer_dir)
    return Timing(time.perf_counter() - wall, _cpu_seconds() - cpu), result


def _differing_lines(a: corpora.Corpora, b: corpora.Corpora) -> tuple[int, int]:
    """(lines compared, lines whose ids differ) over every train and valid line."""
    compared = differing = 0
    for split in ("mono_train", "mono_valid"):
        for lang, data in getattr(a, split).items():
            ours, theirs = data.sentences(), getattr(b, split)[lang].sentences()
            compared += len(theirs)
            differing += abs(len(ours) - len(theirs)) + sum(x != y for x, y in zip(ours, theirs))
    return compared, differing


def run(quick: bool = False) -> list[dict]:
    source = _source_dir()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        langs, size = _copy_corpus(source, tmp / "data", QUICK_LINES if quick else None)
        vocab = build_vocab(
            VocabConfig(
                languages=langs,
                data_dir=str(tmp / "data"),
                output_dir=str(tmp / "vocab"),
                use_parallel=False,
                vocab_size=16000,
                sentences_per_language=300 if quick else 1000,
                num_proc=2,
            )
        )
        _warm_up(vocab, langs)
        base_t, base = _prepare(tmp / "data", tmp / "c-base", vocab, langs, fast_tokenizer=False, num_proc=1)
        processes = tokenise.process_count(None, size)
        runs = {"default settings": (processes, *_prepare(tmp / "data", tmp / "c-ours", vocab, langs))}
    mb = size / 1e6
    rows = []
    for name, (processes, timing, result) in runs.items():
        compared, differing = _differing_lines(result, base)
        extra = {
            "data": str(source),
            "languages": len(langs),
            "MB": round(mb, 2),
            "lines_per_language": QUICK_LINES if quick else "all",
            "lines_compared": compared,
            "differing_lines": differing,
            "processes": processes,
            "seconds_ours": round(timing.wall, 1),
            "seconds_baseline": round(base_t.wall, 1),
            "cpu_seconds_ours": round(timing.cpu, 1),
            "cpu_seconds_baseline": round(base_t.cpu, 1),
        }
        clocks = [("wall clock", timing.wall, base_t.wall), ("CPU time", timing.cpu, base_t.cpu)]
        for clock, seconds_ours, seconds_baseline in clocks:
            target = ">= 4x" if clock == "wall clock" else None
            ours, baseline = mb / seconds_ours, mb / seconds_baseline
            ratio = ours / baseline  # the row contract: exactly ours / baseline (rounded only in tables)
            rows.append(
                {
                    "bench": "data_prep",
                    "figure": f"text -> cached token ids, {name}, {clock}",
                    "unit": "MB/s",
                    "ours": ours,
                    "baseline": baseline,
                    "ratio": ratio,
                    "target": target,
                    "met": ratio >= 4 and differing == 0 if target else None,
                    "extra": extra,
                }
            )
    return rows


if __name__ == "__main__":
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"the first {QUICK_LINES} lines per language")
    for row in run(quick=parser.parse_args().quick):
        print(json.dumps(row, ensure_ascii=False))
