"""The reproduction study: its plan of steps, the alignment probe's arithmetic, and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import tiny_xlm_config
from xlm_hf.config.sections import StudyConfig
from xlm_hf.errors import ConfigError
from xlm_hf.reproduce.alignment import distinct_premises
from xlm_hf.reproduce.plan import load_study, plan
from xlm_hf.reproduce.report.results import write_report
from xlm_hf.reproduce.report.summaries import (
    geometric_mean,
    headline,
    log_linear_fit,
    perplexity_curve,
    tokens_to_reach,
    transfer_ratio,
)
from xlm_hf.tasks.retrieval import retrieval_accuracy, unk_rate

ROOT = Path(__file__).resolve().parents[3]


def study(tmp_path: Path, **changes) -> StudyConfig:
    values = {
        "output_dir": str(tmp_path / "study"),
        "pretrain": {
            "mlm": str(ROOT / "recipes/pretrain/sample-mlm-tlm.yaml"),
            "mlm-tlm": str(ROOT / "recipes/pretrain/sample-mlm-tlm.yaml"),
        },
        "finetune": str(ROOT / "recipes/xnli/sample.yaml"),
        "variant_overrides": {"mlm": {"data.objectives": ["mlm"]}},
        "pretrain_overrides": {"training.max_steps": 7},
        "finetune_overrides": {"training.eval_strategy": "no"},
        "seeds": [3, 4],
        **changes,
    }
    return StudyConfig(**values)


def test_plan_pretrains_then_fine_tunes_seed_by_seed(tmp_path):
    steps = plan(study(tmp_path))
    assert [s.name for s in steps] == [
        "pretrain-mlm",
        "pretrain-mlm-tlm",
        *(f"xnli-{v}-seed{s}" for s in (3, 4) for v in ("random", "mlm", "mlm-tlm")),
    ]
    mlm, tlm = steps[0].argv, steps[1].argv
    assert (
        mlm[:2] == ["pretrain", "--config"]
        and "training.max_steps=7" in mlm
        and "training.max_steps=7" in tlm
    )
    assert 'data.objectives=["mlm"]' in mlm and not any(a.startswith("data.objectives") for a in tlm)
    random_seed4 = next(s for s in steps if s.name == "xnli-random-seed4").argv
    out = tmp_path / "study"
    assert f'xnli.model_name_or_path="{out / "pretrain-mlm"}"' in random_seed4
    assert 'xnli.init="random"' in random_seed4 and "training.seed=4" in random_seed4
    assert f'training.output_dir="{out / "xnli-random-seed4"}"' in random_seed4
    assert 'training.eval_strategy="no"' in random_seed4  # JSON-quoted: YAML would read `no` as false
    tlm_seed3 = next(s for s in steps if s.name == "xnli-mlm-tlm-seed3").argv
    assert f'xnli.model_name_or_path="{out / "pretrain-mlm-tlm"}"' in tlm_seed3
    assert 'xnli.init="pretrained"' in tlm_seed3


def test_a_step_is_done_when_its_results_file_exists(tmp_path):
    step = plan(study(tmp_path))[0]
    assert not step.done
    step.output_dir.mkdir(parents=True)
    (step.output_dir / "checkpoint-5").mkdir()
    assert not step.done  # a checkpoint is not a finished run
    (step.output_dir / "results.json").write_text("{}")
    assert step.done


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"variants": ["random", "clm"]}, "study.variants"),
        ({"random_init_from": "xlm"}, "study.random_init_from"),
        ({"finetune": "nowhere.yaml"}, "study.finetune"),
        ({"variant_overrides": {"tlm": {}}}, "study.variant_overrides"),
        ({"seeds": []}, "study.seeds"),
    ],
)
def test_bad_study_settings_name_the_key(tmp_path, changes, key):
    with pytest.raises(ConfigError, match=f"^{key}"):
        study(tmp_path, **changes)


def test_shipped_study_recipes_load_and_compare_equal_compute():
    # the twin study's data section names files of ../shared/data, which a user's clone lacks
    shared = (ROOT.parent / "shared" / "data" / "mono" / "en.txt").is_file()
    for name in ("cpu-xnli15", "sample", "cpu-en-fr-de-es", *(["twin"] if shared else [])):
        config = load_study(str(ROOT / "recipes/reproduce" / f"{name}.yaml"))
        steps = plan(config)
        pretrain = [s.argv for s in steps if s.name.startswith("pretrain-")]
        # the variants differ only in their recipe's objectives: the same steps for each
        assert len({tuple(a for a in argv if a.startswith("training.max_steps")) for argv in pretrain}) == 1
        assert len(config.seeds) >= 2 and config.variants == ["random", "mlm", "mlm-tlm"]
    cpu = yaml.safe_load((ROOT / "recipes/reproduce/cpu-xnli15.yaml").read_text())["study"]
    assert len(cpu["seeds"]) >= 3
    assert cpu["reference"]["paper XLM (MLM+TLM)"]["avg"] == 75.1


def test_retrieval_accuracy_counts_own_translations():
    vectors = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    assert retrieval_accuracy(vectors, vectors) == 1.0
    rolled = vectors.roll(1, dims=0)  # every sentence's nearest is now a neighbour's translation
    assert retrieval_accuracy(vectors, rolled) == 0.0
    half = vectors.clone()
    half[3:] = vectors[3:].roll(1, dims=0)
    assert retrieval_accuracy(vectors, half) == 0.5


def test_distinct_premises_keep_rows_aligned():
    def rows(tag):
        return [{"premise": f"{tag}{p}"} for p in (1, 1, 1, 2, 2, 2, 3)]

    dev = {"en": rows("e"), "fr": rows("f")}
    assert distinct_premises(dev, limit=2) == {"en": ["e1", "e2"], "fr": ["f1", "f2"]}
    assert distinct_premises(dev, limit=10)["fr"] == ["f1", "f2", "f3"]


def test_unk_rate(sample_tokenizer):
    assert unk_rate(sample_tokenizer, ["the house is red ."], "en") == 0.0
    assert unk_rate(sample_tokenizer, ["ภาษาไทย"], "en") > 0.5  # a script the sample vocabulary lacks


def _fake_study_outputs(config: StudyConfig) -> None:
    out = Path(config.output_dir)
    for variant in config.pretrain:
        run = out / f"pretrain-{variant}"
        run.mkdir(parents=True)
        results = {
            "train_steps": 7,
            "train_tokens": 700,
            "train_runtime": 60.0,
            "eval": {"mlm_ppl": {"en": 100.0, "fr": 400.0}},
            "initial_eval": {"mlm_ppl": {"en": 1000.0, "fr": 1000.0}},
        }
        (run / "results.json").write_text(json.dumps(results))
        history = [{"loss": 5.0, "step": 2}, {"eval_mlm_ppl.en": 300.0, "eval_mlm_ppl.fr": 300.0, "step": 4}]
        (run / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    accuracies = {"random": (0.40, 0.50), "mlm": (0.45, 0.55), "mlm-tlm": (0.60, 0.60)}
    for variant, (a, b) in accuracies.items():
        for seed, acc in zip(config.seeds, (a, b), strict=True):
            run = out / f"xnli-{variant}-seed{seed}"
            run.mkdir(parents=True)
            dev = {"en": acc, "fr": acc - 0.1, "avg": acc - 0.05}
            (run / "xnli_results.json").write_text(json.dumps({"dev": dev}))


def test_report_means_stds_tables_and_plots(tmp_path):
    config = study(tmp_path, reference={"paper": {"en": 85.0, "fr": 78.7, "avg": 81.9}})
    _fake_study_outputs(config)
    (Path(config.output_dir) / "timings.json").write_text(json.dumps({"pretrain-mlm": 120.0}))
    probe = {
        "sentences": 4,
        "retrieval": {"fr": 0.25},
        "unk_rate": {"en": 0.0, "fr": 0.015},
    }
    alignment = {"settings": {}, "probe": {v: probe for v in ("random", "mlm", "mlm-tlm")}}
    (Path(config.output_dir) / "alignment.json").write_text(json.dumps(alignment))
    summary = write_report(config, Path(config.output_dir))
    xnli = summary["xnli"]
    assert xnli["random"]["mean"]["en"] == pytest.approx(0.45)
    assert xnli["random"]["std"]["en"] == pytest.approx(0.0707107, abs=1e-6)  # sample std of 0.40, 0.50
    assert xnli["mlm-tlm"]["std"]["fr"] == pytest.approx(0.0)
    assert summary["languages"] == ["en", "fr"]
    assert summary["alignment"]["mlm"]["retrieval"] == {"fr": 0.25}
    assert summary["pretraining"]["mlm"]["curves"]["mlm"] == [
        (0, pytest.approx(1000.0)),
        (4, pytest.approx(300.0)),
    ]
    assert summary["pretraining"]["mlm"]["final_ppl"]["mlm_ppl"] == pytest.approx(200.0)  # sqrt(100 · 400)
    tables = (Path(config.output_dir) / "tables.md").read_text()
    assert "| random | 45.0 ± 7.1 | 35.0 ± 7.1 | 40.0 ± 7.1 |" in tables
    assert "| paper (test) | 85.0 | 78.7 | 81.9 |" in tables
    assert "| mlm-tlm | 25.0 | 25.0 |" in tables  # retrieval en → fr, and the mean
    assert "| 0.00 | 1.50 |" in tables
    assert "| pretrain-mlm | 2.0 |" in tables
    for png in summary["plots"]:
        assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((Path(config.output_dir) / "study_results.json").read_text())
    assert set(saved) >= {"xnli", "pretraining", "alignment", "timings", "reference", "tables", "plots"}


def test_geometric_mean_and_curve_without_initial_eval(tmp_path):
    assert geometric_mean([10.0, 1000.0]) == pytest.approx(100.0)
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps({"eval": {}}))
    history = [{"eval.mlm_ppl.en": 50.0, "step": 10}, {"eval.mlm_ppl.en": 20.0, "step": 20}]
    (run / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    assert perplexity_curve(run) == [(10, pytest.approx(50.0)), (20, pytest.approx(20.0))]


def test_a_step_run_with_other_settings_is_refused_not_reused(tmp_path):
    first = plan(study(tmp_path))[0]
    first.output_dir.mkdir(parents=True)
    (first.output_dir / "results.json").write_text("{}")
    first.record.write_text(json.dumps({"argv": first.argv}))
    assert first.done
    changed = plan(study(tmp_path, pretrain_overrides={"training.max_steps": 8}))[0]
    with pytest.raises(
        ConfigError, match=r"^study: .*pretrain-mlm holds step pretrain-mlm run with other settings"
    ):
        assert changed.done


def test_override_values_survive_yaml():
    from xlm_hf.config.loader import parse_overrides
    from xlm_hf.reproduce.plan import study_overrides

    values = {
        "training.output_dir": "runs/a #1/x",
        "training.eval_strategy": "no",
        "xnli.init": "off",
        "k.n": None,
    }
    assert parse_overrides(study_overrides(values)) == values


def test_a_typo_in_the_overrides_fails_before_any_step(tmp_path):
    config = yaml.safe_load((ROOT / "recipes/reproduce/sample.yaml").read_text())["study"]
    config["finetune_overrides"]["training.num_train_epoch"] = 1
    config["finetune"] = str(ROOT / config["finetune"])
    config["pretrain"] = {k: str(ROOT / v) for k, v in config["pretrain"].items()}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"study": config}))
    with pytest.raises(
        ConfigError, match=r"^study step xnli-random-seed0 .*training.num_train_epoch: unknown key"
    ):
        load_study(str(path))


def sample_encoder(tokenizer, n_layers: int):
    """A tiny `XLMModel` (seed 0) over the sample tokenizer's vocabulary and languages."""
    from transformers import XLMModel

    torch.manual_seed(0)
    return XLMModel(
        tiny_xlm_config(
            vocab_size=len(tokenizer),
            n_layers=n_layers,
            n_heads=2,
            n_langs=4,
            lang2id=tokenizer.lang2id,
            id2lang={i: lang for lang, i in tokenizer.lang2id.items()},
            use_lang_emb=True,
        )
    )


