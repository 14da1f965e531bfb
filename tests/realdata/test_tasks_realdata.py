"""Every real task recipe runs on ../shared/data/tasks: a few steps of a tiny model on the
languages its sample vocabulary knows, the first questions / sentences of each dev set."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from xlm_hf.cli import main

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
QUICK = [
    "training.max_steps=2",
    "training.eval_strategy=no",
    "training.save_strategy=no",
    "training.load_best_model_at_end=false",
    "training.disable_tqdm=true",
    "task.max_train_examples=64",
    "task.max_eval_examples=40",
]


@pytest.fixture(scope="module")
def suite_data(shared_data, tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("suite_data", ROOT / "studies" / "suite_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("suite-data")
    assert module.realign_tatoeba(shared_data, out)["fr"] == 1000
    module.split_tydiqa(shared_data, out)
    return out


@pytest.mark.parametrize(
    ("recipe", "languages", "metric"),
    [
        ("xnli", "[en, fr]", "accuracy"),
        ("panx", "[en, de]", "f1"),
        ("mlqa", "[en, es]", "f1"),
        ("tydiqa-en", "[en]", "f1"),
        ("tatoeba", "[en, fr, de]", "accuracy"),
    ],
)
def test_a_real_task_runs(
    recipe, languages, metric, shared_data, suite_data, tiny_model, tmp_path, monkeypatch
):
    monkeypatch.setenv("DATA_DIR", str(shared_data))
    monkeypatch.setenv("SUITE_DATA", str(suite_data))
    out = tmp_path / recipe
    args = [
        "finetune",
        "--config",
        str(ROOT / "recipes/tasks" / f"{recipe}.yaml"),
        f"task.model_name_or_path={tiny_model}",
        f"task.languages={languages}",
        "task.max_seq_length=64",
        f"training.output_dir={out}",
    ]
    if recipe == "tatoeba":
        args += ["task.max_eval_examples=40"]
    else:
        args += QUICK + (
            ["task.doc_stride=24", "task.max_query_length=16"] if metric == "f1" and recipe != "panx" else []
        )
    assert main(args) == 0
    results = json.loads((out / "task_results.json").read_text())
    assert results["metric"] == metric and all(0 <= v <= 1 for v in results["dev"].values())
