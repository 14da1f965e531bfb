"""Data parallelism, gradient accumulation and exact resume, on 2 CPU processes (gloo).

`accelerate launch` on a CPU machine starts one process (several only through MPI), so the tests
start two with `torchrun` (`python -m torch.distributed.run`), which is also what accelerate's
multi-GPU launcher runs underneath. Tolerances: per-step losses within rtol 1e-4 and parameters
within atol 1e-5 where the batch is split differently (float sums in another order); resumed runs
must match the uninterrupted run to rtol 1e-5.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import tiny_recipe
from xlm_hf.cli import main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("ddp_worker.py")
LOSS_RTOL, PARAM_ATOL, RESUME_RTOL = 1e-4, 1e-5, 1e-5


def torchrun(*args: str, nproc: int = 2) -> None:
    """Start `nproc` CPU processes the way a multi-GPU `accelerate launch` does (torch.distributed.run)."""
    # src first: the checkout under test, not whichever copy the environment has installed
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:  # a rank's traceback sits far above torchrun's own report
        errors = [line for line in done.stderr.splitlines() if "Error" in line or "error:" in line]
        pytest.fail(
            f"torchrun exited {done.returncode}:\n" + "\n".join(errors[-20:]) + "\n" + done.stderr[-8000:]
        )


def losses(out: Path) -> list[float]:
    state = json.loads((out / "trainer_state.json").read_text())
    return [entry["loss"] for entry in state["log_history"] if "loss" in entry]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Path:
    """One recipe (vocabulary and token cache built once): MLM + TLM, dropout 0, a loss every step."""
    return one_process_run(tmp_path_factory.mktemp("ddp"))


def one_process_run(tmp: Path, **model) -> Path:
    """The recipe the data-parallel tests share, trained once by one process x batch 8 (`one-x8`);
    `model` changes the model section (the fused path's tests reuse it)."""
    recipe = tiny_recipe(
        tmp,
        data={"max_seq_length": 24},
        model=model,
        training={
            "max_steps": 8,
            "per_device_train_batch_size": 8,
            "eval_strategy": "no",
            "save_steps": 4,
            "logging_steps": 1,
            "warmup_steps": 0,
            "learning_rate": 1e-3,
        },
    )
    assert main(["pretrain", "--config", str(recipe), f"training.output_dir={tmp / 'one-x8'}"]) == 0
    return tmp


def test_two_processes_split_the_batch_of_one_and_stay_in_sync(setup):
    out = setup / "two-x4"
    torchrun(str(WORKER), str(setup / "recipe.yaml"), str(out), "training.per_device_train_batch_size=4")
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    # different rows on each rank at every micro-batch, same number of steps logged
    for step in range(6):
        assert not {tuple(x) for x in ranks[0]["seen"][step]} & {tuple(x) for x in ranks[1]["seen"][step]}
    # the replicas hold bit-identical parameters after 8 optimizer steps
    weights = [torch.load(out / f"rank{r}.pt") for r in range(2)]
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    # 2 processes × batch 4 follow 1 process × batch 8: same losses, same parameters
    single = load_file(str(setup / "one-x8" / "model.safetensors"))
    assert ranks[0]["losses"] == pytest.approx(losses(setup / "one-x8"), rel=LOSS_RTOL)
    for name, value in single.items():
        assert torch.allclose(weights[0][name], value, atol=PARAM_ATOL), name


def test_gradient_accumulation_matches_the_double_batch(setup):
    out = setup / "one-x4-acc2"
    overrides = ["training.per_device_train_batch_size=4", "training.gradient_accumulation_steps=2"]
    assert (
        main(["pretrain", "--config", str(setup / "recipe.yaml"), f"training.output_dir={out}", *overrides])
        == 0
    )
    assert losses(out) == pytest.approx(losses(setup / "one-x8"), rel=LOSS_RTOL)
    single, accumulated = (
        load_file(str(setup / "one-x8" / "model.safetensors")),
        load_file(str(out / "model.safetensors")),
    )
    for name, value in single.items():
        assert torch.allclose(accumulated[name], value, atol=PARAM_ATOL), name


def _resume_matches_uninterrupted(run, out: Path) -> None:
    """8 steps with dropout, checkpoints at 4 and 8; then checkpoint-8 is set aside, the run resumes
    from checkpoint-4, and steps 5-8 must repeat: same losses, same final parameters."""
    dropout = ["model.dropout=0.1", "model.attention_dropout=0.1"]
    run(f"training.output_dir={out}", *dropout)
    uninterrupted = losses(out)
    final = load_file(str(out / "model.safetensors"))
    os.rename(out / "checkpoint-8", out.parent / f"{out.name}-checkpoint-8")
    run(f"training.output_dir={out}", *dropout, "training.resume_from_checkpoint=last")
    resumed = losses(out)
    assert len(resumed) == len(uninterrupted) == 8
    assert resumed[4:] == pytest.approx(uninterrupted[4:], rel=RESUME_RTOL)
    again = load_file(str(out / "model.safetensors"))
    for name, value in final.items():
        assert torch.allclose(again[name], value, atol=1e-6), name


def test_resume_is_exact_on_one_process(setup):
    recipe = str(setup / "recipe.yaml")
    _resume_matches_uninterrupted(
        lambda *o: main(["pretrain", "--config", recipe, *o]) == 0, setup / "resume-1"
    )


def test_resume_is_exact_on_two_processes(setup):
    recipe = str(setup / "recipe.yaml")
    _resume_matches_uninterrupted(
        lambda *o: torchrun(
            "-m", "xlm_hf.pretrain", "--config", recipe, "training.per_device_train_batch_size=4", *o
        ),
        setup / "resume-2",
    )
