"""Pretraining: tokens/s, peak memory and MFU of ``xlm-hf pretrain`` vs the HF run_mlm recipe.

Ours: `xlm_hf.pretrain.run` on a recipe (MLM on 2000 lines per language of ../shared/data/mono,
or the embedded sample without it; packed 256-token streams, target-only loss). Baseline: what HF's ``run_mlm.py`` example does on the same model: the same
packed blocks as a `Dataset`, `DataCollatorForLanguageModeling`, `XLMWithLMHeadModel` (logits
for every position) and `Trainer`, with the same `TrainingArguments` (batch, steps, optimiser).

Both models are emb 512, 6 layers, 8 heads, sequences of 256, dropout 0.1; the token ids are the
same (a BPE vocabulary learned on the embedded sample). To measure the output layer at 8k and 95k entries,
the tokenizer's vocabulary is padded with entries that never occur, so the model's vocab_size
(and the output layer's cost) is 8k or 95k while the data keep their ids.

Every run is a fresh subprocess; its peak memory is ``ru_maxrss`` at the end of the last timed
step (imports, data loading and every training step so far), before the profiled step, whose
profiler holds memory of its own, and the final save; the whole process's peak is kept beside it.
Runs alternate baseline / ours so that load from other processes hits both alike, and the ratios
are the median of each back-to-back pair's ratio (not the ratio of the two medians, which a busy
machine can move by half); tokens per CPU-second stand beside wall clock. tokens/s counts the steps after the
warm-up; the last step runs under `torch.profiler` (not timed) for the top operators.

MFU = model FLOPs per token x tokens/s / the fp32 matmul peak (a timed `torch.mm` loop, same
thread count) measured in the same process right after its timed steps: the cores of this machine
are shared and their speed drifts by a third over minutes, so each run is divided by the peak
of its own moment; the median over runs is reported. Model FLOPs per token count what the objective needs, the same formula
for both: 6 x non-embedding parameters + 12 x layers x seq x dim (attention scores and values,
forward and backward) + 6 x dim x vocab x the target fraction (the output layer at MLM targets).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.rows import make_row

SEQ = 256
MODEL = {"emb_dim": 512, "n_layers": 6, "n_heads": 8, "max_position_embeddings": 512}
LANGUAGES = ["de", "en", "es", "fr"]
LINES_PER_LANGUAGE = 2000  # of ../shared/data/mono: enough blocks that stream batches are full


def data_dir() -> tuple[str, int | None]:
    """(data directory, lines per language): ../shared/data when present, else the embedded sample.

    The sample has only ~27 blocks of 256 tokens per language, so our stream batches of 8 would
    hold ~6.8 rows on average (blocks are spread over ceil(27 / 8) batches) against the baseline's 8.
    """
    from xlm_hf import SAMPLE_DIR

    root = Path(__file__).resolve().parents[1]
    shared = Path(os.environ.get("XLM_HF_SHARED_DATA", root.parent / "shared" / "data"))
    if all((shared / "mono" / f"{lang}.txt").is_file() for lang in LANGUAGES):
        return str(shared), LINES_PER_LANGUAGE
    return str(SAMPLE_DIR), None


MLM_PROBABILITY = 0.15
GEMM_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear")


# ----------------------------------------------------------------------------- FLOPs


def non_embedding_params(emb_dim: int, n_layers: int) -> int:
    """Parameters of the transformer layers of HF's XLM (attention, FFN of 4 x dim, 2 layer norms)."""
    d = emb_dim
    attention = 4 * (d * d + d)
    ffn = d * 4 * d + 4 * d + 4 * d * d + d
    norms = 2 * 2 * d
    return n_layers * (attention + ffn + norms)


def total_params(emb_dim: int, n_layers: int, vocab_size: int, n_positions: int, n_langs: int) -> int:
    """All parameters of `XLMWithLMHeadModel` (the output weight is tied to the word embeddings)."""
    embeddings = (vocab_size + n_positions + n_langs) * emb_dim + 2 * emb_dim  # + their layer norm
    return non_embedding_params(emb_dim, n_layers) + embeddings + vocab_size  # + output bias


def counted_non_embedding_params(model) -> int:
    """The same, counted on a model: everything but the embeddings and the output layer."""
    skip = ("embeddings", "pred_layer", "layer_norm_emb")
    return sum(p.numel() for name, p in model.named_parameters() if not any(s in name for s in skip))


