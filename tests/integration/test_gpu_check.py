"""`bench/gpu_check.sh`, the GPU measurement, run end to end on CPU with a tiny model
(``GPU_CHECK_TINY=1``) and without the packages the GPU machine lacks: every run completes, and
the results file has the fields the README table and the issue's targets read.
Also the synthetic data's properties and the summaries, without a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.gpu_training import check, synthetic
from bench.gpu_training import runs as gpu_runs
from xlm_hf.text.special_tokens import PAD

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"name", "path", "tokens_per_second", "mfu", "peak_memory_mb", "loss", "gpu", "date"}


# the GPU machine's image has torch, transformers and accelerate, but neither `datasets` nor Moses:
# a `None` in sys.modules makes both `import` and transformers' availability checks see them absent
HIDE_ABSENT_PACKAGES = """import sys
for name in ("datasets", "sacremoses", "evaluate"):
    sys.modules[name] = None
"""


@pytest.mark.slow
def test_the_gpu_check_runs_end_to_end_on_cpu(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(HIDE_ABSENT_PACKAGES)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")]),
        "GPU_CHECK_TINY": "1",
        "GPU_CHECK_RESULTS": str(tmp_path / "results.json"),
        "GPU_CHECK_OUT": str(tmp_path / "out"),
        "GPU_CHECK_BUDGET": "1200",
        "PYTHON": sys.executable,
    }
    (tmp_path / "out").mkdir()
    done = subprocess.run(
        ["bash", "bench/gpu_check.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "out" / "gpu_results.json").read_text() == (tmp_path / "results.json").read_text()
    assert "===== mlm-95k hf" in (tmp_path / "out" / "gpu_check.log").read_text()
    checks = {k: v for k, v in results["preflight"].items() if k != "device"}
    assert len(checks) == 5 and all(max(diffs) < 1e-5 for diffs in checks.values()), checks
    runs = results["runs"]
    assert [(r["name"], r["path"]) for r in runs] == [
        (run.name, run.path) for run in gpu_runs.REQUIRED + gpu_runs.EXTRAS
    ]
    tiny = gpu_runs.TINY
    for run in runs:
        assert run.keys() >= FIELDS and "error" not in run, run
        assert run["tokens_per_second"] > 0 and np.isfinite(run["loss"])
        assert run["mfu"] is None and run["peak_memory_mb"] is None  # no GPU: no peak to divide by
        assert run["timed_steps"] == tiny.timed and len(run["loss_curve"]) == 3
        assert run["needs_packages_absent_on_the_gpu_image"] == []
        assert run["optimizer"] == "AdamW fused=True"
        assert (run["flops_per_token"] is None) == (run["settings"]["task"] == "mlm-tlm")  # mixed lengths
        assert run["profile"]["top"] and run["profile"]["wall_ms"] > 0
    mlm = {r["path"]: r for r in runs if r["name"] == "mlm-95k"}
    assert mlm["hf"]["tokens_per_step"] == mlm["xlm_hf"]["tokens_per_step"] == tiny.batch * tiny.seq
    assert [t["figure"] for t in results["targets"]] == [  # no GPU: no MFU and no memory target
        "tokens/s, xlm_hf / hf, paper model at 95k",
        "loss after the same steps, xlm_hf - hf",
        "XNLI fine-tuning tokens/s, xlm_hf / hf",
    ]
    assert "| mlm-95k | xlm_hf |" in done.stdout and "| target | value | goal | met |" in done.stdout


def test_synthetic_streams_and_pairs():
    sizes = gpu_runs.TINY
    blocks = synthetic.stream_blocks(sizes, 10)
    assert blocks.shape == (10, sizes.seq) and blocks.min() >= 1 and blocks.max() < sizes.base_vocab
    assert (blocks == 1).any() and not (blocks == PAD).any()  # </s> between sentences, no pad
    again = synthetic.stream_blocks(sizes, 10)
    assert np.array_equal(blocks, again)  # the same data for both paths, run after run
    pairs = synthetic.xnli_pairs(sizes, 20)
    assert len(pairs) == 20 and {p["labels"] for p in pairs} == {0, 1, 2}
    for pair in pairs:
        ids = pair["input_ids"]
        assert len(ids) <= sizes.xnli_max_len and ids[0] == ids[-1] == 1 and ids.count(1) == 3
        assert len(pair["langs"]) == len(ids)


def test_an_uncompiled_twin_runs_first_when_the_compiled_run_failed():
    done = [
        {"name": "xnli", "path": "xlm_hf", "error": "compile failed"},
        {"name": "mlm-95k", "path": "xlm_hf"},
    ]
    order = [run.name for run in gpu_runs.extras_in_order(done)]
    assert order == [
        "xnli-eager",
        "mlm-tlm-hf-forward-sdpa",
        "mlm-tlm-hf-forward-eager",
        "mlm-95k-eager",
        "xnli-cudagraphs",
    ]
    assert [run.name for run in gpu_runs.extras_in_order([])] == [r.name for r in gpu_runs.EXTRAS]


def test_targets_and_table_from_runs():
    def run(name, path, tps, mfu, memory, loss):
        return {
            "name": name,
            "path": path,
            "tokens_per_second": tps,
            "mfu": mfu,
            "peak_memory_mb": memory,
            "loss": loss,
            "step_ms": 10.0,
            "compile_seconds": 30.0,
            "host_syncs_per_step": 0,
        }

    runs = [
        run("mlm-95k", "hf", 50_000.0, 0.05, 20_000.0, 6.0),
        run("mlm-95k", "xlm_hf", 400_000.0, 0.42, 9_000.0, 5.98),
        run("xnli", "hf", 30_000.0, 0.03, 3_000.0, 1.0),
        run("xnli", "xlm_hf", 45_000.0, 0.05, 2_000.0, 1.0),
        {"name": "mlm-tlm-hf-forward-sdpa", "path": "xlm_hf", "error": "out of memory"},
    ]
    targets = {t["figure"]: t for t in check.comparisons(runs)}
    assert targets["MFU of xlm-hf's path, paper model at 95k"]["met"] is True
    assert targets["tokens/s, xlm_hf / hf, paper model at 95k"]["value"] == pytest.approx(8.0)
    assert targets["peak GPU memory, xlm_hf / hf"]["met"] is True
    assert targets["loss after the same steps, xlm_hf - hf"]["value"] == pytest.approx(-0.02)
    assert targets["XNLI fine-tuning tokens/s, xlm_hf / hf"]["met"] is False  # 1.5x < 2x
    table = check.markdown(
        {
            "gpu": "NVIDIA H200",
            "date": "2026-12-01",
            "versions": {"torch": "2", "transformers": "5"},
            "runs": runs,
            "targets": list(targets.values()),
        }
    )
    assert "| mlm-95k | xlm_hf | 400,000 | 42.0 % | 8.8 GB | 10.0 ms | 30 s | 0 | 5.980 |" in table
    assert "| mlm-tlm-hf-forward-sdpa | xlm_hf | failed: out of memory |" in table
