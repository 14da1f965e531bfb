"""`accelerate launch` with a shipped config, and mixed precision from exactly one source."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import tiny_recipe
from xlm_hf.cli import main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SHORT = {"max_steps": 4, "eval_steps": 4, "save_steps": 4, "logging_steps": 1}


def test_accelerate_launch_runs_pretraining_with_the_cpu_config(tmp_path):
    recipe = tiny_recipe(tmp_path, training=SHORT)
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", "recipes/accelerate/cpu.yaml",
        "-m", "xlm_hf.pretrain", "--config", str(recipe),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCELERATE_")}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (results["world_size"], results["mixed_precision"], results["train_steps"]) == (1, "no", 4)
    assert "mixed precision: no" in done.stderr


def test_bf16_from_the_recipe_trains_with_a_finite_loss(tmp_path, monkeypatch):
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    recipe = tiny_recipe(tmp_path, training={**SHORT, "bf16": True})
    assert main(["pretrain", "--config", str(recipe)]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["mixed_precision"] == "bf16" and math.isfinite(results["train_loss"])
    assert all(math.isfinite(v) for v in results["eval"]["mlm_ppl"].values())


def test_the_launch_config_sets_precision_when_the_recipe_does_not(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")  # what `accelerate launch` exports
    recipe = tiny_recipe(tmp_path, training=SHORT)
    assert main(["pretrain", "--config", str(recipe)]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["mixed_precision"] == "bf16" and math.isfinite(results["train_loss"])


@pytest.mark.parametrize("command", ["pretrain", "finetune-xnli"])
def test_conflicting_precisions_fail_before_any_work(tmp_path, monkeypatch, capsys, command):
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")
    if command == "pretrain":
        recipe = tiny_recipe(tmp_path, training={**SHORT, "bf16": True})
    else:
        recipe = ROOT / "recipes" / "xnli" / "sample.yaml"
    overrides = [f"training.output_dir={tmp_path / 'out'}", "training.bf16=true"]
    assert main([command, "--config", str(recipe), *overrides]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "training.bf16: the recipe asks for bf16 but the launch config asks for fp16 (mixed_precision); keep one of them"
    )
    assert not (tmp_path / "out").exists()
