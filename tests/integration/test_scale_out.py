"""Scale-out engines against DDP on 1 node x 2 CPU processes (gloo), one baseline run shared.

FSDP2 and DeepSpeed ZeRO-2, each started by `accelerate launch` with its CPU config
(recipes/accelerate/fsdp-cpu.yaml, deepspeed-cpu.yaml): pretraining and XNLI fine-tuning train,
checkpoint, resume exactly and export the plain HF model directory that data parallelism (DDP,
`torchrun`) exports, with the same losses; the engine's own line proves it ran (parameters
sharded as DTensors; ZeRO's optimizer partitioned).

Two nodes, simulated: two `torchrun` launchers (--nnodes 2, one process each, c10d rendezvous on
127.0.0.1) train what 1 node x 2 processes trains, with one token store that one process builds,
or with a store per node (each its own XLM_HF_CACHE) that each node's main process builds.

Tolerances. FSDP reduce-scatters gradients where DDP all-reduces them, and it trains through HF's
forward (the toolkit's CPU kernels are switched off under sharding) where DDP runs the kernels;
ZeRO-2 reduces gradients in its own buckets and steps a partitioned fp32 copy. The same sums in
another order: float rounding only (about 1e-7 relative per operation; measured: losses within
1.3e-7 relative, parameters within 6e-6 after 8 steps at learning rate 1e-3, where Adam turns
rounding in near-zero gradients into steps of up to the learning rate's size). So the per-step
losses of each engine agree with DDP's within rtol 1e-4 and the parameters within atol 1e-5, the
bounds the DDP tests already use for a batch split another way. A resumed run repeats its
uninterrupted run within the DDP resume bounds (rtol 1e-5, atol 1e-6).
"""

from __future__ import annotations

import functools
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import sample_xnli_recipe
from tests.integration.test_data_parallel import (
    LOSS_RTOL,
    PARAM_ATOL,
    _resume_matches_uninterrupted,
    losses,
    one_process_run,
    torchrun,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "recipes" / "accelerate"
#: engine -> (its CPU launch config, the pattern of its engine line: (values held, values in all))
ENGINES = {
    "fsdp": (
        CONFIGS / "fsdp-cpu.yaml",
        r"engine: FSDP2 \(2 process\(es\), cpu\): \d+ fully_shard unit\(s\), this rank holds ([\d,]+) of ([\d,]+)",
    ),
    "deepspeed": (
        CONFIGS / "deepspeed-cpu.yaml",
        r"engine: DeepSpeed ZeRO-2 \(2 process\(es\), cpu\): this rank holds ([\d,]+) of ([\d,]+) optimizer",
    ),
}


def env() -> dict[str, str]:
    """This checkout first on the path, one thread a process, no launcher settings inherited."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "FSDP_"))}
    out.update(OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@functools.cache
def deepspeed_ops_built() -> None:
    """DeepSpeed compiles its CPU communication op (shared-memory all-reduce) on first use and keeps
    it in ~/.cache/torch_extensions: built here once, in one process, before two ranks need it (on
    a fresh machine the compiler takes a minute or more, which a launch's timeout must not pay)."""
    code = "from deepspeed.ops.op_builder.cpu import ShareMemCommBuilder; ShareMemCommBuilder().load()"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env(), capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stderr[-3000:]


def launch(engine: str, *args: str) -> str:
    """`accelerate launch` with `engine`'s CPU config on this checkout; returns its stderr."""
    if engine == "deepspeed":
        pytest.importorskip("deepspeed", reason="deepspeed is not installed (make install installs it)")
        deepspeed_ops_built()
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ENGINES[engine][0]),
        "--main_process_port", str(free_port()), *args,
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=600)
    if done.returncode != 0:  # the whole stderr: which rank failed, and why, is above the launcher's summary
        pytest.fail(
            f"accelerate launch exited {done.returncode}:\n" + "\n".join(done.stderr.splitlines()[-80:])
        )
    return done.stderr


def evidence(engine: str, stderr: str) -> tuple[int, int]:
    """(values rank 0 holds, values in all) from the one engine line rank 0 logs."""
    found = re.findall(ENGINES[engine][1], stderr)
    assert len(found) == 1, stderr[-3000:]
    held, total = (int(x.replace(",", "")) for x in found[0])
    return held, total