def test_sentence_vectors_ignore_padding_and_use_the_language(sample_tokenizer):
    from xlm_hf.tasks.retrieval import sentence_vectors

    model = sample_encoder(sample_tokenizer, n_layers=1)
    short, long = "the house .", "the house is red and the garden is very large ."
    alone = sentence_vectors(model, sample_tokenizer, [short], "en")
    padded = sentence_vectors(model, sample_tokenizer, [short, long], "en")
    assert padded.shape == (2, 2, 32)  # embeddings and the one layer, two sentences
    assert torch.allclose(alone[:, 0], padded[:, 0], atol=1e-5)  # padding is neither attended nor pooled
    assert torch.allclose(padded.norm(dim=-1), torch.ones(2, 2))
    as_french = sentence_vectors(model, sample_tokenizer, [short], "fr")
    assert not torch.allclose(alone, as_french)  # the language embedding is part of the input


def test_distinct_premises_need_aligned_files():
    with pytest.raises(ValueError, match="not row-aligned"):
        distinct_premises({"en": [{"premise": "a"}], "fr": []}, limit=2)


def test_budget_points_fine_tune_from_checkpoints_after_every_seed(tmp_path):
    config = study(tmp_path, budgets=[4, 2])
    steps = plan(config)
    out = tmp_path / "study"
    assert config.budget_seeds == [3]  # the first seed unless told
    assert [s.name for s in steps][-4:] == [
        "xnli-mlm@2-seed3",
        "xnli-mlm@4-seed3",
        "xnli-mlm-tlm@2-seed3",
        "xnli-mlm-tlm@4-seed3",
    ]
    assert f'xnli.model_name_or_path="{out / "pretrain-mlm-tlm" / "checkpoint-2"}"' in steps[-2].argv
    assert 'xnli.init="pretrained"' in steps[-2].argv
    retrieval_only = plan(study(tmp_path, budgets=[2], budget_seeds=[]))
    assert not any("@" in s.name for s in retrieval_only)