def flops_per_token(
    emb_dim: int, n_layers: int, seq_len: int, vocab_size: int, target_fraction: float
) -> dict[str, float]:
    """Training FLOPs per input token that the objective needs (forward + backward)."""
    dense = 6 * non_embedding_params(emb_dim, n_layers)
    attention = 12 * n_layers * seq_len * emb_dim
    output = 6 * emb_dim * vocab_size * target_fraction
    return {"dense": dense, "attention": attention, "output": output, "total": dense + attention + output}


def matmul_peak_flops(seconds: float = 3.0, n: int = 2048) -> float:
    """Best fp32 `torch.mm` rate (FLOP/s) over repeated timed rounds of ~0.3 s."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    torch.mm(a, b, out=out)
    best, started = 0.0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        t0, reps = time.perf_counter(), 0
        while time.perf_counter() - t0 < 0.3:
            torch.mm(a, b, out=out)
            reps += 1
        best = max(best, reps * 2 * n**3 / (time.perf_counter() - t0))
    return best


# ----------------------------------------------------------------------------- data


def padded_tokenizer(source: Path, target: Path, size: int) -> Path:
    """A copy of tokenizer `source` whose vocabulary has `size` entries (unused ones appended)."""
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_file():
            (target / item.name).write_bytes(item.read_bytes())
    vocab = json.loads((source / "vocab.json").read_text(encoding="utf-8"))
    next_id = max(vocab.values()) + 1
    if size < next_id:
        raise ValueError(f"{source} already has {next_id} entries (> {size})")
    for i in range(size - next_id):
        vocab[f"<unused{i}>"] = next_id + i
    (target / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    return target


def recipe_overrides(spec: dict[str, Any]) -> dict[str, Any]:
    directory, lines = data_dir()
    return {
        "data.languages": LANGUAGES,
        "data.objectives": ["mlm"],
        "data.data_dir": directory,
        "data.max_lines_per_language": lines,
        "data.max_seq_length": SEQ,
        "data.valid_size": 1,  # one held-out line per language: evaluation is not what is measured
        "data.mlm_probability": MLM_PROBABILITY,
        "data.cache_dir": spec["cache_dir"],
        "model.tokenizer": spec["tokenizer"],
        **{f"model.{k}": v for k, v in MODEL.items()},
        "model.attention": spec.get("attention", "eager"),
        "training.output_dir": spec["output_dir"],
        "training.max_steps": spec["steps"],
        "training.per_device_train_batch_size": spec["batch_size"],
        "training.warmup_steps": 1,
        "training.eval_strategy": "no",
        "training.save_strategy": "no",
        "training.logging_steps": 1000,
        "training.disable_tqdm": True,
        "training.dataloader_num_workers": 0,
        "training.seed": 0,
        "training.include_num_input_tokens_seen": "all",  # the timer counts the timed steps' tokens
    }


# ----------------------------------------------------------------------------- one run (subprocess)


def _timer(warmup: int, last: int, profile: bool):
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Wall time from the end of step `warmup` to the end of step `last`; profiles the step after."""

        def __init__(self) -> None:
            self.start = self.end = None
            self.tokens_start = self.tokens_end = 0
            self.cpu_start = self.cpu_end = None
            self.rss_after_training = None
            self.losses: list[float] = []
            self.profiler = None
            self.top: list[dict[str, Any]] = []
            self.gemm_share = None

        def on_step_begin(self, args, state, control, **kwargs):
            if profile and state.global_step == last:
                from torch.profiler import ProfilerActivity
                from torch.profiler import profile as torch_profile

                self.profiler = torch_profile(activities=[ProfilerActivity.CPU])
                self.profiler.__enter__()

        def on_step_end(self, args, state, control, **kwargs):
            now = time.perf_counter()
            if state.global_step == warmup:
                self.start, self.cpu_start = now, cpu_seconds()
                self.tokens_start = state.num_input_tokens_seen
            elif state.global_step == last:
                self.end, self.cpu_end = now, cpu_seconds()
                self.tokens_end = state.num_input_tokens_seen
                self.rss_after_training = peak_rss_mb()
            elif self.profiler is not None:
                self.profiler.__exit__(None, None, None)
                self.top, self.gemm_share = top_ops(self.profiler)
                self.profiler = None

    return StepTimer()


