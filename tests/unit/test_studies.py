"""The study helper scripts (studies/): Tatoeba realigned, TyDiQA split by article, the tag baseline."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import write

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("suite_data", ROOT / "studies" / "suite_data.py")
suite_data = importlib.util.module_from_spec(spec)
spec.loader.exec_module(suite_data)


def test_tatoeba_is_realigned_through_the_parallel_text(tmp_path):
    data = tmp_path / "data"
    write(data / "tasks/tatoeba/fr-en.fr", "Bonjour.\nMerci.\nInconnu.\n")
    write(data / "tasks/tatoeba/fr-en.en", "Hello.\nThanks.\n")  # sorted: not aligned with the fr side
    write(data / "para/en-fr.fr", "Merci.\nBonjour.\nAutre.\n")
    write(data / "para/en-fr.en", "Thanks.\nHello.\nOther.\n")
    assert suite_data.realign_tatoeba(data, tmp_path / "out") == {"fr": 2}
    assert (tmp_path / "out/tatoeba/fr-en.fr").read_text() == "Bonjour.\nMerci.\n"
    assert (tmp_path / "out/tatoeba/fr-en.en").read_text() == "Hello.\nThanks.\n"


def test_tydiqa_english_is_split_by_article(tmp_path):
    data = tmp_path / "data"
    articles = [
        {"paragraphs": [{"context": f"c{i}", "qas": [{"id": f"q{i}a"}, {"id": f"q{i}b"}]}]} for i in range(20)
    ]
    write(data / "tasks/tydiqa/train-en.json", json.dumps({"version": "v", "data": articles}))
    assert suite_data.split_tydiqa(data, tmp_path / "out") == (36, 4)
    dev = json.loads((tmp_path / "out/tydiqa/dev-en.json").read_text())["data"]
    train = json.loads((tmp_path / "out/tydiqa/train-en.json").read_text())["data"]
    assert {a["paragraphs"][0]["context"] for a in dev}.isdisjoint(
        a["paragraphs"][0]["context"] for a in train
    )


def test_the_tag_baseline_tags_each_word_with_its_most_frequent_tag():
    spec = importlib.util.spec_from_file_location("tag_baseline", ROOT / "studies" / "tag_baseline.py")
    baseline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(baseline)
    train = [
        {"words": ["Paris", "is", "big"], "tags": ["B-LOC", "O", "O"]},
        {"words": ["Paris", "Hilton", "sings"], "tags": ["B-PER", "I-PER", "O"]},
        {"words": ["Paris", "again"], "tags": ["B-LOC", "O"]},
    ]
    table = baseline.most_frequent_tags(train)
    assert table["Paris"] == "B-LOC" and table["Hilton"] == "I-PER"
    dev = [
        {"words": ["Paris", "Hilton", "sings"], "tags": ["B-PER", "I-PER", "O"]},
        {"words": ["Rome"], "tags": ["B-LOC"]},
    ]
    # predicted: B-LOC I-PER O (one LOC, one lone I-PER chunk), O: 0 of 2 gold entities right
    assert baseline.baseline_f1(table, dev) == 0.0
    assert baseline.baseline_f1(table, [{"words": ["Paris", "is"], "tags": ["B-LOC", "O"]}]) == 1.0


def _study(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "studies" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_panx_twin_is_the_english_dev_enciphered_with_its_tags_and_counts_shared_entity_tokens(tmp_path):
    panx = tmp_path / "data" / "tasks" / "panx"
    write(panx / "train-en.tsv", "Paris\tB-LOC\nis\tO\n\nAnna\tB-PER\nsings\tO\n")
    write(panx / "dev-en.tsv", "Anna\tB-PER\nKarenina\tI-PER\n, \tO\n\n")
    write(panx / "dev-fr.tsv", "Paris\tB-LOC\nAnne\tB-PER\n\n")
    study = _study("panx_twin")
    study.main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--languages", "fr"])
    from xlm_hf.reproduce.twin import decipher
    from xlm_hf.tasks.files import read_conll

    dev, twin = read_conll(tmp_path / "out" / "dev-en.tsv"), read_conll(tmp_path / "out" / "dev-twin.tsv")
    assert [s["tags"] for s in twin] == [s["tags"] for s in dev] == [["B-PER", "I-PER", "O"]]
    assert twin[0]["words"][0] != "Anna" and decipher(twin[0]["words"][0]) == "Anna"
    train = read_conll(tmp_path / "out" / "train-en.tsv")
    assert study.shared_entity_tokens(train, dev) == 0.5  # Anna, not Karenina
    assert study.shared_entity_tokens(train, twin) == 0.0
    assert study.shared_entity_tokens(train, read_conll(panx / "dev-fr.tsv")) == 0.5  # Paris, not Anne


def test_the_sweep_table_has_one_row_per_run_with_its_settings(tmp_path):
    pytest.importorskip("transformers")
    sweep = _study("finetune_sweep")
    run = {
        "name": "r1", "overrides": ["xnli.init=random", "xnli.pooling=mean", "training.learning_rate=3e-4"],
        "dev": {"en": 0.432, "twin": 0.33}, "train_accuracy": 0.56, "losses": [1.1, 0.9475], "minutes": 9.94,
        "evals": [{"eval_accuracy.en": 0.35}, {"eval_accuracy.en": 0.4}],
    }  # fmt: skip
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps(run) + "\n")
    lines = sweep.table(str(results)).splitlines()
    assert len(lines) == 3
    assert (
        lines[2]
        == "| r1 | random init | mean | 3e-4 | 2 | 100 | | 43.2 | 33.0 | 56.0 | 0.948 | 9.9 | 35.0, 40.0 |"
    )


def test_the_learns_summary_takes_the_recipe_that_learns_and_rates_transfer_only_above_chance_plus_10():
    summary = _study("learns_summary")
    assert summary.transfer_ratio(0.40, 0.39) is None  # English only 6.7 points above chance
    assert abs(summary.transfer_ratio(0.5333, 0.4333) - 0.5) < 1e-3
    learns = {"xnli.pooling": "mean", "training.learning_rate": "3e-4", "training.num_train_epochs": "10"}
    runs = [
        {
            "overrides": [f"{k}={v}" for k, v in {**learns, "xnli.init": "random"}.items()],
            "dev": {"en": 0.43},
        },
        {
            "overrides": [f"{k}={v}" for k, v in {**learns, "xnli.model_name_or_path": "a"}.items()],
            "dev": {"en": 0.45},
        },
        {"overrides": ["xnli.model_name_or_path=b"], "dev": {"en": 0.60}},  # another recipe: not counted
    ]
    for run in runs:
        run["settings"] = dict(item.split("=", 1) for item in run["overrides"])
    bow = {"accuracy": {"full": {"x/dev/en.tsv": 0.58, "x/dev/fr.tsv": 0.39}}}
    got = summary.learns(bow, runs)
    assert got["xnli_en"] == {"bow": 0.58, "random": 0.43, "best_pretrained": 0.45}
    assert got["best_pretrained_encoder"] == "a"


def test_suite_runs_side_by_side_one_row_per_task_and_model():
    compare = _study("suite_compare").compare
    run = {
        "tasks": {
            "panx": {"metric": "f1", "scores": {"fr": 0.2, "en": 0.5, "de": 0.1}, "avg": 0.2667},
        }
    }
    lines = compare({"random": run}).splitlines()
    assert lines[0] == "| task | model | en | de | fr | avg | zero-shot avg |"
    assert lines[2] == "| panx (f1) | random | 50.0 | 10.0 | 20.0 | 26.7 | 15.0 |"


def test_the_learns_summary_prefers_the_studies_seed_means_to_one_seed_runs(tmp_path):
    summary = _study("learns_summary")

    def xnli(langs, en):
        return {
            v: {
                "mean": {"en": en[v], **{lang: 0.34 for lang in langs}},
                "std": {"en": 0.01, **{lang: 0.01 for lang in langs}},
                "per_seed": {str(s): {"en": en[v], **{lang: 0.34 for lang in langs}} for s in range(3)},
            }
            for v in ("random", "mlm", "mlm-tlm")
        }

    probe = {
        "retrieval": {"twin": 0.1},
        "retrieval_to_pivot": {"twin": 0.1},
        "best_layer": {"twin": {"layer": 2, "from_pivot": 0.3, "to_pivot": 0.3}},
    }
    twin = {
        "headline": {
            "retrieval_top1_best_layer": dict.fromkeys(("random", "mlm", "mlm-tlm"), 0.3),
            "transfer_ratio": {"random": None, "mlm": None, "mlm-tlm": 0.1},
        },
        "alignment": dict.fromkeys(("random", "mlm", "mlm-tlm"), probe),
        "xnli": xnli(["twin"], {"random": 0.43, "mlm": 0.44, "mlm-tlm": 0.45}),
        "twin_data": {"commutation": {"share_not_commuting": 0.01}},
    }
    efde_probe = {
        "retrieval": dict.fromkeys(("fr", "de", "es"), 0.1),
        "retrieval_to_pivot": dict.fromkeys(("fr", "de", "es"), 0.1),
        "best_layer": dict.fromkeys(("fr", "de", "es"), {"layer": 2, "from_pivot": 0.3, "to_pivot": 0.3}),
    }
    efde = {
        "headline": {
            "xnli_en": {"random": 0.44, "mlm": 0.47, "mlm-tlm": 0.46},
            "xnli_others": dict.fromkeys(("random", "mlm", "mlm-tlm"), 0.34),
        },
        "alignment": dict.fromkeys(("random", "mlm", "mlm-tlm"), efde_probe),
        "xnli": xnli(["fr", "de", "es"], {"random": 0.44, "mlm": 0.47, "mlm-tlm": 0.46}),
    }
    panx = tmp_path / "panx"
    panx.mkdir()
    (panx / "task_results.json").write_text(json.dumps({"dev": {"en": 0.5, "twin": 0.25}}))
    for seed, (en, twin_f1) in enumerate([(0.3, 0.2), (0.4, 0.2)]):  # two seeds of random init
        (tmp_path / f"random{seed}").mkdir()
        (tmp_path / f"random{seed}" / "task_results.json").write_text(
            json.dumps({"dev": {"en": en, "twin": twin_f1}})
        )
    old = {
        "twin": {"xnli": {"mlm-tlm": {"en": 0.35, "twin": 0.34}}},
        "en-fr-de-es": {"xnli_en": {"mlm": 0.38}},
    }
    bow = {"accuracy": {"full": {"x/dev/en.tsv": 0.58}}}
    sweep = [{"overrides": [], "settings": {}, "dev": {"en": 0.5}}]  # not the recipe that learns
    sweep[0]["settings"] = {"xnli.pooling": "mean", "training.learning_rate": "3e-4",
                            "training.num_train_epochs": "10", "xnli.model_name_or_path": "x"}  # fmt: skip
    got = summary.update(
        old,
        bow,
        sweep,
        {},
        {"mlm-tlm": [panx], "random": [tmp_path / "random0", tmp_path / "random1", tmp_path / "not-run"]},
        {"twin": twin, "en-fr-de-es": efde},
    )
    assert got["history"]["twin"]["xnli"] == {"mlm-tlm": {"en": 0.35, "twin": 0.34}}  # the old recipe's
    assert got["learns"]["xnli_en"] == {"bow": 0.58, "random": 0.43, "best_pretrained": 0.47}
    assert got["learns"]["best_pretrained_recipe"] == "recipes/reproduce/cpu-en-fr-de-es.yaml"
    assert got["learns"]["seeds"] == 3 and got["learns"]["sweep_best_one_seed"]["xnli_en"] == 0.5
    assert got["twin"]["xnli"]["mlm-tlm"] == {"en": 0.45, "twin": 0.34}
    assert got["twin"]["transfer_ratio"]["mlm-tlm"] == 0.1
    assert got["twin"]["ner_f1"]["mlm-tlm"] == {"en": 0.5, "twin": 0.25}
    assert got["twin"]["ner_f1"]["random"] == pytest.approx({"en": 0.35, "twin": 0.2})  # the seeds' mean
    assert got["twin"]["ner_f1_seeds"] == {"mlm-tlm": 1, "random": 2}  # the run not made is left out
    assert got["twin"]["ner_transfer_ratio"] == pytest.approx({"mlm-tlm": 0.5, "random": 0.2 / 0.35})
    assert got["twin"]["ner_gain_ratio"] == pytest.approx({"mlm-tlm": 0.05 / 0.15})  # over random init
    assert got["en-fr-de-es"]["xnli_en"]["mlm"] == 0.47 and "seeds 0-2" in got["en-fr-de-es"]["fine_tuning"]