@pytest.mark.parametrize("budgets", [[0], [2, 2]])
def test_budgets_must_be_distinct_positive_steps(tmp_path, budgets):
    with pytest.raises(ConfigError, match="^study.budgets"):
        study(tmp_path, budgets=budgets)


def test_headline_gives_the_transfer_ratio_and_retrieval_means():
    summary = {
        "xnli": {
            "random": {"mean": {"en": 1 / 3, "twin": 0.34, "avg": 0.3}},
            "mlm-tlm": {"mean": {"en": 0.6, "fr": 0.5, "de": 0.4, "avg": 0.5}},
        },
        "alignment": {
            "mlm-tlm": {
                "retrieval": {"fr": 0.2, "de": 0.4},
                "best_layer": {
                    "fr": {"layer": 2, "from_pivot": 0.5, "to_pivot": 0.7},
                    "de": {"layer": 1, "from_pivot": 0.4, "to_pivot": 0.4},
                },
            }
        },
    }
    head = headline(summary)
    assert head["xnli_others"]["mlm-tlm"] == pytest.approx(0.45)
    assert head["transfer_ratio"]["mlm-tlm"] == pytest.approx((0.45 - 1 / 3) / (0.6 - 1 / 3))
    assert head["transfer_ratio"]["random"] is None  # English at chance: no ratio
    assert transfer_ratio(0.43, 0.40) is None  # English 9.7 points above chance: still no ratio
    assert transfer_ratio(1 / 3 + 0.10, 1 / 3 + 0.05) == pytest.approx(0.5)
    assert head["retrieval_top1"]["mlm-tlm"] == pytest.approx(0.3)
    assert head["retrieval_top1_best_layer"]["mlm-tlm"] == pytest.approx(0.5)


