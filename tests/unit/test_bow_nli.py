"""The bag-of-words NLI reference (studies/bow_nli.py), on made-up pairs."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("sklearn", reason="the study extra (scikit-learn) is not installed")

from studies import bow_nli  # noqa: E402

NOUNS = ["dog", "cat", "man", "woman", "child", "bird", "horse", "girl"]
PLACES = ["park", "street", "house", "garden", "river", "school"]


def _rows(nouns: list[str]) -> list[dict]:
    """Entailment copies the premise, contradiction negates it, neutral adds a new word."""
    rows = []
    for noun in nouns:
        for place in PLACES:
            premise = f"A {noun} is in the {place}."
            rows += [
                {"premise": premise, "hypothesis": f"A {noun} is in the {place}.", "label": 0},
                {"premise": premise, "hypothesis": f"The {noun} is happy today.", "label": 1},
                {"premise": premise, "hypothesis": f"No {noun} is in the {place}.", "label": 2},
            ]
    return rows


def test_pair_features():
    features = bow_nli.pair_features("A dog runs.", "A cat runs fast.")
    assert features == {
        "h=a": 1.0,
        "h=cat": 1.0,
        "h=runs": 1.0,
        "h=fast": 1.0,
        "h=.": 1.0,
        "h2=a cat": 1.0,
        "h2=cat runs": 1.0,
        "h2=runs fast": 1.0,
        "h2=fast .": 1.0,
        "new=cat": 1.0,
        "new=fast": 1.0,
        "h_in_p": 3 / 5,
        "p_in_h": 3 / 4,
        "h2_in_p2": 0.0,
        "new_words": 2.0,
        "length_ratio": 5 / 4,
    }
    assert bow_nli.pair_features("A dog runs.", "A cat.", hypothesis_only=True) == {
        "h=a": 1.0,
        "h=cat": 1.0,
        "h=.": 1.0,
        "h2=a cat": 1.0,
        "h2=cat .": 1.0,
    }


def test_full_features_learn_the_pairs_and_hypothesis_only_cannot(tmp_path, capsys):
    train, test = _rows(NOUNS[:6]), _rows(NOUNS[6:])  # test nouns never seen in training
    full = bow_nli.fit(train)
    assert bow_nli.accuracy(full, test) == 1.0
    # the hypothesis alone: "No" marks contradiction, but entailment and neutral differ only in
    # relation to the premise, which these features do not see
    alone = bow_nli.fit(train, hypothesis_only=True)
    assert bow_nli.accuracy(alone, [r for r in test if r["label"] == 2], hypothesis_only=True) == 1.0

    names = ("entailment", "neutral", "contradiction")
    for name, rows in (("train.tsv", train), ("dev.tsv", test)):
        (tmp_path / name).write_text(
            "".join(f"{r['premise']}\t{r['hypothesis']}\t{names[r['label']]}\n" for r in rows)
        )
    dev = str(tmp_path / "dev.tsv")
    assert bow_nli.main(["--train", str(tmp_path / "train.tsv"), "--eval", dev]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["train_pairs"] == len(train) and out["accuracy"]["full"][dev] == 1.0
