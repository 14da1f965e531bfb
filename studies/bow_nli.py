"""The bag-of-words reference for English NLI: what surface features alone reach on the same data.

    python studies/bow_nli.py --train DATA/nli-en/mnli.train.tsv DATA/nli-en/snli.train.tsv \\
        --eval DATA/xnli/dev/en.tsv

A logistic regression (scikit-learn, ``pip install -e ".[study]"``) on sparse features of each pair:

- ``full``: the hypothesis' words and word bigrams, the hypothesis words absent from the premise
  (NLI's best-known surface cue: new words suggest neutral or contradiction), and overlap ratios
  (share of hypothesis words in the premise and of premise words in the hypothesis, the same for
  bigrams, the length ratio);
- ``hypothesis_only``: the hypothesis' words and bigrams alone (the annotation artefacts of
  Gururangan et al. 2018 and Poliak et al. 2018: negations for contradiction, and so on).

A fine-tuned encoder that does not beat ``hypothesis_only`` has learned no more than those cues; one
that does not beat ``full`` has learned nothing about the pair that word overlap does not give.
Prints one JSON object: accuracy on each evaluation file for both feature sets.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable

_WORD = re.compile(r"\w+|[^\w\s]")


def words(text: str) -> list[str]:
    """Lowercased words and punctuation marks (no Moses: the reference needs no toolkit)."""
    return _WORD.findall(text.lower())


def _bigrams(tokens: list[str]) -> list[str]:
    return [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]


def pair_features(premise: str, hypothesis: str, hypothesis_only: bool = False) -> dict[str, float]:
    """Sparse features of one pair (see the module docstring)."""
    h = words(hypothesis)
    features = {f"h={w}": 1.0 for w in h}
    features.update({f"h2={b}": 1.0 for b in _bigrams(h)})
    if hypothesis_only:
        return features
    p = words(premise)
    p_set, h_set = set(p), set(h)
    p2, h2 = set(_bigrams(p)), set(_bigrams(h))
    features.update({f"new={w}": 1.0 for w in h_set - p_set})
    features["h_in_p"] = len(h_set & p_set) / max(1, len(h_set))
    features["p_in_h"] = len(h_set & p_set) / max(1, len(p_set))
    features["h2_in_p2"] = len(h2 & p2) / max(1, len(h2))
    features["new_words"] = float(len(h_set - p_set))
    features["length_ratio"] = len(h) / max(1, len(p))
    return features


def fit(rows: Iterable[dict], hypothesis_only: bool = False, c: float = 1.0):
    """A fitted (vectoriser, classifier) pair for rows with premise, hypothesis and label."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LogisticRegression

    rows = list(rows)
    vectoriser = DictVectorizer()
    x = vectoriser.fit_transform(pair_features(r["premise"], r["hypothesis"], hypothesis_only) for r in rows)
    classifier = LogisticRegression(C=c, max_iter=2000)
    classifier.fit(x, [r["label"] for r in rows])
    return vectoriser, classifier


def accuracy(model, rows: Iterable[dict], hypothesis_only: bool = False) -> float:
    vectoriser, classifier = model
    rows = list(rows)
    x = vectoriser.transform(pair_features(r["premise"], r["hypothesis"], hypothesis_only) for r in rows)
    predicted = classifier.predict(x)
    return float(sum(int(p == r["label"]) for p, r in zip(predicted, rows)) / len(rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--train", nargs="+", required=True, help="NLI TSV files (premise, hypothesis, label)"
    )
    parser.add_argument("--eval", nargs="+", required=True, help="evaluation TSV files, e.g. xnli/dev/en.tsv")
    parser.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the regression")
    args = parser.parse_args(argv)

    from xlm_hf.xnli.data import read_pair_tsv

    train = [row for path in args.train for row in read_pair_tsv(path)]
    evals = {path: read_pair_tsv(path) for path in args.eval}
    results: dict[str, dict[str, float]] = {}
    for name, hypothesis_only in (("full", False), ("hypothesis_only", True)):
        model = fit(train, hypothesis_only, args.C)
        results[name] = {"train": accuracy(model, train, hypothesis_only)}
        results[name].update({path: accuracy(model, rows, hypothesis_only) for path, rows in evals.items()})
    print(json.dumps({"train_pairs": len(train), "accuracy": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