def test_extrapolation_fits_a_log_linear_curve():
    a, b = log_linear_fit([1e6, 1e7, 1e8], [0.1, 0.2, 0.3])
    assert (a, b) == (pytest.approx(-0.5), pytest.approx(0.1))
    points = [{"tokens": t, "acc": y} for t, y in ((1e6, 0.1), (1e7, 0.2))]
    assert tokens_to_reach(points, "acc", 0.4) == pytest.approx(1e9)
    assert tokens_to_reach(points[:1], "acc", 0.4) is None  # one point fits no curve
    falling = [{"tokens": 1e6, "acc": 0.3}, {"tokens": 1e7, "acc": 0.2}]
    assert tokens_to_reach(falling, "acc", 0.4) is None


def test_the_probe_reports_every_layer_both_ways(sample_tokenizer):
    from xlm_hf.reproduce.alignment import probe

    sentences = ["the house is red .", "the garden is large .", "a cat sleeps ."]
    result = probe(
        sample_encoder(sample_tokenizer, n_layers=2), sample_tokenizer, {"en": sentences, "fr": sentences}
    )
    layers = result["by_layer"]["fr"]
    assert len(layers["from_pivot"]) == len(layers["to_pivot"]) == 3  # embeddings + 2 layers
    assert result["retrieval"]["fr"] == layers["from_pivot"][-1]
    assert result["retrieval_to_pivot"]["fr"] == layers["to_pivot"][-1]
    best = result["best_layer"]["fr"]
    means = [(a + b) / 2 for a, b in zip(layers["from_pivot"], layers["to_pivot"], strict=True)]
    assert (best["from_pivot"] + best["to_pivot"]) / 2 == max(means)
    assert result["sentences"] == 3 and result["pivot"] == "en"


