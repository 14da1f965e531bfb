"""The loaders on the real XNLI dev split and MultiNLI subset in ../shared/data."""

from __future__ import annotations

from collections import Counter

import pytest

from xlm_hf.xnli.data import LABELS, load_xnli_split, read_nli_file

pytestmark = pytest.mark.realdata

XNLI_LANGUAGES = ["en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "th", "zh", "hi", "sw", "ur"]


def test_xnli_dev_all_languages_balanced(shared_data):
    dev = load_xnli_split(str(shared_data / "xnli"), "dev", XNLI_LANGUAGES)
    assert list(dev) == XNLI_LANGUAGES
    for language, rows in dev.items():
        assert len(rows) == 2490, language
        assert Counter(row["label"] for row in rows) == {i: 830 for i in range(len(LABELS))}, language


def test_mnli_train_subset_keeps_quoted_rows(shared_data):
    rows = read_nli_file(shared_data / "nli-en" / "mnli.train.tsv")
    assert len(rows) == 8999
    assert any(row["premise"].startswith('"') for row in rows)