def assert_same_model_directory(
    a: Path, b: Path, atol: float, architecture: str = "XLMWithLMHeadModel"
) -> None:
    """The same plain HF directory: the same files, configs, tokenizer, and weights within `atol`."""
    needed = {"config.json", "model.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json"}
    assert needed <= {p.name for p in a.iterdir()} and needed <= {p.name for p in b.iterdir()}
    config_a, config_b = (json.loads((d / "config.json").read_text()) for d in (a, b))
    assert config_a["architectures"] == [architecture] and config_a == config_b
    for name in ("vocab.json", "merges.txt"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    weights_a, weights_b = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert weights_a.keys() == weights_b.keys()
    for name, value in weights_a.items():
        assert torch.allclose(weights_b[name], value, atol=atol), name


BATCH = "training.per_device_train_batch_size=4"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """The shared recipe (8 steps, dropout 0, a loss every step), trained once by one process x 8
    and once with DDP (2 x 4, torchrun): the baselines of every test here."""
    tmp = one_process_run(tmp_path_factory.mktemp("scale-out"))
    recipe = str(tmp / "recipe.yaml")
    torchrun("-m", "xlm_hf.pretrain", "--config", recipe, BATCH, f"training.output_dir={tmp / 'ddp'}")
    return tmp


@pytest.mark.parametrize("engine", ["fsdp", "deepspeed"])
def test_the_engine_runs_follows_ddp_and_exports_the_same_model(runs, engine):
    out = runs / engine
    stderr = launch(
        engine,
        "-m",
        "xlm_hf.pretrain",
        "--config",
        str(runs / "recipe.yaml"),
        BATCH,
        f"training.output_dir={out}",
    )
    held, total = evidence(engine, stderr)
    assert total / 2 <= held < total  # rank 0 holds its half (shards round up), not all
    if engine == "fsdp":  # the CPU kernels read whole parameters: off under FSDP, in one line
        assert stderr.count("training steps run HF's forward, not xlm_hf") == 1
    results = json.loads((out / "results.json").read_text())
    assert results["world_size"] == 2 and results["train_steps"] == 8
    assert losses(out) == pytest.approx(losses(runs / "ddp"), rel=LOSS_RTOL)
    assert losses(out) == pytest.approx(losses(runs / "one-x8"), rel=LOSS_RTOL)
    assert_same_model_directory(out, runs / "ddp", PARAM_ATOL)
    from transformers import XLMWithLMHeadModel

    XLMWithLMHeadModel.from_pretrained(out)  # loads without xlm-hf code


@pytest.mark.parametrize("engine", ["fsdp", "deepspeed"])
def test_a_resumed_run_of_the_engine_repeats_the_uninterrupted_one(runs, engine):
    recipe = str(runs / "recipe.yaml")
    _resume_matches_uninterrupted(
        lambda *o: launch(engine, "-m", "xlm_hf.pretrain", "--config", recipe, BATCH, *o),
        runs / f"resume-{engine}",
    )


# ----------------------------------------------------------------------------- XNLI


def xnli_recipe(tmp: Path, model: Path) -> Path:
    """XNLI on the pretrained model: 64 English pairs, 2 x 4 per step, a loss every step,
    checkpoints at steps 4 and 8 (no best-model reload: the run's last weights are compared)."""
    training = {
        "num_train_epochs": 1,
        "per_device_train_batch_size": 4,
        "learning_rate": 3e-4,
        "warmup_steps": 0,
        "logging_steps": 1,
        "eval_strategy": "no",
        "save_strategy": "steps",
        "save_steps": 4,
        "save_total_limit": None,
        "load_best_model_at_end": False,
        "seed": 0,
        "disable_tqdm": True,
    }
    return sample_xnli_recipe(tmp, model, training, max_train_examples=64)


@pytest.fixture(scope="module")
def xnli_ddp(runs) -> Path:
    """XNLI with DDP (2 x 4, torchrun) on the DDP-pretrained model: the XNLI baseline."""
    recipe = str(xnli_recipe(runs, runs / "ddp"))
    torchrun("-m", "xlm_hf.finetune_xnli", "--config", recipe, f"training.output_dir={runs / 'xnli-ddp'}")
    return runs / "xnli-ddp"


@pytest.mark.parametrize("engine", ["fsdp", "deepspeed"])
def test_xnli_under_the_engine_follows_ddp_and_resumes_exactly(runs, xnli_ddp, engine):
    out = runs / f"xnli-{engine}"
    command = [
        "-m",
        "xlm_hf.finetune_xnli",
        "--config",
        str(runs / "xnli.yaml"),
        f"training.output_dir={out}",
    ]
    held, total = evidence(engine, launch(engine, *command))
    assert held < total
    # the log history of the last checkpoint: finetune writes no trainer_state.json beside the model
    ddp, mine = losses(xnli_ddp / "checkpoint-8"), losses(out / "checkpoint-8")
    assert len(mine) == 8 and mine == pytest.approx(ddp, rel=LOSS_RTOL)
    results = [json.loads((d / "xnli_results.json").read_text()) for d in (xnli_ddp, out)]
    assert results[0]["dev"] == results[1]["dev"] and results[0]["test"] == results[1]["test"]
    assert_same_model_directory(out, xnli_ddp, PARAM_ATOL, "XLMForSequenceClassification")

    # resume from step 4: steps 5-8 repeat, and so do the final weights
    final = load_file(str(out / "model.safetensors"))
    os.rename(out / "checkpoint-8", runs / f"xnli-{engine}-checkpoint-8")
    launch(engine, *command, "training.resume_from_checkpoint=last")
    assert losses(out / "checkpoint-8")[4:] == pytest.approx(mine[4:], rel=1e-5)
    again = load_file(str(out / "model.safetensors"))
    for name, value in final.items():
        assert torch.allclose(again[name], value, atol=1e-6), name


# ----------------------------------------------------------------------------- two nodes, simulated


def two_nodes(tmp: Path, *args: str, caches: tuple[str, str] | None = None) -> list[str]:
    """Two `torchrun` launchers as two nodes of one process each (c10d rendezvous on 127.0.0.1),
    started together; `caches`: each node's own XLM_HF_CACHE. Returns each launcher's stderr
    (written to files: a full pipe would stall one node while the other waits for it)."""
    port, procs, logs = free_port(), [], [tmp / f"node{node}.stderr" for node in (0, 1)]
    for node in (0, 1):
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", str(node),
            "--nproc_per_node", "1", "--rdzv_backend", "c10d", "--rdzv_endpoint", f"127.0.0.1:{port}",
            "--rdzv_id", f"xlm-hf-{port}", *args,
        ]  # fmt: skip
        node_env = {**env(), **({"XLM_HF_CACHE": caches[node]} if caches else {})}
        with open(logs[node], "w") as log:
            procs.append(subprocess.Popen(cmd, cwd=ROOT, env=node_env, stdout=subprocess.DEVNULL, stderr=log))
    try:
        for proc in procs:
            proc.wait(timeout=600)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    errs = [log.read_text() for log in logs]
    for proc, err in zip(procs, errs):
        assert proc.returncode == 0, err[-3000:]
    return errs


