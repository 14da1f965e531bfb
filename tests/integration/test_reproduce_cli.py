"""`xlm-hf reproduce` end to end on the embedded sample: every step, the report, and continuing a study."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import yaml

from xlm_hf.cli import main
from xlm_hf.errors import Interrupted, XlmHfError
from xlm_hf.steps import Step, run_step

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ["random", "mlm", "mlm-tlm"]


def tiny_study(tmp: Path) -> Path:
    study = yaml.safe_load((ROOT / "recipes/reproduce/sample.yaml").read_text())["study"]
    study["output_dir"] = str(tmp / "study")
    study["pretrain"] = {name: str(ROOT / path) for name, path in study["pretrain"].items()}
    study["finetune"] = str(ROOT / study["finetune"])
    study["pretrain_overrides"] = {
        "training.max_steps": 4,
        "training.eval_steps": 2,
        "training.save_steps": 2,
        "training.disable_tqdm": True,
    }
    study["finetune_overrides"] = {
        **study["finetune_overrides"],
        "training.max_steps": 2,
        "xnli.max_train_examples": 32,
        "xnli.test": "no",
        "training.disable_tqdm": True,
    }
    study["alignment_sentences"] = 12
    study["seeds"] = [0]  # each step is a subprocess: one seed keeps the test short
    path = tmp / "study.yaml"
    path.write_text(yaml.safe_dump({"study": study}))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One whole tiny study, run in a scratch directory (the sample recipes write runs/vocab/sample)."""
    tmp = tmp_path_factory.mktemp("study")
    mp = pytest.MonkeyPatch()
    mp.chdir(tmp)
    mp.setenv("XLM_HF_CACHE", str(tmp / "cache"))
    recipe = tiny_study(tmp)
    try:
        assert main(["reproduce", "--config", str(recipe)]) == 0
    finally:
        mp.undo()
    return tmp, recipe


@pytest.mark.slow
def test_study_writes_every_result_and_the_report(finished):
    tmp, _ = finished
    out = tmp / "study"
    for variant in ("mlm", "mlm-tlm"):
        results = json.loads((out / f"pretrain-{variant}" / "results.json").read_text())
        assert results["train_steps"] == 4
        assert results["objectives"] == (["mlm"] if variant == "mlm" else ["mlm", "tlm"])
    for variant in VARIANTS:
        for seed in (0,):
            results = json.loads((out / f"xnli-{variant}-seed{seed}" / "xnli_results.json").read_text())
            assert results["init"] == ("random" if variant == "random" else "pretrained")
            assert results["model"].endswith("pretrain-mlm-tlm" if variant == "mlm-tlm" else "pretrain-mlm")
    summary = json.loads((out / "study_results.json").read_text())
    assert list(summary["xnli"]) == VARIANTS and summary["languages"] == ["en", "fr", "es", "de"]
    assert set(summary["alignment"]) == set(VARIANTS)
    for probe in summary["alignment"].values():
        assert probe["sentences"] == 12 and set(probe["retrieval"]) == {"fr", "es", "de"}
        assert all(0.0 <= acc <= 1.0 for acc in probe["retrieval"].values())
    assert set(summary["timings"]) == {*(f"pretrain-{v}" for v in ("mlm", "mlm-tlm")), "alignment"} | {
        f"xnli-{v}-seed0" for v in VARIANTS
    }
    tables = (out / "tables.md").read_text()
    for variant in VARIANTS:
        assert f"| {variant} | " in tables
    assert {Path(p).name for p in summary["plots"]} == {
        "perplexity.png",
        "xnli_accuracy.png",
        "retrieval.png",
        "retrieval_by_layer.png",
    }


