"""What the GPU check runs: the sizes (the paper's model, or a tiny one for CPUs) and the rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DENSE_BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # TFLOP/s, dense, by GPU name
#: what would need a package the GPU machine's image lacks (Moses, `datasets` for corpora)
GPU_IMAGE_LACKS = (
    "sacremoses",
    "evaluate",
    "xlm_hf.text.pretokenize",
    "xlm_hf.data.corpora",
    "xlm_hf.xnli.data",
)


@dataclass(frozen=True)
class Sizes:
    emb_dim: int = 1024
    n_layers: int = 12
    n_heads: int = 8
    seq: int = 256
    vocab: int = 95000
    base_vocab: int = 3000  # ids in use: a 3k vocabulary padded to `vocab`, as `make bench` does
    batch: int = 64
    xnli_batch: int = 32
    xnli_max_len: int = 128
    warmup: int = 5
    timed: int = 80
    log_every: int = 20  # a loss logged every 20 steps: 4 host reads in the timed steps, for both paths


TINY = Sizes(
    emb_dim=32,
    n_layers=2,
    n_heads=4,
    seq=32,
    vocab=500,
    base_vocab=200,
    batch=4,
    xnli_batch=4,
    xnli_max_len=40,
    warmup=2,
    timed=5,
    log_every=3,  # never a divisor of warmup + timed (+ 1): no logging inside the sync-check step
)


@dataclass(frozen=True)
class Run:
    name: str
    path: str  # xlm_hf: the toolkit's training code; hf: HF's way (run_mlm / run_glue: plain Trainer)
    task: str  # mlm (packed streams) | mlm-tlm (the mixture with padded TLM pairs) | xnli
    kernels: str = "fused"  # the toolkit's model.training_kernels (fused is what auto picks on CUDA)
    attention: str = "eager"  # model.attention, for HF's forward
    compile: bool | str = "auto"  # model.compile, for the fused path
    limit: float = 120.0  # seconds it may take on an H200, start-up and compilation included
    timed: int | None = None  # fewer timed steps for a diagnostic extra
    # a torch.compile mode for the shared layer, as an experiment the recipes do not offer yet
    # ("reduce-overhead": CUDA graphs, for host-bound small batches)
    compile_mode: str | None = None


REQUIRED = [
    Run("mlm-95k", "hf", "mlm", limit=150),
    Run("mlm-95k", "xlm_hf", "mlm", limit=170),
    Run("xnli", "hf", "xnli", limit=60),
    Run("xnli", "xlm_hf", "xnli", limit=150),
]
EXTRAS = [  # run while time is left, each only if its whole allowance is
    # the toolkit's GPU runs before the fused path: HF's forward, with SDPA modules and without
    Run("mlm-tlm-hf-forward-sdpa", "xlm_hf", "mlm-tlm", "hf", "sdpa", limit=100, timed=30),
    Run("mlm-tlm-hf-forward-eager", "xlm_hf", "mlm-tlm", "hf", "eager", limit=90, timed=30),
    # the fused path uncompiled: what torch.compile adds
    Run("mlm-95k-eager", "xlm_hf", "mlm", compile=False, limit=60, timed=40),
    Run("xnli-eager", "xlm_hf", "xnli", compile=False, limit=60, timed=40),
    # XNLI steps are host-bound (the device is busy about 30 % of a step): CUDA graphs, measured
    Run("xnli-cudagraphs", "xlm_hf", "xnli", compile_mode="reduce-overhead", limit=90, timed=40),
]


def extras_in_order(done: list[dict[str, Any]]) -> list[Run]:
    """`EXTRAS`, the uncompiled twin of a compiled run that failed first: its numbers stand in."""
    failed = {r["name"] for r in done if "error" in r and r["path"] == "xlm_hf"}
    return sorted(EXTRAS, key=lambda run: not (run.compile is False and run.name[: -len("-eager")] in failed))


PREFLIGHT = Run("preflight", "xlm_hf", "preflight", limit=90)
