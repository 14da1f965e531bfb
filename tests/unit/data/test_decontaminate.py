"""Decontamination: the sentences each evaluation format gives, lines and pairs dropped and counted,
and the store keyed by the evaluation sets (a store without them keeps its digest)."""

from __future__ import annotations

import json

from tests.conftest import write
from xlm_hf import SAMPLE_DIR
from xlm_hf.config.sections import DataConfig
from xlm_hf.data.corpora import load_corpora
from xlm_hf.data.decontaminate import Decontaminator, evaluation_sentences


def test_sentences_of_each_format(tmp_path):
    text = write(tmp_path / "t.en", "Hello   there.\n")
    pairs = write(tmp_path / "p.tsv", "A b.\tC d.\t1\n")
    conll = write(tmp_path / "n.tsv", "Anna\tB-PER\nsings\tO\n\n")
    squad = write(
        tmp_path / "q.json",
        json.dumps(
            {"data": [{"paragraphs": [{"context": "One.\nTwo.", "qas": [{"id": "x", "question": "Q?"}]}]}]}
        ),
    )
    found = evaluation_sentences([str(text), str(pairs), str(conll), str(squad)])
    assert {"Hello there.", "A b.", "C d.", "Anna sings", "One. Two.", "One.", "Two.", "Q?"} <= found


def test_lines_and_pairs_dropped_and_counted():
    cleaner = Decontaminator(frozenset({"Keep out."}))
    assert list(cleaner.lines(["Keep  out. ", "Stay."])) == ["Stay."]
    assert list(cleaner.pairs([("a", "Keep out."), ("b", "c")])) == [("b", "c")]
    assert cleaner.dropped == 2


def test_the_store_drops_evaluation_lines_and_records_how_many(tmp_path, sample_vocab_dir):
    lines = (SAMPLE_DIR / "mono" / "en.txt").read_text(encoding="utf-8").splitlines()
    evaluation = write(tmp_path / "eval.en", "\n".join(lines[:5]) + "\n")
    plain = DataConfig(languages=["en"], data_dir=str(SAMPLE_DIR), cache_dir=str(tmp_path / "c"))
    clean = DataConfig(
        languages=["en"],
        data_dir=str(SAMPLE_DIR),
        cache_dir=str(tmp_path / "c"),
        decontaminate=[str(evaluation)],
    )
    before = load_corpora(plain, sample_vocab_dir)
    after = load_corpora(clean, sample_vocab_dir)
    assert before.decontaminated == {} and after.decontaminated == {"mono.en": 5}
    assert before.folders["mono.en"] != after.folders["mono.en"]  # another entry, the plain one kept
    kept = len(after.mono_train["en"]) + len(after.mono_valid["en"])
    assert kept == len(before.mono_train["en"]) + len(before.mono_valid["en"]) - 5
    again = load_corpora(clean, sample_vocab_dir)
    assert again.cache_hits == 1 and again.decontaminated == {"mono.en": 5}