@pytest.mark.slow
def test_running_again_redoes_only_what_is_missing(finished, monkeypatch, caplog):
    tmp, recipe = finished
    out = tmp / "study"
    (out / "xnli-mlm-seed0" / "xnli_results.json").unlink()
    before = json.loads((out / "timings.json").read_text())
    monkeypatch.chdir(tmp)
    monkeypatch.setenv("XLM_HF_CACHE", str(tmp / "cache"))
    with caplog.at_level("INFO", logger="xlm_hf.steps"):  # the step runner says what it skips
        assert main(["reproduce", "--config", str(recipe)]) == 0
    assert sum("done already" in r.message for r in caplog.records) == 4
    after = json.loads((out / "timings.json").read_text())
    assert after["xnli-mlm-seed0"] > before["xnli-mlm-seed0"] > 0  # all attempts of the step count
    assert {k: v for k, v in after.items() if k != "xnli-mlm-seed0"} == {
        k: v for k, v in before.items() if k != "xnli-mlm-seed0"
    }
    log = (out / "logs" / "xnli-mlm-seed0.log").read_text()
    assert log.count("$ xlm-hf finetune-xnli") == 2
    assert (out / "logs" / "xnli-random-seed0.log").read_text().count("$ xlm-hf") == 1


class _FakeProcess:
    def __init__(self, argv, code):
        self.argv, self.code, self.signals = argv, code, []

    def wait(self):
        return self.code

    def send_signal(self, signum):
        self.signals.append(signum)


def _fake_popen(monkeypatch, code):
    calls = []

    def popen(argv, stdout, stderr, start_new_session, env):
        assert start_new_session and env["PYTHONUNBUFFERED"] == "1"
        calls.append(argv)
        return _FakeProcess(argv, code)

    monkeypatch.setattr("xlm_hf.steps.subprocess.Popen", popen)
    return calls


def test_a_step_with_checkpoints_resumes(tmp_path, monkeypatch):
    calls = _fake_popen(monkeypatch, 0)
    step = Step("pretrain-mlm", ["pretrain", "--config", "r.yaml"], tmp_path / "run", "results.json")
    run_step(step, tmp_path / "logs" / "a.log")
    (tmp_path / "run" / "checkpoint-2").mkdir(parents=True)
    run_step(step, tmp_path / "logs" / "a.log")
    assert json.loads((tmp_path / "run.step.json").read_text())["argv"] == step.argv
    assert calls[0][-3:] == ["pretrain", "--config", "r.yaml"]
    assert calls[1][-4:] == ["pretrain", "--config", "r.yaml", "--resume"]
    assert (tmp_path / "logs" / "a.log").read_text().count("$ xlm-hf pretrain") == 2


def test_a_failed_step_names_its_log_and_a_stopped_one_keeps_the_signal(tmp_path, monkeypatch):
    step = Step("xnli-mlm-seed0", ["finetune-xnli"], tmp_path / "run", "xnli_results.json")
    _fake_popen(monkeypatch, 1)
    with pytest.raises(
        XlmHfError, match=r"^study step xnli-mlm-seed0 failed \(exit status 1\): see .*a\.log$"
    ):
        run_step(step, tmp_path / "a.log")
    _fake_popen(monkeypatch, 128 + signal.SIGTERM)
    with pytest.raises(Interrupted) as stopped:
        run_step(step, tmp_path / "a.log")
    assert stopped.value.signum == signal.SIGTERM and "run the same command again" in str(stopped.value)
    _fake_popen(monkeypatch, -signal.SIGINT)  # killed by the signal before its handler was set
    with pytest.raises(Interrupted) as stopped:
        run_step(step, tmp_path / "a.log")
    assert stopped.value.signum == signal.SIGINT


def test_a_signal_to_the_study_reaches_the_step_once(tmp_path, monkeypatch):
    """The step runs in its own session: the study passes the first signal on and then stops."""
    import os

    class Signalled(_FakeProcess):
        def wait(self):
            os.kill(os.getpid(), signal.SIGTERM)  # e.g. `kill <study pid>` while the step trains
            return 0  # the step saved and exited cleanly; the study must stop all the same

    procs = []

    def popen(argv, stdout, stderr, start_new_session, env):
        procs.append(Signalled(argv, 0))
        return procs[-1]

    monkeypatch.setattr("xlm_hf.steps.subprocess.Popen", popen)
    step = Step("pretrain-mlm", ["pretrain"], tmp_path / "run", "results.json")
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as stopped:
        run_step(step, tmp_path / "a.log")
    assert procs[0].signals == [signal.SIGTERM] and stopped.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before  # the study's own handlers are back
