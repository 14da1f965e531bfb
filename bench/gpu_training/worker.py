"""One row of the check in its own process (``python -m bench.gpu_training --worker SPEC``)."""

from __future__ import annotations

import datetime
import os
import platform
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.gpu_training import profiling
from bench.gpu_training.preflight import preflight
from bench.gpu_training.runs import DENSE_BF16_PEAK, GPU_IMAGE_LACKS, Run, Sizes
from bench.gpu_training.trainers import pretraining_trainer, xnli_trainer


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One run in this (fresh) process; returns its figures."""
    import torch
    import transformers

    from bench.pretraining import flops_per_token

    sizes, run = Sizes(**spec["sizes"]), Run(**spec["run"])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if os.environ.get("GPU_CHECK_TRACE"):
        profiling.TRACE_FILE = Path(os.environ["GPU_CHECK_TRACE"]) / f"trace-{run.name}-{run.path}.json.gz"
    if run.task == "preflight":
        return preflight(device)
    build = xnli_trainer if run.task == "xnli" else pretraining_trainer
    trainer, timer = build(run, sizes, device, spec["output_dir"])
    started = time.perf_counter()
    output = trainer.train()
    total_seconds = time.perf_counter() - started
    marks = timer.marks
    seconds = marks["timed_end"] - marks["warmup_end"]
    tokens = int(marks["tokens_end"] - marks["tokens_start"])
    step_seconds = seconds / sizes.timed
    warmup_seconds = marks["warmup_end"] - timer.started
    pretraining = run.task != "xnli"
    seq = sizes.seq if pretraining else tokens / (sizes.timed * sizes.xnli_batch)  # mean real length
    flops = flops_per_token(
        sizes.emb_dim, sizes.n_layers, round(seq), sizes.vocab, 0.15 if pretraining else 0.0
    )
    if run.task == "mlm-tlm":  # TLM steps have other lengths: no one FLOP count per token
        flops = None
    gpu = torch.cuda.get_device_name() if device == "cuda" else f"none (CPU: {platform.processor() or 'x86'})"
    peak = next((v for name, v in DENSE_BF16_PEAK.items() if name in gpu), None)
    tokens_per_second = tokens / seconds
    logged = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    dynamo = sys.modules.get("torch._dynamo")
    graphs = dynamo.utils.counters["stats"]["unique_graphs"] if dynamo is not None else 0
    optimizer = trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer") else trainer.optimizer
    return {
        "name": run.name,
        "path": run.path,
        "settings": {
            "task": run.task,
            "training_kernels": run.kernels,
            "attention": run.attention,
            "compile": run.compile,
            "compile_mode": run.compile_mode,
        }
        if run.path == "xlm_hf"
        else {"task": run.task, "attention": run.attention},
        "tokens_per_second": tokens_per_second,
        "mfu": flops["total"] * tokens_per_second / peak if peak and flops else None,
        "peak_memory_mb": marks["peak_memory"] / 2**20 if marks["peak_memory"] is not None else None,
        "loss": logged[-1] if logged else None,
        "gpu": gpu,
        "date": datetime.date.today().isoformat(),
        "step_ms": 1000 * step_seconds,
        "timed_steps": sizes.timed,
        "tokens_per_step": tokens / sizes.timed,
        "warmup_seconds": warmup_seconds,
        "compile_seconds": max(0.0, warmup_seconds - sizes.warmup * step_seconds),
        "compiled_graphs": graphs,
        "train_loss": output.training_loss,
        "loss_curve": logged,
        "host_syncs_per_step": len(timer.syncs) if device == "cuda" else None,
        "host_sync_sources": Counter(timer.syncs).most_common(8),
        "profile": timer.profile,
        # the profiled step runs slower (the profiler's own host work): the device's busy time over
        # a steady step is the fairer share (well under 1: the host holds the GPU up)
        "device_busy_share_of_step": (
            timer.profile["device_busy_ms"] / (1000 * step_seconds) if device == "cuda" else None
        ),
        "flops_per_token": flops,
        "optimizer": f"{type(optimizer).__name__} fused={optimizer.defaults.get('fused')}",
        "mixed_precision": "bf16" if device == "cuda" else "no",
        "sizes": asdict(sizes),
        "batch": sizes.batch if pretraining else sizes.xnli_batch,
        "total_seconds": total_seconds,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        # what would need a package the GPU machine's image lacks (Moses, `datasets` for corpora):
        # none of it may be imported (transformers itself imports `datasets` only where installed)
        "needs_packages_absent_on_the_gpu_image": [m for m in GPU_IMAGE_LACKS if sys.modules.get(m)],
    }
