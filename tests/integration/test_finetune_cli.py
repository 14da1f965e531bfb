"""XNLI end to end: a tiny fine-tune writes results for every language; modes; pretraining when missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import sample_xnli_recipe, tiny_recipe
from xlm_hf import SAMPLE_DIR
from xlm_hf.cli import main
from xlm_hf.tasks.trainer import TaskTrainer

pytestmark = pytest.mark.slow
LANGS = ["en", "fr", "es", "de"]


def xnli_recipe(tmp: Path, model: Path, **xnli) -> Path:
    training = {
        "output_dir": str(tmp / "xnli"),
        "num_train_epochs": 2,
        "per_device_train_batch_size": 16,
        "learning_rate": 1e-3,
        "logging_steps": 5,
        "seed": 0,
        "disable_tqdm": True,
    }
    return sample_xnli_recipe(tmp, model, training, **{"languages": LANGS, "max_train_examples": 96, **xnli})


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    """A tiny de/en/es/fr model, then XNLI on it. Fine-tuning never pretrains: with the model
    missing, the XNLI command fails first, naming the command that makes it."""
    tmp = tmp_path_factory.mktemp("xnli")
    langs = ["de", "en", "es", "fr"]
    pre = tiny_recipe(
        tmp,
        vocab={"languages": langs},
        data={"languages": langs, "objectives": ["mlm"]},
        training={"max_steps": 10, "eval_steps": 10, "save_steps": 10},
    )
    model = tmp / "model"
    xnli = str(xnli_recipe(tmp, model, pretrain_recipe=str(pre)))
    assert main(["finetune-xnli", "--config", xnli]) == 2
    assert not model.exists() and not (tmp / "xnli").exists()
    assert main(["pretrain", "--config", str(pre), f"training.output_dir={model}"]) == 0
    assert main(["finetune-xnli", "--config", xnli]) == 0
    return tmp


def test_a_missing_model_names_the_command_that_makes_it(tmp_path, capsys):
    recipe = xnli_recipe(tmp_path, tmp_path / "nowhere", pretrain_recipe="recipes/pretrain/x.yaml")
    assert main(["finetune-xnli", "--config", str(recipe)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"xlm-hf finetune-xnli: error: xnli.model_name_or_path: {tmp_path / 'nowhere'} is not an HF model "
        f"directory; make it with `xlm-hf pretrain --config recipes/pretrain/x.yaml "
        f"training.output_dir={tmp_path / 'nowhere'}`"
    )
    assert not (tmp_path / "xnli").exists()


def test_zero_shot_results_cover_every_language(pretrained):
    results = json.loads((pretrained / "xnli" / "xnli_results.json").read_text())
    assert results["train_languages"] == ["en"] and results["selected_by"] == "dev.en"
    for split in ("dev", "test"):
        assert set(results[split]) == {*LANGS, "avg"}
        assert all(0.0 <= acc <= 1.0 for acc in results[split].values())
        for lang in LANGS:
            matrix = results["confusion_matrices"][split][lang]
            assert len(matrix) == 3 and sum(map(sum, matrix)) == 60
            assert sum(matrix[i][i] for i in range(3)) / 60 == pytest.approx(results[split][lang])
    table = (pretrained / "xnli" / "xnli_results.md").read_text()
    assert "| split | en | fr | es | de | avg |" in table and "| dev |" in table and "| test |" in table


def test_translate_train_all_selects_on_the_average(pretrained, tmp_path):
    rows = (SAMPLE_DIR / "nli-en" / "sample.train.tsv").read_text().splitlines()[:48]
    mt = tmp_path / "mt"
    mt.mkdir()
    for lang in ("en", "fr"):  # XNLI-MT layout: header premise/hypo/label, "contradictory"
        body = [line.replace("\tcontradiction", "\tcontradictory") for line in rows]
        (mt / f"multinli.train.{lang}.tsv").write_text("premise\thypo\tlabel\n" + "\n".join(body) + "\n")
    recipe = xnli_recipe(
        tmp_path,
        pretrained / "model",
        train=str(mt),
        mode="translate-train-all",
        selected_by="average",
        languages=["en", "fr"],
        test="no",
    )
    assert main(["finetune-xnli", "--config", str(recipe), "training.num_train_epochs=1"]) == 0
    results = json.loads((tmp_path / "xnli" / "xnli_results.json").read_text())
    assert results["train_languages"] == ["en", "fr"] and results["selected_by"] == "dev.avg"
    assert results["train_examples"] == 96 and "test" not in results


def test_unknown_language_fails_naming_the_key(pretrained, tmp_path, capsys):
    recipe = xnli_recipe(tmp_path, pretrained / "model", languages=["en", "sw"])
    assert main(["finetune-xnli", "--config", str(recipe)]) == 2
    assert "xnli.model_name_or_path: languages ['sw']" in capsys.readouterr().err


def test_two_processes_fine_tune_and_score_every_example_once(pretrained, tmp_path):
    """`torchrun` with 2 CPU processes: one results file, each dev/test example counted once."""
    from .test_data_parallel import torchrun

    recipe = xnli_recipe(tmp_path, pretrained / "model")
    torchrun("-m", "xlm_hf.finetune_xnli", "--config", str(recipe), "training.per_device_train_batch_size=8")
    results = json.loads((tmp_path / "xnli" / "xnli_results.json").read_text())
    for split in ("dev", "test"):
        for lang in LANGS:
            assert sum(map(sum, results["confusion_matrices"][split][lang])) == 60, (split, lang)


def test_sigterm_during_fine_tuning_saves_and_resume_finishes(pretrained, tmp_path):
    import signal

    from xlm_hf.training.checkpoints import is_complete

    from .test_interrupt import start_training, wait_for_steps

    recipe = xnli_recipe(tmp_path, pretrained / "model")
    long_run = ["training.num_train_epochs=200", "training.logging_steps=1"]
    proc = start_training(recipe, *long_run, entry="xlm_hf.finetune_xnli")
    wait_for_steps(proc, 3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "xlm-hf finetune-xnli: stopped by SIGTERM: checkpoint saved to " in err.strip().splitlines()[-1]
    checkpoints = list((tmp_path / "xnli").glob("checkpoint-*"))
    assert len(checkpoints) == 1 and is_complete(checkpoints[0])
    assert not (tmp_path / "xnli" / "xnli_results.json").exists()
    # the same settings, a shorter run: resume continues from the checkpoint and finishes
    step = int(checkpoints[0].name.split("-")[1])
    steps_run = []
    real_step = TaskTrainer.training_step

    def counted(self, *args, **kwargs):
        steps_run.append(self.state.global_step)
        return real_step(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TaskTrainer, "training_step", counted)
        resumed = ["finetune-xnli", "--config", str(recipe), f"training.max_steps={step + 2}", "--resume"]
        assert main(resumed) == 0
    assert steps_run == [step, step + 1]  # continued at its checkpoint's step: two steps, not all
    dev = json.loads((tmp_path / "xnli" / "xnli_results.json").read_text())["dev"]
    assert set(dev) == {*LANGS, "avg"} and all(0 <= acc <= 1 for acc in dev.values())


def _weights(directory: Path) -> dict:
    from safetensors.torch import load_file

    return {
        k.removeprefix("transformer."): v for k, v in load_file(str(directory / "model.safetensors")).items()
    }


def test_random_init_keeps_the_architecture_not_the_weights(pretrained, tmp_path):
    recipe = xnli_recipe(tmp_path, pretrained / "model", init="random", test="no")
    assert (
        main(
            ["finetune-xnli", "--config", str(recipe), "training.max_steps=1", "training.learning_rate=1e-9"]
        )
        == 0
    )
    results = json.loads((tmp_path / "xnli" / "xnli_results.json").read_text())
    assert results["init"] == "random" and set(results["dev"]) == {*LANGS, "avg"}
    before, after = _weights(pretrained / "model"), _weights(tmp_path / "xnli")
    for name in ("embeddings.weight", "position_embeddings.weight", "attentions.0.q_lin.weight"):
        assert after[name].shape == before[name].shape and not torch.allclose(after[name], before[name]), name


def test_the_papers_protocol_runs_without_clipping_or_classifier_dropout(pretrained, tmp_path):
    recipe = xnli_recipe(tmp_path, pretrained / "model", linear_init="xlm", classifier_dropout=0.0, test="no")
    args = ["training.max_steps=2", "training.max_grad_norm=0", "training.lr_scheduler_type=constant"]
    assert main(["finetune-xnli", "--config", str(recipe), *args]) == 0
    saved = json.loads((tmp_path / "xnli" / "config.json").read_text())
    assert saved["summary_first_dropout"] == 0.0
    assert set(json.loads((tmp_path / "xnli" / "xnli_results.json").read_text())["dev"]) == {*LANGS, "avg"}


def test_frozen_embeddings_stay_as_pretrained(pretrained, tmp_path):
    recipe = xnli_recipe(tmp_path, pretrained / "model", freeze_embeddings=True, test="no")
    assert main(["finetune-xnli", "--config", str(recipe), "training.max_steps=4"]) == 0
    before, after = _weights(pretrained / "model"), _weights(tmp_path / "xnli")
    for name in ("embeddings.weight", "position_embeddings.weight", "lang_embeddings.weight"):
        assert torch.equal(after[name], before[name]), name
    assert not torch.equal(after["attentions.0.q_lin.weight"], before["attentions.0.q_lin.weight"])


def test_evaluation_language_ids_can_be_the_training_language(pretrained, tmp_path, monkeypatch):
    """The diagnostic switch: every dev set is scored with `langs` = en, its text unchanged."""
    from xlm_hf.tasks import trainer as task_trainer

    seen = {}
    real = task_trainer.final_report

    def spy(trainer, kind, data, config):
        seen.update({lang: (ds["langs"][0][0], ds["input_ids"][0]) for lang, ds in data.dev.items()})
        return real(trainer, kind, data, config)

    monkeypatch.setattr(task_trainer, "final_report", spy)
    recipe = xnli_recipe(tmp_path, pretrained / "model", test="no")
    args = ["finetune-xnli", "--config", str(recipe), "training.max_steps=1"]
    assert main([*args, "xnli.eval_language_ids=train_language"]) == 0
    relabelled = dict(seen)
    assert main([*args, "training.overwrite_output_dir=true"]) == 0
    en = seen["en"][0]
    for lang in LANGS:
        assert relabelled[lang][0] == en  # the training language's id everywhere
        assert relabelled[lang][1] == seen[lang][1]  # the same tokens
    assert len({seen[lang][0] for lang in LANGS}) == 4  # by default, each language its own id


def test_the_xlm_preprocessing_travels_from_vocabulary_to_fine_tuned_model(tmp_path):
    """`vocab.preprocessing: xlm` is recorded in the vocabulary, kept by the pretrained model, found
    there by XNLI fine-tuning (the recipe does not repeat it) and kept by the fine-tuned model."""
    from xlm_hf.text.pretokenize import RECORD_KEY

    pre = tiny_recipe(
        tmp_path,
        vocab={"preprocessing": "xlm"},
        data={"objectives": ["mlm"]},
        training={"max_steps": 4, "eval_steps": 4, "save_steps": 4},
    )
    assert main(["pretrain", "--config", str(pre)]) == 0
    recipe = xnli_recipe(tmp_path, tmp_path / "out", languages=["en", "fr"], max_train_examples=16)
    assert main(["finetune-xnli", "--config", str(recipe), "training.num_train_epochs=1"]) == 0
    for directory in ("vocab", "out", "xnli"):
        config = json.loads((tmp_path / directory / "tokenizer_config.json").read_text())
        assert config[RECORD_KEY] == "xlm", directory
