"""`xlm-hf finetune` for every task type and `xlm-hf evaluate` for a suite, end to end on the
sample with a tiny model: results files with the promised keys, hub datasets read offline (a
fake of the hub seam), XNLI as a preset giving finetune-xnli's run, a suite that resumes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from xlm_hf.cli import main

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
LANGS = ["en", "fr", "es", "de"]
QUICK = [
    "training.max_steps=4",
    "training.eval_strategy=no",
    "training.save_strategy=no",
    "training.load_best_model_at_end=false",
    "training.disable_tqdm=true",
]


def finetune(recipe: str, model: Path, out: Path, *more: str) -> dict:
    args = [
        "finetune",
        "--config",
        str(ROOT / "recipes/tasks" / recipe),
        f"task.model_name_or_path={model}",
        f"training.output_dir={out}",
        *more,
    ]
    assert main(args) == 0
    return json.loads((out / "task_results.json").read_text())


@pytest.mark.parametrize(
    ("recipe", "metric", "extra"),
    [
        ("sample-sentiment.yaml", "accuracy", {"confusion_matrices"}),
        ("sample-ner.yaml", "f1", set()),
        ("sample-qa.yaml", "f1", set()),
    ],
)
def test_each_trained_task_type_writes_its_table(recipe, metric, extra, tiny_model, tmp_path):
    results = finetune(recipe, tiny_model, tmp_path / "out", *QUICK)
    keys = {
        "task",
        "type",
        "metric",
        "train_languages",
        "selected_by",
        "mode",
        "model",
        "init",
        "train_examples",
        "labels",
        "dev",
        "metrics",
    }
    assert keys | extra <= set(results), set(results)
    assert results["metric"] == metric and results["task"] == recipe.removesuffix(".yaml")
    assert set(results["dev"]) == {*LANGS, "avg"}
    assert all(0 <= results["dev"][lang] <= 1 for lang in LANGS)
    assert set(results["metrics"]["dev"]) == set(LANGS) and metric in results["metrics"]["dev"]["fr"]
    table = (tmp_path / "out" / "task_results.md").read_text()
    assert "| split | en | fr | es | de | avg |" in table and (tmp_path / "out" / "config.json").exists()


def test_retrieval_probes_every_language_both_ways(tiny_model, tmp_path):
    results = finetune("sample-retrieval.yaml", tiny_model, tmp_path / "out")
    assert (
        results["type"] == "retrieval"
        and results["pivot"] == "en"
        and set(results["dev"]) == {"fr", "es", "de", "avg"}
    )
    fr = results["metrics"]["dev"]["fr"]
    assert (
        fr["pairs"] == 200
        and 0 <= fr["layer"] <= 1
        and fr["accuracy"] == pytest.approx((fr["to_pivot"] + fr["from_pivot"]) / 2)
    )
    layer0 = finetune("sample-retrieval.yaml", tiny_model, tmp_path / "l0", "task.layer=0")
    assert {s["layer"] for s in layer0["metrics"]["dev"].values()} == {0}


def test_xnli_as_a_preset_gives_the_finetune_xnli_run(tiny_model, tmp_path):
    more = ["training.max_steps=6", "training.num_train_epochs=1"]
    as_task = finetune("sample-xnli.yaml", tiny_model, tmp_path / "task", *more, "task.max_seq_length=64")
    recipe = ROOT / "recipes/xnli/sample.yaml"
    assert (
        main(
            [
                "finetune-xnli",
                "--config",
                str(recipe),
                f"xnli.model_name_or_path={tiny_model}",
                f"training.output_dir={tmp_path / 'xnli'}",
                "xnli.max_seq_length=64",
                *more,
            ]
        )
        == 0
    )
    as_xnli = json.loads((tmp_path / "xnli" / "xnli_results.json").read_text())
    assert as_task["dev"] == as_xnli["dev"] and as_task["confusion_matrices"] == as_xnli["confusion_matrices"]
    from safetensors.torch import load_file

    a, b = (
        load_file(str(tmp_path / "task" / "model.safetensors")),
        load_file(str(tmp_path / "xnli" / "model.safetensors")),
    )
    assert all((a[k] == b[k]).all() for k in a)


def test_hub_datasets_by_name_offline(tiny_model, tmp_path, monkeypatch):
    """Classification and NER from `hf:` names: the hub seam returns datasets built here, with
    ClassLabel features, so labels are mapped by name."""
    import datasets

    import xlm_hf.data.inputs as inputs

    sentiment = datasets.ClassLabel(names=["negative", "positive"])
    tags = datasets.Sequence(datasets.ClassLabel(names=["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]))
    calls = []

    def fake(name, config=None, split=None, **kwargs):
        calls.append((name, config, split))
        if name == "acme/reviews":
            rows = {"sentence": ["good film", "bad film", "great meal", "awful meal"], "label": [1, 0, 1, 0]}
            return datasets.Dataset.from_dict(
                rows, features=datasets.Features({"sentence": datasets.Value("string"), "label": sentiment})
            )
        rows = {
            "tokens": [["Anna", "lives", "in", "Oslo"], ["Tom", "sings"]],
            "ner_tags": [[1, 0, 0, 3], [1, 0]],
        }
        features = datasets.Features(
            {"tokens": datasets.Sequence(datasets.Value("string")), "ner_tags": tags}
        )
        return datasets.Dataset.from_dict(rows, features=features)

    monkeypatch.setattr(inputs, "hub_load_dataset", fake)
    recipe = ROOT / "recipes/tasks/sample-sentiment.yaml"
    common = [f"task.model_name_or_path={tiny_model}", "task.languages=[en, fr]", *QUICK]
    assert (
        main(
            [
                "finetune",
                "--config",
                str(recipe),
                "task.train=hf:acme/reviews:{lang}",
                "task.eval=hf:acme/reviews:{lang}",
                f"training.output_dir={tmp_path / 'c'}",
                *common,
            ]
        )
        == 0
    )
    results = json.loads((tmp_path / "c" / "task_results.json").read_text())
    assert results["labels"] == ["negative", "positive"] and ("acme/reviews", "fr", "validation") in calls
    recipe = ROOT / "recipes/tasks/sample-ner.yaml"
    assert (
        main(
            [
                "finetune",
                "--config",
                str(recipe),
                "task.train=hf:acme/panx:{lang}",
                "task.eval=hf:acme/panx:{lang}",
                f"training.output_dir={tmp_path / 'n'}",
                *common,
            ]
        )
        == 0
    )
    results = json.loads((tmp_path / "n" / "task_results.json").read_text())
    assert results["labels"] == ["O", "B-LOC", "B-PER"]  # the tags the training data use, O first


def test_a_suite_runs_its_tasks_once_and_reports_them_in_one_table(tiny_model, tmp_path):
    suite = {
        "suite": {
            "model_name_or_path": str(tiny_model),
            "output_dir": str(tmp_path / "suite"),
            "tasks": {
                name: str(ROOT / f"recipes/tasks/sample-{name}.yaml")
                for name in ("sentiment", "ner", "retrieval")
            },
            "overrides": {
                "training.max_steps": 3,
                "training.eval_strategy": "no",
                "training.save_strategy": "no",
                "training.load_best_model_at_end": False,
            },
            "task_overrides": {"retrieval": {"training.max_steps": -1}},
        }
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert main(["evaluate", "--config", str(path)]) == 0
    out = tmp_path / "suite"
    made = json.loads((out / "suite_results.json").read_text())
    assert set(made["tasks"]) == {"sentiment", "ner", "retrieval"}
    assert made["tasks"]["ner"]["type"] == "token-classification" and made["tasks"]["ner"]["metric"] == "f1"
    assert set(made["tasks"]["sentiment"]["scores"]) == set(LANGS)
    averages = [t["avg"] for t in made["tasks"].values()]
    assert made["overall"] == pytest.approx(sum(averages) / 3)
    assert (out / "suite_results.png").stat().st_size > 0 and "| task |" in (
        out / "suite_results.md"
    ).read_text()
    stamp = (out / "ner" / "task_results.json").stat().st_mtime_ns
    log = (out / "logs" / "ner.log").read_text()
    assert "$ xlm-hf finetune --config" in log and "task_results.json and task_results.md" in log
    assert main(["evaluate", "--config", str(path)]) == 0  # finished tasks are not run again
    assert (out / "ner" / "task_results.json").stat().st_mtime_ns == stamp
    assert (out / "logs" / "ner.log").read_text() == log
