"""Decontamination: no pretraining line may be a sentence of the evaluation sets (recipe
``data.decontaminate``: their files). `../shared/data/para` holds every Tatoeba pair, the XQuAD
sentences and the PAWS-X dev/test sentences; a model pretrained on them would be scored on text
it has seen.

A line is dropped when, after whitespace normalisation (runs of whitespace to one space, ends
stripped), it equals a sentence of one of the files, read by its form: every line of a plain text
file (Tatoeba sides); every tab-separated field of a ``.tsv`` / ``.csv`` line (PAWS-X, XNLI pairs;
in a ``token<TAB>tag`` file, its sentences' tokens joined by spaces too); every context, line of a
context and question of a SQuAD ``.json`` file. A TLM pair is dropped when either side is. The
number dropped is recorded in each store entry and reported by the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from xlm_hf.data.textfiles import read_text_lines


def normalise(text: str) -> str:
    return " ".join(text.split())


def evaluation_sentences(paths: Iterable[str]) -> frozenset[str]:
    """The normalised sentences of every file in `paths` (see the module docstring)."""
    found: set[str] = set()
    for path in paths:
        found.update(normalise(s) for s in _sentences(Path(path)))
    found.discard("")
    return frozenset(found)


def _sentences(path: Path) -> Iterator[str]:
    if path.suffix.lower() == ".json":
        data = json.loads("\n".join(read_text_lines(path)))
        for article in data.get("data", []) if isinstance(data, dict) else []:
            for paragraph in article.get("paragraphs", []):
                context = paragraph.get("context", "")
                yield context
                yield from context.split("\n")
                yield from (qa.get("question", "") for qa in paragraph.get("qas", []))
        return
    fields_of_lines = path.suffix.lower() in (".tsv", ".csv")
    words: list[str] = []
    for line in read_text_lines(path):
        if not fields_of_lines:
            yield line
            continue
        fields = line.split("\t") if path.suffix.lower() == ".tsv" else line.split(",")
        yield from fields
        if len(fields) == 2 and fields[0].strip():  # token<TAB>tag: the sentence's words
            words.append(fields[0])
        elif not line.strip() and words:
            yield " ".join(words)
            words = []
    if words:
        yield " ".join(words)


class Decontaminator:
    """Drops lines (or pairs) that are evaluation sentences, and counts them."""

    def __init__(self, sentences: frozenset[str]) -> None:
        self.sentences, self.dropped = sentences, 0

    def lines(self, lines: Iterable[str]) -> Iterator[str]:
        for line in lines:
            if normalise(line) in self.sentences:
                self.dropped += 1
            else:
                yield line

    def pairs(self, pairs: Iterable[tuple[str, str]]) -> Iterator[tuple[str, str]]:
        for a, b in pairs:
            if normalise(a) in self.sentences or normalise(b) in self.sentences:
                self.dropped += 1
            else:
                yield a, b
