"""`make bench` plumbing: the FLOP formula, the row format, results.json and the README table."""

from __future__ import annotations

import json

import pytest
from transformers import XLMConfig, XLMWithLMHeadModel

from bench import __main__ as bench_main
from bench.pretraining import (
    counted_non_embedding_params,
    flops_per_token,
    non_embedding_params,
    padded_tokenizer,
    total_params,
)
from bench.rows import README_END, README_START, check_row, make_row, rewrite_readme, table


@pytest.mark.parametrize("dim,layers", [(32, 2), (48, 3)])
def test_non_embedding_params_match_the_hf_model(dim, layers):
    config = XLMConfig(
        vocab_size=50, emb_dim=dim, n_layers=layers, n_heads=4, n_langs=3, max_position_embeddings=40
    )
    model = XLMWithLMHeadModel(config)
    assert non_embedding_params(dim, layers) == counted_non_embedding_params(model)
    # 12 d^2 + 13 d per layer: q k v out (4 d^2 + 4 d), FFN (8 d^2 + 5 d), two layer norms (4 d)
    assert non_embedding_params(dim, layers) == layers * (12 * dim**2 + 13 * dim)
    assert total_params(dim, layers, 50, 40, 3) == model.num_parameters()


def test_flops_per_token():
    flops = flops_per_token(emb_dim=512, n_layers=6, seq_len=256, vocab_size=8000, target_fraction=0.15)
    assert flops["dense"] == 6 * 6 * (12 * 512**2 + 13 * 512)
    assert flops["attention"] == 12 * 6 * 256 * 512
    assert flops["output"] == pytest.approx(6 * 512 * 8000 * 0.15)
    assert flops["total"] == pytest.approx(flops["dense"] + flops["attention"] + flops["output"])
    # the output layer is the only term that depends on the vocabulary, linearly, at target positions only
    big = flops_per_token(512, 6, 256, 95000, 0.15)
    assert big["dense"] == flops["dense"] and big["attention"] == flops["attention"]
    assert big["output"] / flops["output"] == pytest.approx(95000 / 8000)
    assert flops_per_token(512, 6, 256, 8000, 1.0)["output"] == pytest.approx(flops["output"] / 0.15)


def test_row_format():
    row = make_row(
        "pretraining", "tokens/s, vocab 8k", "tokens/s", 300.0, 200.0, ">= 1.15x", True, {"steps": 4}
    )
    check_row(row)
    assert list(row) == ["bench", "figure", "unit", "ours", "baseline", "ratio", "target", "met", "extra"]
    assert row["ratio"] == pytest.approx(1.5)
    no_baseline = make_row("x", "peak", "GFLOP/s", 80.0, None)
    check_row(no_baseline)
    assert no_baseline["ratio"] is None and no_baseline["target"] is None and no_baseline["met"] is None
    for broken in (
        {**row, "ratio": 2.0},  # not ours / baseline
        {**row, "met": None},  # a target without a verdict
        {**row, "met": "yes"},
        {**row, "ours": float("nan")},
        {k: v for k, v in row.items() if k != "extra"},
    ):
        with pytest.raises(ValueError):
            check_row(broken)
    lines = table([row]).splitlines()
    assert lines[0] == "| bench | figure | unit | ours | baseline | ratio | target | met |"
    assert lines[2] == "| pretraining | tokens/s, vocab 8k | tokens/s | 300 | 200 | 1.50x | >= 1.15x | yes |"


def test_readme_table_is_rewritten_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold numbers\n{README_END}\nrest\n")
    results = {
        "meta": {"date": "2026-11-28", "machine": "2 cores", "threads": 2, "torch": "2", "transformers": "5"},
        "rows": [make_row("lm_head", "step time", "ms", 50.0, 100.0)],
        "unavailable": {"data_prep": "not available"},
    }
    assert rewrite_readme(readme, results)
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "old numbers" not in text
    assert "| lm_head | step time | ms | 50.0 | 100 | 0.50x | - | - |" in text
    assert "Not available in that run: data_prep." in text
    assert rewrite_readme(readme, results) and readme.read_text() == text  # idempotent
    (tmp_path / "plain.md").write_text("no markers\n")
    assert not rewrite_readme(tmp_path / "plain.md", results)