def test_the_page_summary_picks_fractions_from_both_studies(tmp_path):
    from xlm_hf.reproduce.summary import main as summary_main

    def xnli(langs):
        return {
            v: {
                "mean": {lang: 0.5 for lang in langs},
                "std": {lang: 0.01 for lang in langs},
                "per_seed": {"0": {lang: 0.5 for lang in langs}, "1": {lang: 0.6 for lang in langs}},
            }
            for v in ("random", "mlm", "mlm-tlm")
        }

    def probe(langs):
        return {
            "retrieval": {lang: 0.2 for lang in langs},
            "retrieval_to_pivot": {lang: 0.4 for lang in langs},
            "best_layer": {lang: {"layer": 3, "from_pivot": 0.6, "to_pivot": 0.8} for lang in langs},
        }

    twin = {
        "headline": {
            "retrieval_top1_best_layer": dict.fromkeys(("random", "mlm", "mlm-tlm"), 0.7),
            "transfer_ratio": dict.fromkeys(("random", "mlm", "mlm-tlm"), 0.9),
        },
        "alignment": {v: probe(["twin"]) for v in ("random", "mlm", "mlm-tlm")},
        "xnli": xnli(["en", "twin"]),
        "twin_data": {"commutation": {"share_not_commuting": 0.01}},
    }
    effr = {
        "headline": {
            "xnli_en": dict.fromkeys(("random", "mlm", "mlm-tlm"), 0.55),
            "xnli_others": dict.fromkeys(("random", "mlm", "mlm-tlm"), 0.45),
        },
        "alignment": {v: probe(["fr", "de", "es"]) for v in ("random", "mlm", "mlm-tlm")},
        "xnli": xnli(["en", "fr", "de", "es"]),
    }
    for name, results in (("twin", twin), ("effr", effr)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "study_results.json").write_text(json.dumps(results))
    out = tmp_path / "summary.json"
    out.write_text(json.dumps({"learns": {"kept": 1}, "twin": {"ner_f1": {"kept": 2}, "xnli": {"old": 0}}}))
    assert (
        summary_main(
            ["--twin", str(tmp_path / "twin"), "--en-fr-de-es", str(tmp_path / "effr"), "--out", str(out)]
        )
        == 0
    )
    saved = json.loads(out.read_text())
    assert saved["twin"]["retrieval_p1"]["mlm-tlm"] == 0.7
    assert saved["twin"]["retrieval_p1_last_layer"]["mlm"] == pytest.approx(0.3)
    assert saved["twin"]["xnli"]["mlm-tlm"] == {"en": 0.5, "twin": 0.5}
    assert "old" not in saved["twin"]["xnli"]  # a figure it computes is replaced whole
    assert saved["learns"] == {"kept": 1} and saved["twin"]["ner_f1"] == {"kept": 2}  # the rest is kept
    assert saved["en-fr-de-es"]["xnli_fr_de_es"]["mlm"] == 0.45
    assert saved["en-fr-de-es"]["xnli_fr_de_es_std_over_seeds"]["mlm"] == pytest.approx(0.0707107, abs=1e-6)
    assert saved["en-fr-de-es"]["retrieval_top1_en_fr_de"]["random"] == pytest.approx(0.2)


