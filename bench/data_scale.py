"""Data at scale: warm start-up and heap per rank, heap bytes per corpus token, cold tokenisation.

Warm part. A synthetic corpus (en and fr monolingual text, en-fr parallel text: MLM + TLM, a
vocabulary of 8k entries, sequences of 256) at two sizes, ``XLM_HF_BENCH_DATA_TOKENS`` corpus
tokens (default ``20e6,200e6``; ``--quick``: ``2e5,2e6``), made of the lines of ../shared/data
(or the embedded sample) repeated. Its store is built by the real build path (`load_corpora`),
each distinct line tokenised once since the lines repeat (`MemoTokeniser`); at the small size the
entries are checked byte for byte against a plain build. Then, per size, with 1 and with 2 ranks
(``torchrun``, gloo): a fresh process per rank runs `build_trainer` (warm store) and draws the
first batch; it reports the seconds this took and its peak anonymous memory (``RssAnon``,
sampled every 2 ms: the mapped store is page cache, shared by the ranks, and not counted) above
what it held after its imports. Validation holds 1000 lines per language and pair at both sizes
(its batches are built at start-up and grow with it up to ``data.max_valid_lines``), so the slope
is the training data's. A first run per size (not measured) keeps the TLM index beside
the store, as any first run does. Heap bytes per corpus token is the slope between the two sizes.

Cold part. One language of ``XLM_HF_BENCH_TOKENISE_LINES`` synthetic sentences (default 200k;
quick 10k), words drawn from the word frequencies of real text so the tokenisers' word caches see
what a corpus shows them, tokenised into an empty cache with 1 and with 2 processes, back to
back, in pairs (3, quick 1): lines per second (wall clock) and per CPU-second, and the ids of both
compared. The rows' ratio is the median of the per-pair ratios.

The XNLI-15 rows extrapolate the measured slopes to 7e9 corpus tokens on one 8-GPU node.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bench.rows import make_row, median

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("XLM_HF_SHARED_DATA", ROOT.parent / "shared" / "data"))
SEQ, VOCAB = 256, 8000
SHARES = {"mono.en": 0.4, "mono.fr": 0.4, "para.en-fr": 0.2}  # of the corpus tokens
XNLI15_TOKENS, XNLI15_RANKS, XNLI15_PROCESSES = 7e9, 8, 8
VALID_LINES = 1000  # per language and pair at every size: the slope is the training data's
MODEL = {"emb_dim": 64, "n_layers": 1, "n_heads": 2, "max_position_embeddings": 512}  # the data is measured


def sizes(quick: bool) -> list[int]:
    default = "2e5,2e6" if quick else "20e6,200e6"
    return [int(float(x)) for x in os.environ.get("XLM_HF_BENCH_DATA_TOKENS", default).split(",")]


def tokenise_lines(quick: bool) -> int:
    return int(float(os.environ.get("XLM_HF_BENCH_TOKENISE_LINES", 1e4 if quick else 2e5)))


# ----------------------------------------------------------------------------- corpora


def source_lines() -> dict[str, list[str]]:
    """Distinct non-blank lines: en, fr (monolingual) and the en-fr pairs, real data when present."""
    from xlm_hf import SAMPLE_DIR
    from xlm_hf.data.textfiles import non_blank_lines, read_text_lines

    root = SHARED if (SHARED / "para" / "en-fr.fr").is_file() else SAMPLE_DIR
    out = {lang: non_blank_lines([root / "mono" / f"{lang}.txt"]) for lang in ("en", "fr")}
    pairs = [
        (a, b)
        for a, b in zip(*(read_text_lines(root / "para" / f"en-fr.{lang}") for lang in ("en", "fr")))
        if a.strip() and b.strip()
    ]
    out["para.en"], out["para.fr"] = [a for a, _ in pairs], [b for _, b in pairs]
    return out


def write_repeated(path: Path, lines: list[str], n_lines: int) -> None:
    """`n_lines` lines: `lines` over and over."""
    with open(path, "w", encoding="utf-8") as f:
        block = "\n".join(lines) + "\n"
        for _ in range(n_lines // len(lines)):
            f.write(block)
        f.write("".join(line + "\n" for line in lines[: n_lines % len(lines)]))


def make_corpus(
    folder: Path, tokens: int, lines: dict[str, list[str]], tokens_per_line: dict[str, float]
) -> dict:
    """Text files of about `tokens` corpus tokens (shares: `SHARES`); returns the recipe's data keys."""
    folder.mkdir(parents=True, exist_ok=True)
    for lang in ("en", "fr"):
        n = max(2, round(tokens * SHARES[f"mono.{lang}"] / tokens_per_line[lang]))
        write_repeated(folder / f"{lang}.txt", lines[lang], n)
    per_pair = tokens_per_line["para.en"] + tokens_per_line["para.fr"]
    n = max(2, round(tokens * SHARES["para.en-fr"] / per_pair))
    for lang in ("en", "fr"):
        write_repeated(folder / f"para.{lang}", lines[f"para.{lang}"], n)
    return {
        "data.mono": {lang: str(folder / f"{lang}.txt") for lang in ("en", "fr")},
        "data.para": {"en-fr": [str(folder / "para.en"), str(folder / "para.fr")]},
    }


