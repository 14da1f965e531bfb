"""PAN-X for the twin control: English NER data and its enciphered, exactly parallel copy.

    python studies/panx_twin.py [--data ../shared/data] [--out runs/panx-twin]

Writes ``OUT/train-en.tsv`` and ``OUT/dev-en.tsv`` (PAN-X English as it is) and ``OUT/dev-twin.tsv``
(every token enciphered with the twin study's cipher, tags unchanged), the inputs of

    xlm-hf finetune --config recipes/tasks/panx.yaml MODEL=runs/reproduce/twin/pretrain-mlm-tlm \\
        task.train=OUT/train-{lang}.tsv task.eval=OUT/{split}-{lang}.tsv 'task.languages=[en,twin]'

and prints one JSON object: for the twin and for each real PAN-X language given, the share of its
dev entity tokens (tag not ``O``) that also occur, as the same string, among the English training
tokens. Named entities are often copied from one language to another (names, numbers), and such a
token transfers without any cross-lingual representation: a transfer figure reads honestly only
beside this share. The cipher maps every ASCII letter and digit, so the twin shares only
punctuation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from xlm_hf.reproduce.twin import encipher
from xlm_hf.tasks.files import read_conll


def write_conll(sentences: list[dict], path: Path) -> None:
    """``token<TAB>tag`` lines, a blank line after each sentence (PAN-X's own layout)."""
    with open(path, "w", encoding="utf-8") as f:
        for sentence in sentences:
            f.writelines(f"{w}\t{t}\n" for w, t in zip(sentence["words"], sentence["tags"], strict=True))
            f.write("\n")


def enciphered(sentences: list[dict]) -> list[dict]:
    return [{**s, "words": [encipher(w) for w in s["words"]]} for s in sentences]


def shared_entity_tokens(english_train: list[dict], dev: list[dict]) -> float:
    """The share of `dev`'s entity tokens found, as they are, among the English training tokens."""
    vocabulary = {w for s in english_train for w in s["words"]}
    entity = [w for s in dev for w, t in zip(s["words"], s["tags"], strict=True) if t != "O"]
    return sum(w in vocabulary for w in entity) / max(1, len(entity))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default="runs/panx-twin")
    parser.add_argument("--languages", nargs="*", default=["fr", "de", "es"], help="real dev sets to compare")
    args = parser.parse_args(argv)

    panx, out = Path(args.data) / "tasks" / "panx", Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, dev = read_conll(panx / "train-en.tsv"), read_conll(panx / "dev-en.tsv")
    twin = enciphered(dev)
    write_conll(train, out / "train-en.tsv")
    write_conll(dev, out / "dev-en.tsv")
    write_conll(twin, out / "dev-twin.tsv")
    shares = {"en": shared_entity_tokens(train, dev), "twin": shared_entity_tokens(train, twin)}
    for lang in args.languages:
        shares[lang] = shared_entity_tokens(train, read_conll(panx / f"dev-{lang}.tsv"))
    print(json.dumps({"out": str(out), "entity_tokens_shared_with_english_train": shares}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