def test_missing_bench_module_is_reported_not_fatal(tmp_path, monkeypatch):
    assert bench_main.load_bench("no_such_bench") is None
    assert "data_prep" in bench_main.BENCHES
    fake = type("Fake", (), {"run": staticmethod(lambda quick=False: [make_row("fake", "f", "s", 1.0, 2.0)])})
    real = bench_main.load_bench
    monkeypatch.setattr(bench_main, "load_bench", lambda name: fake if name == "packing" else real(name))
    monkeypatch.setattr(bench_main, "BENCHES", ("packing", "no_such_bench"))
    out = tmp_path / "results.json"
    assert bench_main.main(["--quick", "--output", str(out)]) == 0
    results = json.loads(out.read_text())
    assert [r["figure"] for r in results["rows"]] == ["f"]
    assert results["rows"][0]["ratio"] == 0.5
    assert list(results["unavailable"]) == ["no_such_bench"]
    assert results["meta"]["quick"] is True


def test_padded_tokenizer_keeps_the_ids(tmp_path, sample_vocab_dir):
    from transformers import XLMTokenizer

    padded = padded_tokenizer(sample_vocab_dir, tmp_path / "padded", 8000)
    small, big = (
        XLMTokenizer.from_pretrained(str(sample_vocab_dir)),
        XLMTokenizer.from_pretrained(str(padded)),
    )
    assert len(big) == 8000 > len(small)
    text = "the weather is nice today ."
    assert big(text)["input_ids"] == small(text)["input_ids"]
    with pytest.raises(ValueError):
        padded_tokenizer(sample_vocab_dir, tmp_path / "too-small", 100)


def test_packing_bench_rows(monkeypatch):
    from bench import packing

    rows = packing.run(quick=True)
    assert {r["figure"].split(",")[1].split()[0] for r in rows} == {"en", "fr"}
    for row in rows:
        check_row(row)
        assert 0 < row["baseline"] < row["ours"] <= 1.0  # streams fill more positions than padding


def test_repeated_figures_report_the_median_of_back_to_back_pairs():
    # a busy machine slowed the second pair: the ratio of the medians would say 0.54x
    ours, baseline = [245.0, 359.0, 950.0], [239.0, 713.0, 670.0]
    pairs = [o / b for o, b in zip(ours, baseline)]
    row = make_row("pretraining", "tokens/s", "tokens/s", 359.0, 670.0, pair_ratios=pairs)
    check_row(row)
    assert row["ratio"] == pytest.approx(245 / 239) and row["extra"]["ratio_is"].startswith(
        "median of per-pair"
    )
    with pytest.raises(ValueError, match="median of extra"):
        check_row({**row, "ratio": 359.0 / 670.0})


def test_data_scale_arithmetic():
    from bench import data_scale

    assert data_scale.slope([2e7, 2e8], [100 * 2**20, 100 * 2**20 + 9e6]) == pytest.approx(0.05)
    xnli = data_scale.extrapolate(200.0, 0.05, 4.0, 1e-8, 2e8, 5000.0, 25.0)
    assert xnli["host_ram_gb"] == pytest.approx(8 * (200 * 2**20 + 0.05 * (7e9 - 2e8)) / 2**30)
    assert xnli["startup_s"] == pytest.approx(4.0 + 1e-8 * (7e9 - 2e8))
    assert xnli["tokenise_h"] == pytest.approx(7e9 / 25 / (5000 * 4) / 3600)


def test_data_scale_corpora(tmp_path, sample_vocab_dir):
    from bench import data_scale
    from xlm_hf.config.recipes import load_pretrain_recipe as load_recipe
    from xlm_hf.data import corpora

    lines = data_scale.source_lines()
    made = data_scale.synthetic_sentences(lines["en"], 500, seed=1)
    assert len(made) == 500 and made == data_scale.synthetic_sentences(lines["en"], 500, seed=1)
    assert {w for s in made for w in s.split()} <= {w for line in lines["en"] for w in line.split()}
    per_line = {key: 20.0 for key in lines}
    data = data_scale.make_corpus(tmp_path / "corpus", 40_000, lines, per_line)
    assert len((tmp_path / "corpus" / "en.txt").read_text().splitlines()) == 40_000 * 0.4 // 20
    spec = {
        "data": data,
        "cache_dir": str(tmp_path / "memo"),
        "tokenizer": str(sample_vocab_dir),
        "output_dir": "o",
    }
    recipe = load_recipe(None, data_scale.recipe_overrides(spec))
    with data_scale.replaced(corpora, "Tokeniser", data_scale.memo_tokeniser()):
        memo = corpora.load_corpora(recipe.data, sample_vocab_dir)
    recipe.data.cache_dir = str(tmp_path / "plain")
    plain = corpora.load_corpora(recipe.data, sample_vocab_dir)
    assert memo.folders.keys() == plain.folders.keys() == {"mono.en", "mono.fr", "para.en-fr"}
    for name, folder in memo.folders.items():  # the bench's shortcut builds the store a plain build does
        assert data_scale.entry_digest(folder) == data_scale.entry_digest(plain.folders[name]), name
