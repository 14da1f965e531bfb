"""Timing, token counting, host-sync counting and profiling of one training run (a `Trainer`
callback), and the profile's summary: where a step's time goes."""

from __future__ import annotations

import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from bench.gpu_training.runs import Sizes


def step_timer(sizes: Sizes, device: str, model, pad_id: int):
    """A callback that times the steps, counts tokens, host syncs, and profiles one step."""
    import torch
    from transformers import TrainerCallback

    cuda = device == "cuda"
    tokens = torch.zeros((), dtype=torch.int64, device=device)  # summed on the device, read at the end

    def count(module, args, kwargs):
        if module.training:
            mask = kwargs.get("attention_mask")
            ids = kwargs["input_ids"]
            tokens.add_(mask.sum() if mask is not None else (ids != pad_id).sum())

    model.register_forward_pre_hook(count, with_kwargs=True)

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.perf_counter()
            self.marks: dict[str, Any] = {}
            self.syncs: list[str] = []
            self.profile: dict[str, Any] = {}
            self._warnings = self._profiler = None

        def _now(self) -> float:
            if cuda:
                torch.cuda.synchronize()
            return time.perf_counter()

        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == sizes.warmup + sizes.timed + 1:  # the profiled step
                from torch.profiler import ProfilerActivity, profile

                activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
                self._profiler = profile(activities=activities)
                self._profiler.__enter__()
                self.marks["profile_start"] = self._now()

        def on_step_end(self, args, state, control, **kwargs):
            step = state.global_step
            if step == sizes.warmup:
                self.marks["warmup_end"] = self._now()
                self.marks["tokens_start"] = tokens.clone()
            elif step == sizes.warmup + sizes.timed:
                self.marks["timed_end"] = self._now()
                self.marks["tokens_end"] = tokens.clone()
                self.marks["peak_memory"] = torch.cuda.max_memory_allocated() if cuda else None
                if cuda:  # the next step: every synchronising CUDA call warns
                    self._warnings = warnings.catch_warnings(record=True)
                    self.syncs_seen = self._warnings.__enter__()
                    warnings.simplefilter("always")
                    torch.cuda.set_sync_debug_mode("warn")
            elif step == sizes.warmup + sizes.timed + 1:
                if self._warnings is not None:
                    torch.cuda.set_sync_debug_mode("default")
                    self._warnings.__exit__(None, None, None)
                    self.syncs = [
                        f"{Path(w.filename).name}:{w.lineno}"
                        for w in self.syncs_seen
                        if "synchronizing" in str(w.message)
                    ]
            elif step == sizes.warmup + sizes.timed + 2 and self._profiler is not None:
                wall = self._now() - self.marks["profile_start"]
                self._profiler.__exit__(None, None, None)
                self.profile = profile_summary(self._profiler, wall, cuda)
                if TRACE_FILE is not None:  # the whole timeline, for a closer look off the device
                    export_trace(self._profiler, TRACE_FILE)
                self._profiler = None

    return Timer()


TRACE_FILE: Path | None = None  # set by `worker` when GPU_CHECK_TRACE names a folder


def export_trace(profiler, path: Path) -> None:
    """The profiled step as a gzipped Chrome trace (chrome://tracing, Perfetto)."""
    import gzip
    import shutil

    raw = path.with_suffix("")  # trace-....json
    profiler.export_chrome_trace(str(raw))
    with open(raw, "rb") as source, gzip.open(path, "wb") as target:
        shutil.copyfileobj(source, target)
    raw.unlink()


# Kernel kinds, by name (the first pattern that matches): where a step's device time goes.
KERNEL_KINDS = (
    ("matmul", ("nvjet", "gemm", "cutlass", "xmma", "cublas", "Kernel2", "splitK")),
    ("attention", ("flash", "fmha", "sdpa", "attention", "cudnn")),
    ("optimizer", ("multi_tensor_apply", "adam")),
    ("compiled (Triton)", ("triton_",)),
    ("embedding / index", ("embedding", "index", "scatter", "gather", "radix", "sort", "segment")),
    ("layer norm", ("layer_norm", "LayerNorm")),
    ("reduction", ("reduce_kernel", "Reduce")),
    ("copy / cast / fill", ("copy", "Memcpy", "Memset", "fill", "cat", "CatArray")),
    ("elementwise", ("elementwise",)),
)


def kernel_kind(name: str) -> str:
    return next((kind for kind, marks in KERNEL_KINDS if any(m in name for m in marks)), "other")


def profile_summary(profiler, wall_seconds: float, cuda: bool, n: int = 12) -> dict[str, Any]:
    """Where one step's time went. On a GPU: the device kernels alone (operators launch kernels, so
    summing both would count the device time twice), grouped by kind and the top `n`, the device's
    busy share of the step's wall time (well under 1: the host held the GPU up), and the host
    operators with the most self time. On a CPU: the operators with the most self time."""
    from torch.autograd import DeviceType

    events = list(profiler.key_averages())
    if cuda:  # kernels, copies and sets; not the spans of annotated regions (Optimizer.step#...)
        timed = [
            e
            for e in events
            if e.device_type == DeviceType.CUDA
            and e.self_device_time_total > 0
            and not getattr(e, "is_user_annotation", False)
            and not e.key.startswith(("Optimizer.", "ProfilerStep"))
        ]
        time_of = {id(e): e.self_device_time_total for e in timed}  # microseconds
    else:
        timed = [e for e in events if e.self_cpu_time_total > 0]
        time_of = {id(e): e.self_cpu_time_total for e in timed}
    timed.sort(key=lambda e: time_of[id(e)], reverse=True)
    total = sum(time_of.values()) or 1.0
    kinds: Counter[str] = Counter()
    launches: Counter[str] = Counter()
    for e in timed if cuda else ():
        kinds[kernel_kind(e.key)] += time_of[id(e)]
        launches[kernel_kind(e.key)] += e.count
    host = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:6] if cuda else []
    return {
        "wall_ms": round(1000 * wall_seconds, 2),
        "device_busy_ms": round(total / 1000, 2),
        "device_busy_share": round(total / 1e6 / wall_seconds, 3) if cuda else None,
        "kernels": sum(e.count for e in timed) if cuda else None,
        "by_kind": [
            {
                "kind": kind,
                "ms": round(us / 1000, 3),
                "share": round(us / total, 3),
                "kernels": launches[kind],
            }
            for kind, us in kinds.most_common()
        ],
        "top": [
            {
                "op": e.key[:90],
                "self_ms": round(time_of[id(e)] / 1000, 3),
                "share": round(time_of[id(e)] / total, 3),
                "calls": e.count,
            }
            for e in timed[:n]
        ],
        # where the host's time went (launches, Python, waiting in a sync such as cudaStreamSynchronize)
        "top_host": [{"op": e.key[:90], "self_ms": round(e.self_cpu_time_total / 1000, 3)} for e in host],
    }