def memo_tokeniser():
    """A `Tokeniser` that tokenises each distinct line once (this bench's corpora repeat lines)."""
    from xlm_hf.data import tokenise

    class MemoTokeniser(tokenise.Tokeniser):
        memo: dict[tuple[str, str], np.ndarray] = {}

        def __init__(self, processes: int) -> None:
            super().__init__(1)

        def map(self, jobs):
            for tokenizer_dir, fast, preprocessing, columns in jobs:
                out = []
                for lang, texts in columns:
                    missing = [t for t in dict.fromkeys(texts) if (lang, t) not in self.memo]
                    for text, ids in zip(
                        missing, tokenise.encode(missing, tokenizer_dir, lang, fast, preprocessing)
                    ):
                        self.memo[lang, text] = np.asarray(ids, dtype=np.int32)
                    arrays = [self.memo[lang, t] for t in texts]
                    lengths = np.fromiter(map(len, arrays), dtype=np.int64, count=len(arrays))
                    out.append((np.concatenate(arrays) if arrays else np.zeros(0, np.int32), lengths))
                yield out

    return MemoTokeniser


@contextmanager
def replaced(module, name: str, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def entry_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.npy")):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------- one start-up (a rank)


def rss_anon_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssAnon:"))


class PeakSampler(threading.Thread):
    """The highest RssAnon of this process, sampled every 2 ms until `stop`."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self.done = rss_anon_kb(), threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.002):
            self.peak = max(self.peak, rss_anon_kb())

    def stop(self) -> int:
        self.done.set()
        self.join()
        return max(self.peak, rss_anon_kb())


def recipe_overrides(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "data.languages": ["en", "fr"],
        "data.objectives": ["mlm", "tlm"],
        **spec["data"],
        "data.max_seq_length": SEQ,
        "data.valid_size": VALID_LINES,
        "data.cache_dir": spec["cache_dir"],
        "model.tokenizer": spec["tokenizer"],
        **{f"model.{k}": v for k, v in MODEL.items()},
        "training.output_dir": spec["output_dir"],
        "training.max_steps": 1,
        "training.per_device_train_batch_size": 32,
        "training.eval_strategy": "no",
        "training.save_strategy": "no",
        "training.disable_tqdm": True,
        "training.seed": 0,
    }


def startup_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Warm start-up of one rank: `build_trainer` and the first batch, timed, peak heap sampled."""
    import torch  # noqa: F401  (imported before the baseline is read: every rank holds them)
    import transformers.trainer  # noqa: F401

    from xlm_hf import pretrain
    from xlm_hf.config.recipes import load_pretrain_recipe
    from xlm_hf.data import corpora, pretraining, sources  # noqa: F401

    after_imports = rss_anon_kb()
    sampler = PeakSampler()
    sampler.start()
    started, cpu = time.perf_counter(), time.process_time()
    recipe = load_pretrain_recipe(None, recipe_overrides(spec))
    trainer, data, _ = pretrain.build_trainer(recipe)
    batch = next(iter(trainer.mixture))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    peak = sampler.stop()
    return {
        "rank": recipe.training.process_index,
        "world_size": recipe.training.world_size,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "heap_mb": (peak - after_imports) / 1024,
        "peak_rss_anon_mb": peak / 1024,
        "after_imports_mb": after_imports / 1024,
        "first_batch": batch["source"],
        "sources": len(data.sources),
    }


def run_startup(spec: dict[str, Any], ranks: int) -> list[dict[str, Any]]:
    """One warm start-up in `ranks` fresh processes; the report of each rank."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = {**spec, "output_dir": f"{tmp}/out"}
        path = Path(tmp) / "spec.json"
        path.write_text(json.dumps(spec))
        launcher = (
            ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"] if ranks > 1 else []
        )
        command = [sys.executable, *launcher, "-m", "bench.data_scale", "--startup", str(path)]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "0"}
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"start-up with {ranks} rank(s) failed:\n{done.stderr[-3000:]}")
        return [json.loads(p.read_text()) for p in sorted(Path(tmp).glob("spec.json.rank*"))]


# ----------------------------------------------------------------------------- cold tokenisation


def synthetic_sentences(lines: list[str], n: int, seed: int = 0) -> list[str]:
    """`n` sentences whose words follow the word frequencies of `lines`, and lengths their lengths."""
    from collections import Counter

    counts = Counter(w for line in lines for w in line.split())
    words = list(counts)
    p = np.array([counts[w] for w in words], dtype=np.float64)
    rng = np.random.default_rng(seed)
    lengths = rng.choice(np.array([max(1, len(line.split())) for line in lines]), n)
    drawn = rng.choice(len(words), int(lengths.sum()), p=p / p.sum())
    ends = np.cumsum(lengths)
    return [" ".join(words[i] for i in drawn[a:b]) for a, b in zip(np.concatenate([[0], ends[:-1]]), ends)]


def cold_run(text: Path, cache: Path, tokenizer: str, processes: int) -> dict[str, Any]:
    from xlm_hf.config.sections import DataConfig
    from xlm_hf.data import corpora, tokenise

    tokenise._TOKENIZERS.clear()  # no word cache carried over from the run before
    config = DataConfig(languages=["en"], mono={"en": str(text)}, cache_dir=str(cache), num_proc=processes)
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    data = corpora.load_corpora(config, tokenizer)
    seconds = time.perf_counter() - started
    own2, kids2 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(
        getattr(b, f) - getattr(a, f)
        for a, b in ((own, own2), (kids, kids2))
        for f in ("ru_utime", "ru_stime")
    )
    return {"seconds": seconds, "cpu_seconds": cpu, "digest": entry_digest(data.folders["mono.en"])}


# ----------------------------------------------------------------------------- the bench


def slope(xs: list[float], ys: list[float]) -> float:
    """Of the line through the first and last points (bytes per token, seconds per token)."""
    return (ys[-1] - ys[0]) / (xs[-1] - xs[0])


def extrapolate(
    heap_mb: float,
    heap_slope: float,
    startup_s: float,
    startup_slope: float,
    at_tokens: float,
    lines_per_second_2: float,
    tokens_per_line: float,
) -> dict[str, float]:
    """XNLI-15 on one 8-GPU node from the measured figures (the last size measured at `at_tokens`)."""
    per_rank_gb = (heap_mb * 2**20 + heap_slope * (XNLI15_TOKENS - at_tokens)) / 2**30
    return {
        "host_ram_gb": XNLI15_RANKS * per_rank_gb,
        "startup_s": startup_s + startup_slope * (XNLI15_TOKENS - at_tokens),
        # workers scale linearly from the 2-process rate (the 1 -> 2 process ratio says how nearly)
        "tokenise_h": XNLI15_TOKENS / tokens_per_line / (lines_per_second_2 * XNLI15_PROCESSES / 2) / 3600,
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    from bench.pretraining import padded_tokenizer
    from xlm_hf import SAMPLE_DIR
    from xlm_hf.config.recipes import load_pretrain_recipe as load_recipe
    from xlm_hf.config.sections import VocabConfig
    from xlm_hf.data import corpora, tokenise
    from xlm_hf.vocab import build_vocab

    rows: list[dict[str, Any]] = []
    repeats = 1 if quick else 3
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = build_vocab(
            VocabConfig(
                languages=["de", "en", "es", "fr"],
                data_dir=str(SAMPLE_DIR),
                output_dir=str(tmp / "vocab"),
                vocab_size=3000,
                sentences_per_language=2000,
            )
        )
        tokenizer = str(padded_tokenizer(base, tmp / "vocab-8k", VOCAB))
        lines = source_lines()
        tokens_per_line = {
            key: float(np.mean([len(x) for x in tokenise.encode(values[:2000], tokenizer, key[-2:])]))
            for key, values in lines.items()
        }

        # warm start-up and heap at two sizes, 1 and 2 ranks
        measured: dict[tuple[int, int], list[list[dict]]] = {}  # (size, ranks) -> per repeat, per rank
        corpus_tokens: dict[int, int] = {}
        for size in sizes(quick):
            data = make_corpus(tmp / f"corpus-{size}", size, lines, tokens_per_line)
            spec = {"data": data, "cache_dir": str(tmp / "cache"), "tokenizer": tokenizer}
            recipe = load_recipe(None, recipe_overrides({**spec, "output_dir": str(tmp / "o")}))
            with replaced(corpora, "Tokeniser", memo_tokeniser()):
                built = corpora.load_corpora(recipe.data, tokenizer, seed=0)
            if size == sizes(quick)[0]:  # the bench's shortcut gives the entries a plain build gives
                recipe.data.cache_dir = str(tmp / "plain-cache")
                plain = corpora.load_corpora(recipe.data, tokenizer, seed=0)
                for name, folder in built.folders.items():
                    assert entry_digest(folder) == entry_digest(plain.folders[name]), name
            corpus_tokens[size] = sum(s.n_tokens for s in built.mono_train.values()) + sum(
                p.ids1.n_tokens + p.ids2.n_tokens for p in built.para_train.values()
            )
            run_startup(spec, 1)  # the first run keeps the TLM index beside the store
            for ranks in (1, 2):
                measured[size, ranks] = [run_startup(spec, ranks) for _ in range(repeats)]
                print(
                    f"  data_scale {corpus_tokens[size] / 1e6:.1f}M tokens, {ranks} rank(s): "
                    f"{median([max(r['seconds'] for r in m) for m in measured[size, ranks]]):.1f} s, "
                    f"heap {median([max(r['heap_mb'] for r in m) for m in measured[size, ranks]]):.0f} MB",
                    file=sys.stderr,
                )
        tokens = [corpus_tokens[s] for s in sizes(quick)]
        trend = {}  # ranks -> (heap MB per rank, heap slope B/token, start-up s, start-up slope s/token)
        for ranks in (1, 2):
            seconds = [
                median([max(r["seconds"] for r in m) for m in measured[s, ranks]]) for s in sizes(quick)
            ]
            heaps = [median([max(r["heap_mb"] for r in m) for m in measured[s, ranks]]) for s in sizes(quick)]
            together = [
                median([sum(r["heap_mb"] for r in m) for m in measured[s, ranks]]) for s in sizes(quick)
            ]
            for size, n, sec, heap in zip(sizes(quick), tokens, seconds, heaps):
                big = size == max(sizes(quick))
                rows.append(
                    make_row(
                        "data_scale",
                        f"warm start-up, {n / 1e6:.1f}M tokens, {ranks} rank(s)",
                        "s",
                        sec,
                        None,
                        "<= 10 s at 200M" if big and n >= 1.5e8 else None,
                        sec <= 10 if big and n >= 1.5e8 else None,
                        {"heap_mb_per_rank": round(heap, 1), "runs": measured[size, ranks]},
                    )
                )
            per_token = slope(tokens, [h * 2**20 for h in (heaps if ranks == 1 else together)])
            rows.append(
                make_row(
                    "data_scale",
                    "heap bytes per corpus token (slope), "
                    + ("1 rank" if ranks == 1 else "2 ranks together"),
                    "B/token",
                    per_token,
                    None,
                    "<= 0.5" if ranks == 1 else "~ 1 rank's (<= 0.5)",
                    per_token <= 0.5,
                    {"tokens": tokens, "heap_mb": heaps if ranks == 1 else together, "start_up_s": seconds},
                )
            )
            trend[ranks] = (heaps[-1], per_token, seconds[-1], slope(tokens, seconds))

        # cold tokenisation of one language with 1 and 2 processes
        text = tmp / "cold" / "en.txt"
        text.parent.mkdir()
        text.write_text(
            "\n".join(synthetic_sentences(lines["en"], tokenise_lines(quick))) + "\n", encoding="utf-8"
        )
        pairs = []
        for i in range(repeats):
            one = cold_run(text, tmp / f"cold-1-{i}", tokenizer, 1)
            two = cold_run(text, tmp / f"cold-2-{i}", tokenizer, 2)
            pairs.append((one, two))
    n_lines = tokenise_lines(quick)
    same_ids = all(one["digest"] == two["digest"] for one, two in pairs)
    wall = [one["seconds"] / two["seconds"] for one, two in pairs]
    cpu = [one["cpu_seconds"] / two["cpu_seconds"] for one, two in pairs]
    two_rate = median([n_lines / two["seconds"] for _, two in pairs])
    extra = {"lines": n_lines, "same_ids": same_ids, "runs": [[one, two] for one, two in pairs]}
    rows.append(
        make_row(
            "data_scale",
            "cold tokenisation of one language, 2 processes vs 1, wall clock",
            "lines/s",
            two_rate,
            median([n_lines / one["seconds"] for one, _ in pairs]),
            ">= 1.8x, same ids",
            median(wall) >= 1.8 and same_ids,
            extra,
            pair_ratios=wall,
        )
    )
    rows.append(
        make_row(
            "data_scale",
            "cold tokenisation of one language, 2 processes vs 1, per CPU-second",
            "lines/CPU-s",
            median([n_lines / two["cpu_seconds"] for _, two in pairs]),
            median([n_lines / one["cpu_seconds"] for one, _ in pairs]),
            pair_ratios=cpu,
        )
    )
    xnli = extrapolate(*trend[1], tokens[-1], two_rate, tokens_per_line["en"])
    basis = {"tokens": XNLI15_TOKENS, "ranks": XNLI15_RANKS, "tokenising_processes": XNLI15_PROCESSES}
    for figure, unit, value in (
        ("host RAM of 8 ranks (heap)", "GB", xnli["host_ram_gb"]),
        ("warm start-up", "s", xnli["startup_s"]),
        ("cold tokenisation, 8 processes", "h", xnli["tokenise_h"]),
    ):
        rows.append(
            make_row(
                "data_scale",
                f"XNLI-15 on 8 GPUs (7e9 tokens, extrapolated): {figure}",
                unit,
                value,
                None,
                extra=basis,
            )
        )
    return rows


if __name__ == "__main__":
    if sys.argv[1:2] == ["--startup"]:
        spec_path = Path(sys.argv[2])
        result = startup_worker(json.loads(spec_path.read_text()))
        Path(f"{spec_path}.rank{result['rank']}").write_text(json.dumps(result))
    else:
        import argparse

        parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
        parser.add_argument("--quick", action="store_true")
        for row in run(quick=parser.parse_args().quick):
            print(json.dumps({k: v for k, v in row.items() if k != "extra"}))
