"""XNLI inputs as XLM builds them: </s> A </s> B </s>, the example's language, no token_type_ids."""

from __future__ import annotations

from xlm_hf.tasks.classification import ClassificationCollator, encode_rows, pair_input
from xlm_hf.tasks.trainer import markdown_table
from xlm_hf.text.pretokenize import xlm_encode


def test_pair_ids_langs_and_positions(sample_tokenizer):
    rows = [{"text": "Le chat dort.", "text_pair": "Un animal dort.", "label": 0, "lang": "fr"}]
    ds = encode_rows(rows, sample_tokenizer, max_len=64)
    a = xlm_encode(sample_tokenizer, "Le chat dort.", "fr")
    b = xlm_encode(sample_tokenizer, "Un animal dort.", "fr")
    assert ds[0]["input_ids"] == [1, *a, 1, *b, 1]
    assert ds[0]["langs"] == [sample_tokenizer.lang2id["fr"]] * (len(a) + len(b) + 3)
    assert ds[0]["labels"] == 0 and ds[0]["length"] == len(a) + len(b) + 3
    batch = ClassificationCollator()([ds[0]])
    assert set(batch) == {"input_ids", "langs", "attention_mask", "labels"}  # positions: the default 0..n-1


def test_truncation_shares_the_budget_longest_first():
    out = pair_input(list(range(20, 40)), [7, 8, 9], lang_id=2, max_len=12)
    assert out["input_ids"] == [1, 20, 21, 22, 23, 24, 25, 1, 7, 8, 9, 1]
    out = pair_input(list(range(20, 30)), list(range(40, 50)), lang_id=2, max_len=11)
    assert out["input_ids"] == [1, 20, 21, 22, 23, 1, 40, 41, 42, 43, 1]


def test_markdown_table_in_percent():
    results = {
        "task": "xnli",
        "metric": "accuracy",
        "train_languages": ["en"],
        "selected_by": "dev.en",
        "mode": "zero-shot",
        "dev": {"en": 0.5, "fr": 0.25, "avg": 0.375},
    }
    table = markdown_table(results)
    assert table.startswith("XNLI accuracy (%), zero-shot — trained on en, model selected by dev.en")
    assert "| split | en | fr | avg |" in table and "| dev | 50.0 | 25.0 | 37.5 |" in table


def test_translate_train_needs_a_training_set_per_language():
    import pytest

    from xlm_hf.config.sections import XnliConfig
    from xlm_hf.errors import ConfigError

    with pytest.raises(ConfigError, match="xnli.train: translate-train needs one training set per language"):
        XnliConfig(
            model_name_or_path="m",
            train="mnli.train.tsv",
            eval="x",
            mode="translate-train",
            train_language="fr",
            languages=["en", "fr"],
        )
