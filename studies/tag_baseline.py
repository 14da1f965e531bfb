"""The trivial reference of a token-classification task: each word gets its most frequent tag in
the training data (an unseen word: ``O``), scored by the same entity F1 (`seqeval`) as
``xlm-hf finetune``. A fine-tuned model means something for NER only above this line.

    python studies/tag_baseline.py TRAIN.tsv DEV.tsv [DEV.tsv ...]

Reads ``token<TAB>tag`` files (a blank line between sentences) with the toolkit's reader and
prints one line per dev file: its entity F1.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict

from xlm_hf.tasks.files import read_conll


def most_frequent_tags(train: list[dict]) -> dict[str, str]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for sentence in train:
        for word, tag in zip(sentence["words"], sentence["tags"], strict=True):
            counts[word][tag] += 1
    return {word: tags.most_common(1)[0][0] for word, tags in counts.items()}


def baseline_f1(table: dict[str, str], dev: list[dict]) -> float:
    from seqeval.metrics import f1_score

    gold = [s["tags"] for s in dev]
    predicted = [[table.get(word, "O") for word in s["words"]] for s in dev]
    return float(f1_score(gold, predicted))


def main(argv: list[str]) -> None:
    train, *devs = argv
    table = most_frequent_tags(read_conll(train))
    for dev in devs:
        print(f"{dev}\t{100 * baseline_f1(table, read_conll(dev)):.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
