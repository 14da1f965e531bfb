"""`xlm-hf reproduce` on a tiny twin study: the data it writes, the budget points, and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from xlm_hf import SAMPLE_DIR
from xlm_hf.cli import main

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ["random", "mlm", "mlm-tlm"]


def tiny_twin_study(tmp: Path) -> Path:
    study = yaml.safe_load((ROOT / "recipes/reproduce/twin.yaml").read_text())["study"]
    data = tmp / "study" / "data"
    study["output_dir"] = str(tmp / "study")
    study["twin"] = {
        "english": [
            str(SAMPLE_DIR / "mono/en.txt"),
            *(str(p) for p in sorted((SAMPLE_DIR / "para").glob("*.en"))),
        ],
        "heldout_lines": 16,
        "tlm_lines": 150,
        "xnli_dev": str(SAMPLE_DIR / "xnli/dev/en.tsv"),
    }
    study["pretrain"] = {name: str(ROOT / path) for name, path in study["pretrain"].items()}
    study["finetune"] = str(ROOT / study["finetune"])
    study["pretrain_overrides"] = {
        "data.data_dir": str(data),
        "vocab.data_dir": str(data),
        "vocab.vocab_size": 400,
        "vocab.output_dir": str(tmp / "vocab"),
        "model.tokenizer": str(tmp / "vocab"),
        "model.n_layers": 2,
        "training.max_steps": 4,
        "training.eval_steps": 2,
        "training.save_steps": 2,
        "training.disable_tqdm": True,
    }
    study["finetune_overrides"] = {
        # a list of training files, as MultiNLI + SNLI
        "xnli.train": [str(SAMPLE_DIR / "nli-en/sample.train.tsv")] * 2,
        "xnli.eval": str(data / "xnli"),
        "xnli.max_train_examples": 32,
        "xnli.test": "no",
        "training.max_steps": 2,
        "training.disable_tqdm": True,
    }
    study["seeds"] = [0]
    study["budgets"] = [2]
    study["budget_seeds"] = [0]  # the shipped twin study probes its budgets only; fine-tune one here too
    path = tmp / "study.yaml"
    path.write_text(yaml.safe_dump({"study": study}))
    return path


@pytest.mark.slow
def test_a_twin_study_writes_its_data_budget_points_and_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XLM_HF_CACHE", str(tmp_path / "cache"))
    assert main(["reproduce", "--config", str(tiny_twin_study(tmp_path))]) == 0
    out = tmp_path / "study"
    record = json.loads((out / "data" / "twin_data.json").read_text())
    assert record["lines"]["heldout"] == 16 and record["lines"]["para"] == 150
    assert record["settings"]["heldout_lines"] == 16
    vocab = json.loads((tmp_path / "vocab" / "vocab.json").read_text())
    assert {"en", "twin"} <= set(
        json.loads((tmp_path / "vocab" / "tokenizer_config.json").read_text())["lang2id"]
    )
    armenian = [t for t in vocab if any("\u0531" <= c <= "\u0586" for c in t)]
    # no subword mixes the two alphabets (`</w>` marks a word's end)
    assert armenian and not any(c.isascii() and c.isalpha() for t in armenian for c in t.removesuffix("</w>"))

    budget = json.loads((out / "xnli-mlm-tlm@2-seed0" / "xnli_results.json").read_text())
    assert budget["model"].endswith("pretrain-mlm-tlm/checkpoint-2")
    assert set(budget["dev"]) == {"en", "twin", "avg"}

    summary = json.loads((out / "study_results.json").read_text())
    assert list(summary["xnli"]) == VARIANTS and summary["languages"] == ["en", "twin"]
    assert set(summary["alignment"]) == {*VARIANTS, "mlm@2", "mlm-tlm@2"}
    for probe in summary["alignment"].values():
        assert probe["sentences"] == 16 and probe["pivot"] == "en"
        assert len(probe["by_layer"]["twin"]["from_pivot"]) == 1 + 2  # embeddings and the 2 layers
        assert probe["best_layer"]["twin"]["layer"] in range(3)
        assert probe["retrieval"]["twin"] == probe["by_layer"]["twin"]["from_pivot"][-1]
    shared = summary["shared_tokens"]
    assert shared["tokens"]["en"] > 0 and shared["tokens"]["twin"] > 0
    assert shared["shared_with_a_letter_or_digit"] == []  # only punctuation and symbols in common
    assert summary["twin_data"]["commutation"]["lines"] == sum(
        summary["twin_data"]["lines"][k] for k in ("mono_twin", "para", "heldout")
    )
    head = summary["headline"]
    assert set(head["transfer_ratio"]) == set(VARIANTS)
    assert set(head["retrieval_top1_best_layer"]) >= set(VARIANTS)
    points = summary["budgets"]["mlm-tlm"]
    assert [p["steps"] for p in points] == [2, 4] and points[0]["tokens"] < points[1]["tokens"]
    assert {Path(p).name for p in summary["plots"]} == {
        "perplexity.png",
        "xnli_accuracy.png",
        "retrieval.png",
        "retrieval_by_layer.png",
        "budgets.png",
    }
    tables = (out / "tables.md").read_text()
    assert "### Transfer:" in tables and "| mlm-tlm | 2 |" in tables