def cpu_seconds() -> float:
    """CPU time of this process (all threads): less sensitive than wall time to other processes."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def top_ops(profiler, n: int = 8) -> tuple[list[dict[str, Any]], float]:
    """The `n` operators with the most self CPU time, and the share of all of it in matrix products."""
    events = [e for e in profiler.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    top = [
        {
            "op": e.key,
            "self_ms": round(e.self_cpu_time_total / 1000, 1),
            "share": round(e.self_cpu_time_total / total, 3),
            "calls": e.count,
        }
        for e in events[:n]
    ]
    gemm = sum(e.self_cpu_time_total for e in events if e.key in GEMM_OPS) / total
    return top, round(gemm, 3)


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One training run in this (fresh) process; returns its figures."""
    import torch

    from xlm_hf.config.recipes import load_pretrain_recipe as load_recipe

    rss_after_imports = peak_rss_mb()

    recipe = load_recipe(None, recipe_overrides(spec))
    warmup, steps, profile = spec["warmup"], spec["steps"], spec["profile"]
    timer = _timer(warmup, steps - 1 if profile else steps, profile)
    started = time.perf_counter()
    if spec["impl"] == "ours":
        from xlm_hf.pretrain import run

        loss = run(recipe, callbacks=[timer])["train_loss"]
    else:
        loss = _baseline(recipe, spec, timer)
    matmul_peak = matmul_peak_flops(1.5)  # the peak of this moment, for this run's MFU
    measured_steps = (steps - 1 if profile else steps) - warmup
    tokens = timer.tokens_end - timer.tokens_start  # input tokens of the timed steps (all non-pad)
    seconds = timer.end - timer.start
    return {
        "impl": spec["impl"],
        "vocab_size": spec["vocab_size"],
        "tokens_per_step": tokens / measured_steps,
        "measured_steps": measured_steps,
        "seconds": seconds,
        "tokens_per_second": tokens / seconds,
        "tokens_per_cpu_second": tokens / (timer.cpu_end - timer.cpu_start),
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_imports_mb": rss_after_imports,
        "rss_after_training_mb": timer.rss_after_training,
        "train_loss": loss,
        "matmul_peak": matmul_peak,
        "wall_seconds": time.perf_counter() - started,
        "threads": torch.get_num_threads(),
        "top_ops": timer.top,
        "gemm_share": timer.gemm_share,
    }


def _baseline(recipe, spec: dict[str, Any], timer) -> float:
    """HF's run_mlm recipe on the same blocks: Dataset + DataCollatorForLanguageModeling + Trainer."""
    import numpy as np
    from datasets import Dataset
    from transformers import DataCollatorForLanguageModeling, Trainer, XLMTokenizer, XLMWithLMHeadModel

    from xlm_hf.data.corpora import load_corpora
    from xlm_hf.data.sources import cut_blocks
    from xlm_hf.model.loading import build_config

    corpora = load_corpora(recipe.data, spec["tokenizer"], seed=0)
    blocks = np.concatenate([cut_blocks(corpora.mono_train[lang].tokens, SEQ) for lang in LANGUAGES])
    tokenizer = XLMTokenizer.from_pretrained(spec["tokenizer"])
    model = XLMWithLMHeadModel(build_config(recipe.model, tokenizer))
    trainer = Trainer(
        model=model,
        args=recipe.training,
        train_dataset=Dataset.from_dict({"input_ids": blocks.tolist()}),
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm_probability=MLM_PROBABILITY),
        processing_class=tokenizer,
        callbacks=[timer],
    )
    output = trainer.train()
    trainer.save_model(recipe.training.output_dir)  # as run_mlm does (ours saves too)
    return output.training_loss


def run_in_subprocess(spec: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = {**spec, "output_dir": f"{tmp}/out"}
        path = Path(tmp) / "spec.json"
        path.write_text(json.dumps(spec))
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "0"}
        proc = subprocess.run(
            [sys.executable, "-m", "bench.pretraining", str(path)],
            capture_output=True,
            text=True,
            env=env,
            cwd=Path(__file__).resolve().parents[1],
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"bench run {spec['impl']} {spec['vocab_size']} failed:\n{proc.stderr[-3000:]}"
            )
        return json.loads(Path(f"{path}.out").read_text())


# ----------------------------------------------------------------------------- the bench