def test_a_budget_without_its_checkpoint_is_named(tmp_path):
    from xlm_hf.reproduce.run import alignment_probe

    config = study(tmp_path, budgets=[2], variants=["mlm"])
    (tmp_path / "study" / "pretrain-mlm").mkdir(parents=True)  # the run, but no checkpoint-2
    with pytest.raises(
        ConfigError, match=r"^study\.budgets: no model at .*pretrain-mlm/checkpoint-2 for mlm@2"
    ):
        alignment_probe(config)


def _look(handle) -> tuple:
    """What tells a legend entry apart: colour, line style, marker, hatch."""
    from matplotlib.colors import to_rgba

    patch = handle.patches[0] if hasattr(handle, "patches") else handle
    if hasattr(patch, "get_marker"):
        return ("line", to_rgba(patch.get_color()), str(patch.get_linestyle()), patch.get_marker())
    return ("bar", to_rgba(patch.get_facecolor()), patch.get_hatch() or "")


def test_no_two_legend_entries_of_a_study_plot_look_alike():
    pytest.importorskip("matplotlib")
    from xlm_hf.reproduce.report.plots import figures

    pairs = {"fr": 0.2}
    probe = {
        "retrieval": pairs,
        "by_layer": {"fr": {"from_pivot": [0.1, 0.2], "to_pivot": [0.1, 0.3]}},
    }
    names = ["random", "mlm", "mlm-tlm", "mlm@1000", "mlm-tlm@1000", "mlm@2000", "random@1000"]
    point = {
        "steps": 1000,
        "tokens": 10**6,
        "seeds": [0],
        "xnli_en": 0.4,
        "xnli_others": 0.35,
        "retrieval_top1": 0.2,
    }
    summary = {
        "languages": ["en", "fr"],
        "xnli": {
            v: {"mean": {"en": 0.4, "fr": 0.35, "avg": 0.37}, "std": {"en": 0, "fr": 0, "avg": 0}}
            for v in names[:3]
        },
        "alignment": {v: probe for v in names},
        "pretraining": {
            v: {"curves": {"mlm": [(0, 100.0), (10, 50.0)], "tlm": [(0, 90.0), (10, 40.0)]}}
            for v in names[1:3]
        },
        "budgets": {v: [point, {**point, "steps": 2000, "tokens": 2 * 10**6}] for v in names[1:3]},
    }
    made = figures(summary)
    assert set(made) == {
        "perplexity.png",
        "xnli_accuracy.png",
        "retrieval.png",
        "retrieval_by_layer.png",
        "budgets.png",
    }
    for name, fig in made.items():
        for ax in fig.axes:
            handles, labels = ax.get_legend_handles_labels()
            looks = [_look(h) for h in handles]
            assert len(set(looks)) == len(looks), (name, list(zip(labels, looks, strict=True)))
    # a variant keeps its colour across its budgets; the budgets differ in style
    layer_lines = {line.get_label(): line for line in made["retrieval_by_layer.png"].axes[0].lines}
    assert (
        layer_lines["mlm"].get_color()
        == layer_lines["mlm@1000"].get_color()
        == layer_lines["mlm@2000"].get_color()
    )
    assert layer_lines["mlm"].get_color() != layer_lines["random"].get_color()
    assert len(made["budgets.png"].axes) == 2  # XNLI at two budgets: its curve beside retrieval
    probe_only = {**point, "seeds": [], "xnli_en": None, "xnli_others": None}
    summary["budgets"] = {v: [probe_only, {**point, "steps": 2000, "tokens": 2 * 10**6}] for v in names[1:3]}
    assert len(figures(summary)["budgets.png"].axes) == 1  # one XNLI point a variant: no curve to draw
