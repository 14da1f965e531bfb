"""Interruption: SIGINT/SIGTERM save a checkpoint and exit cleanly; a kill while saving never
leaves a newest checkpoint that fails to load. The signals go to a real training subprocess."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import tiny_recipe
from xlm_hf.cli import main
from xlm_hf.training.checkpoints import is_complete, last_complete

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LONG = {"max_steps": 100000, "eval_strategy": "no", "logging_steps": 1, "save_steps": 100000}


def start_training(recipe: Path, *overrides: str, entry: str = "xlm_hf.pretrain") -> subprocess.Popen:
    # src first: the checkout under test, not whichever copy the environment has installed
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }
    cmd = [sys.executable, "-m", entry, "--config", str(recipe), *overrides]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_steps(proc: subprocess.Popen, n: int) -> None:
    """Read the trainer's per-step log lines until `n` steps are done."""
    seen = 0
    for line in proc.stdout:
        seen += "'loss'" in line
        if seen >= n:
            return
    raise AssertionError(f"training ended early: {proc.wait()} {proc.stderr.read()[-2000:]}")


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("interrupt")
    path = tiny_recipe(tmp, training=LONG)
    assert main(["vocab", "--config", str(path)]) == 0
    return path


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_saves_a_checkpoint_and_resume_continues(recipe, tmp_path, signum):
    out = tmp_path / "out"
    proc = start_training(recipe, f"training.output_dir={out}")
    wait_for_steps(proc, 3)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signum, err[-2000:]
    last_line = err.strip().splitlines()[-1]
    assert last_line.startswith(
        f"xlm-hf pretrain: stopped by {signal.Signals(signum).name}: checkpoint saved to "
    )
    assert "Traceback" not in err
    checkpoint = Path(last_line.split("checkpoint saved to ")[1].split(";")[0])
    assert checkpoint.parent == out and is_complete(checkpoint)
    step = json.loads((checkpoint / "trainer_state.json").read_text())["global_step"]
    assert step >= 3 and not (out / "results.json").exists()

    code = main(
        [
            "pretrain",
            "--config",
            str(recipe),
            f"training.output_dir={out}",
            f"training.max_steps={step + 2}",
            "--resume",
        ]
    )
    assert code == 0
    assert json.loads((out / "results.json").read_text())["train_steps"] == step + 2


def test_a_kill_while_saving_never_leaves_a_broken_latest_checkpoint(recipe, tmp_path):
    out = tmp_path / "out"
    proc = start_training(
        recipe, f"training.output_dir={out}", "training.save_steps=1", "training.save_total_limit=3"
    )
    wait_for_steps(proc, 4)
    time.sleep(0.05)
    proc.kill()  # SIGKILL: no handler runs, wherever the process was (often inside a save)
    proc.communicate(timeout=60)
    found = last_complete(out)
    assert found is not None
    load_file(str(Path(found) / "model.safetensors"))
    torch.load(Path(found) / "optimizer.pt", weights_only=True)
    torch.load(Path(found) / "rng_state.pth", weights_only=False)


def test_an_incomplete_newest_checkpoint_is_skipped(recipe, tmp_path, caplog):
    out = tmp_path / "out"
    assert (
        main(
            [
                "pretrain",
                "--config",
                str(recipe),
                f"training.output_dir={out}",
                "training.max_steps=2",
                "training.save_steps=2",
            ]
        )
        == 0
    )
    good = out / "checkpoint-2"
    broken = out / "checkpoint-9"
    shutil.copytree(good, broken)
    for marker in broken.glob(".complete-*"):
        marker.unlink()  # as if killed before the save finished
    (broken / "optimizer.pt").write_bytes(b"trunc")
    assert last_complete(out) == str(good)
    assert "checkpoint-9 was not completely written" in caplog.text
    code = main(
        [
            "pretrain",
            "--config",
            str(recipe),
            f"training.output_dir={out}",
            f"training.resume_from_checkpoint={broken}",
        ]
    )
    assert code == 2


def test_a_full_disk_while_saving_removes_that_checkpoint_and_says_so(recipe, tmp_path, monkeypatch, capsys):
    import errno

    saved = torch.save

    def full(obj, f, *args, **kwargs):  # the disk fills up while checkpoint-4 is written
        if str(f).endswith("optimizer.pt") and "checkpoint-4" in str(f):
            raise OSError(errno.ENOSPC, "No space left on device")
        return saved(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full)
    out = tmp_path / "out"
    overrides = [f"training.output_dir={out}", "training.max_steps=6", "training.save_steps=2"]
    assert main(["pretrain", "--config", str(recipe), *overrides]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert errors == [
        f"xlm-hf pretrain: error: training.output_dir: no space left on the device of {out} while saving "
        "checkpoint-4 (removed: nothing half-written); free space, then continue with --resume from the "
        "checkpoint before it"
    ]
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]
    assert last_complete(out) == str(out / "checkpoint-2") and not (out / "results.json").exists()