def built_and_reused(stderr: str) -> tuple[list[str], list[str]]:
    """(entries this launcher's process tokenised, entries it found in the store)."""
    return re.findall(r"tokenised (\S+) into", stderr), re.findall(r"reusing tokenised (\S+) from", stderr)


def assert_same_run(out: Path, baseline: Path) -> None:
    assert losses(out) == pytest.approx(losses(baseline), rel=LOSS_RTOL)
    assert_same_model_directory(out, baseline, PARAM_ATOL)


def test_two_nodes_sharing_a_store_build_it_once_and_train_as_one_node(runs):
    """One file system: the global main process (whichever launcher the rendezvous gave rank 0)
    builds each entry; the other node's process waits, then maps it."""
    out, cache = runs / "two-nodes-shared", runs / "shared-cache"
    recipe = str(runs / "recipe.yaml")
    errs = two_nodes(
        runs, "-m", "xlm_hf.pretrain", "--config", recipe, "training.per_device_train_batch_size=4",
        f"training.output_dir={out}", f"data.cache_dir={cache}",
    )  # fmt: skip
    entries = ["mono.en", "mono.fr", "para.en-fr"]
    (built_a, reused_a), (built_b, reused_b) = (built_and_reused(err) for err in errs)
    assert sorted([built_a, built_b]) == [[], entries]  # one launcher built every entry, once
    assert sorted([reused_a, reused_b]) == [[], entries]  # and the other found them
    assert len([p for p in cache.iterdir() if not p.name.startswith(".")]) == 3
    assert_same_run(out, runs / "ddp")


def test_two_nodes_with_their_own_stores_each_build_theirs_and_agree(runs):
    """No shared cache: each node's main process builds its node's store (here one process per
    node), the two stores are byte for byte the same, and the run is 1 node x 2 processes'."""
    out = runs / "two-nodes-local"
    caches = (str(runs / "node0-cache"), str(runs / "node1-cache"))
    errs = two_nodes(
        runs, "-m", "xlm_hf.pretrain", "--config", str(runs / "recipe.yaml"), "training.per_device_train_batch_size=4",
        f"training.output_dir={out}", "data.cache_dir=null", caches=caches,
    )  # fmt: skip
    for err in errs:
        assert built_and_reused(err) == (["mono.en", "mono.fr", "para.en-fr"], [])
    stores = [sorted(p.name for p in Path(c).iterdir() if not p.name.startswith(".")) for c in caches]
    assert stores[0] == stores[1] and len(stores[0]) == 3
    for entry in stores[0]:
        for array in (Path(caches[0]) / entry).glob("*.npy"):
            assert array.read_bytes() == (Path(caches[1]) / entry / array.name).read_bytes()
    assert_same_run(out, runs / "ddp")