def prepare(tmp: Path, vocab_sizes: list[int]) -> dict[int, str]:
    """A sample vocabulary padded to each size, and the sample tokenised with each (cached)."""
    from xlm_hf import SAMPLE_DIR
    from xlm_hf.config.recipes import load_pretrain_recipe as load_recipe
    from xlm_hf.config.sections import VocabConfig
    from xlm_hf.data.corpora import load_corpora
    from xlm_hf.vocab import build_vocab

    base = build_vocab(
        VocabConfig(
            languages=LANGUAGES,
            data_dir=str(SAMPLE_DIR),
            output_dir=str(tmp / "vocab"),
            vocab_size=3000,
            sentences_per_language=2000,
        )
    )
    dirs = {}
    for size in vocab_sizes:
        directory = str(padded_tokenizer(base, tmp / f"vocab-{size}", size))
        spec = {"cache_dir": str(tmp / "cache"), "tokenizer": directory, "output_dir": str(tmp / "o")}
        recipe = load_recipe(None, recipe_overrides({**spec, "steps": 1, "batch_size": 1}))
        load_corpora(recipe.data, directory, seed=0)
        dirs[size] = directory
    return dirs


def _median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def run(quick: bool = False, attention: str = "eager") -> list[dict[str, Any]]:
    import torch

    vocab_sizes = [8000] if quick else [8000, 95000]
    repeats = 1 if quick else 3  # a median of three: one run slowed by the shared cores does not decide
    base_spec = {
        "batch_size": 4 if quick else 8,
        "warmup": 1,
        "steps": 4,  # a warm-up step, two timed steps, one profiled step
        "profile": True,
        "attention": attention,
    }
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        dirs = prepare(Path(tmp), vocab_sizes)
        peaks = [matmul_peak_flops(2.0 if quick else 3.0)]
        runs: dict[tuple[int, str], list[dict[str, Any]]] = {}
        for _ in range(repeats):
            for size in vocab_sizes:
                for impl in ("baseline", "ours"):  # alternate: background load hits both alike
                    spec = {
                        **base_spec,
                        "impl": impl,
                        "vocab_size": size,
                        "tokenizer": dirs[size],
                        "cache_dir": f"{tmp}/cache",
                    }
                    result = run_in_subprocess(spec)
                    runs.setdefault((size, impl), []).append(result)
                    print(
                        f"  pretraining {impl:8s} vocab {size}: {result['tokens_per_second']:.0f} tokens/s, "
                        f"peak {result['peak_rss_mb']:.0f} MB",
                        file=sys.stderr,
                    )
        peaks.append(matmul_peak_flops(2.0 if quick else 3.0))
    peak = max(peaks)
    threads = torch.get_num_threads()
    setup = {
        "model": {**MODEL, "seq": SEQ, "dropout": 0.1},
        "batch_size": base_spec["batch_size"],
        "timed_steps": base_spec["steps"] - base_spec["warmup"] - 1,
        "warmup_steps": base_spec["warmup"],
        "repeats": repeats,
        "attention": attention,
        "threads": threads,
        "matmul_peak_gflops": round(peak / 1e9, 1),
        "data": f"{data_dir()[0]} (de en es fr, {data_dir()[1] or 'all'} lines each); sample vocabulary"
        " padded with unused entries",
    }
    targets = {
        8000: {"speed": (1.15, ">= 1.15x"), "mfu": 65.0},
        95000: {"speed": (2.5, ">= 2.5x"), "memory": (0.5, "<= 0.5x")},
    }
    for size in vocab_sizes:
        ours, theirs = runs[(size, "ours")], runs[(size, "baseline")]
        label = f"vocab {size // 1000}k"
        tps_ours = _median([r["tokens_per_second"] for r in ours])
        tps_theirs = _median([r["tokens_per_second"] for r in theirs])
        # each repeat ran baseline then ours back to back: their ratio sees the same machine load
        speed_pairs = [o["tokens_per_second"] / t["tokens_per_second"] for o, t in zip(ours, theirs)]
        cpu_pairs = [o["tokens_per_cpu_second"] / t["tokens_per_cpu_second"] for o, t in zip(ours, theirs)]
        goal = targets[size]
        speed_target = goal.get("speed")
        runs_extra = {
            "ours_runs": [round(r["tokens_per_second"], 1) for r in ours],
            "baseline_runs": [round(r["tokens_per_second"], 1) for r in theirs],
            # tokens per second of CPU time (all threads): less sensitive to other processes' load
            "ours_tokens_per_cpu_second": round(_median([r["tokens_per_cpu_second"] for r in ours]), 1),
            "baseline_tokens_per_cpu_second": round(_median([r["tokens_per_cpu_second"] for r in theirs]), 1),
            "cpu_time_ratio": round(
                _median([r["tokens_per_cpu_second"] for r in ours])
                / _median([r["tokens_per_cpu_second"] for r in theirs]),
                3,
            ),
            "ours_loss": round(ours[0]["train_loss"], 3),
            "baseline_loss": round(theirs[0]["train_loss"], 3),
            **setup,
        }
        rows.append(
            make_row(
                "pretraining",
                f"training tokens/s, {label}",
                "tokens/s",
                tps_ours,
                tps_theirs,
                speed_target[1] if speed_target else None,
                _median(speed_pairs) >= speed_target[0] if speed_target else None,
                runs_extra,
                pair_ratios=speed_pairs,
            )
        )
        rows.append(
            make_row(
                "pretraining",
                f"training tokens per CPU-second, {label}",
                "tokens/CPU-s",
                runs_extra["ours_tokens_per_cpu_second"],
                runs_extra["baseline_tokens_per_cpu_second"],
                pair_ratios=cpu_pairs,
            )
        )
        n_params = total_params(
            MODEL["emb_dim"], MODEL["n_layers"], size, MODEL["max_position_embeddings"], 4
        )
        mem_ours = max(r["rss_after_training_mb"] for r in ours)
        mem_theirs = max(r["rss_after_training_mb"] for r in theirs)
        mem_target = goal.get("memory")
        rows.append(
            make_row(
                "pretraining",
                f"peak memory (RSS through the timed steps), {label}",
                "MB",
                mem_ours,
                mem_theirs,
                mem_target[1] if mem_target else None,
                mem_ours / mem_theirs <= mem_target[0] if mem_target else None,
                {
                    "ours_runs": [round(r["rss_after_training_mb"]) for r in ours],
                    "baseline_runs": [round(r["rss_after_training_mb"]) for r in theirs],
                    # the whole process, with the profiled step and the final save
                    "ours_process_peak_mb": round(max(r["peak_rss_mb"] for r in ours)),
                    "baseline_process_peak_mb": round(max(r["peak_rss_mb"] for r in theirs)),
                    # RSS once python, torch and transformers are imported: common to both
                    "after_imports_mb": round(max(r["rss_after_imports_mb"] for r in ours + theirs)),
                    "model_and_adam_mb": round(16 * n_params / 2**20),  # fp32 weights, grads, 2 moments
                },
            )
        )
        flops = flops_per_token(MODEL["emb_dim"], MODEL["n_layers"], SEQ, size, MLM_PROBABILITY)
        mfu_ours = _median([100 * flops["total"] * r["tokens_per_second"] / r["matmul_peak"] for r in ours])
        mfu_theirs = _median(
            [100 * flops["total"] * r["tokens_per_second"] / r["matmul_peak"] for r in theirs]
        )
        mfu_pairs = [
            (o["tokens_per_second"] / o["matmul_peak"]) / (t["tokens_per_second"] / t["matmul_peak"])
            for o, t in zip(ours, theirs)
        ]
        run_peak = _median([r["matmul_peak"] for r in ours + theirs])
        mfu_target = goal.get("mfu")
        rows.append(
            make_row(
                "pretraining",
                f"MFU (fp32 matmul peak ~{run_peak / 1e9:.0f} GFLOP/s), {label}",
                "%",
                mfu_ours,
                mfu_theirs,
                f">= {mfu_target:.0f} %" if mfu_target else None,
                mfu_ours >= mfu_target if mfu_target else None,
                {
                    "flops_per_token": {k: round(v) for k, v in flops.items()},
                    "ours_run_peaks_gflops": [round(r["matmul_peak"] / 1e9, 1) for r in ours],
                    "baseline_run_peaks_gflops": [round(r["matmul_peak"] / 1e9, 1) for r in theirs],
                    "bench_start_and_end_peaks_gflops": [round(p / 1e9, 1) for p in peaks],
                    "ours_profile": ours[-1]["top_ops"],
                    "ours_gemm_share": ours[-1]["gemm_share"],
                    "baseline_profile": theirs[-1]["top_ops"],
                    "baseline_gemm_share": theirs[-1]["gemm_share"],
                },
                pair_ratios=mfu_pairs,
            )
        )
    return rows


if __name__ == "__main__":
    spec_path = Path(sys.argv[1])
    result = worker(json.loads(spec_path.read_text()))
    Path(f"{spec_path}.out").write_text(json.dumps(result))
