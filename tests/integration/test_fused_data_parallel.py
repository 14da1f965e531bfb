"""The fused GPU path (``model.training_kernels: fused``) keeps the two properties that
test_data_parallel checks for the default path, here on CPU processes (gloo): 2 processes x batch 4
train on exactly the batch of 1 process x 8, and a resumed run repeats the uninterrupted one
(dropout on: the fused path's dropout draws from the default generator, whose state is saved).
The loader prepares the batches (bucket lengths, target positions) in each process."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from tests.integration.test_data_parallel import (
    LOSS_RTOL,
    PARAM_ATOL,
    WORKER,
    _resume_matches_uninterrupted,
    losses,
    one_process_run,
    torchrun,
)
from xlm_hf.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return one_process_run(tmp_path_factory.mktemp("fused-ddp"), training_kernels="fused")


def test_two_fused_processes_train_on_the_batch_of_one(setup):
    out = setup / "two-x4"
    torchrun(str(WORKER), str(setup / "recipe.yaml"), str(out), "training.per_device_train_batch_size=4")
    weights = [torch.load(out / f"rank{r}.pt") for r in range(2)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["losses"] == pytest.approx(losses(setup / "one-x8"), rel=LOSS_RTOL)
    single = load_file(str(setup / "one-x8" / "model.safetensors"))
    for name, value in single.items():
        assert torch.allclose(weights[0][name], value, atol=PARAM_ATOL), name


def test_a_resumed_fused_run_repeats_the_uninterrupted_one(setup):
    recipe = str(setup / "recipe.yaml")
    _resume_matches_uninterrupted(
        lambda *o: main(["pretrain", "--config", recipe, *o]) == 0, setup / "resume"
    )
