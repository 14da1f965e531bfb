"""Task files: tables in every form, CoNLL, SQuAD, aligned text, templates; errors name file and line."""

from __future__ import annotations

import json

import pytest

from tests.conftest import write
from xlm_hf.errors import DataError
from xlm_hf.tasks.files import expand, read_aligned, read_conll, read_squad, read_table

ROLES = ("text", "text_pair", "label")


def test_templates_fill_language_split_and_side():
    assert expand("d/{split}-{lang}.{side}", lang="fr", split="dev", side="en") == "d/dev-fr.en"
    assert expand("d/{lang}.tsv", lang="de") == "d/de.tsv"


def test_a_tsv_with_or_without_a_header_and_named_columns(tmp_path):
    plain = write(tmp_path / "a.tsv", "A one\tB one\t1\nA two\tB two\t0\n")
    rows = read_table(plain, ROLES)
    assert [(r["text"], r["text_pair"], r["label"]) for r in rows] == [
        ("A one", "B one", "1"),
        ("A two", "B two", "0"),
    ]
    assert rows[1]["where"] == f"{plain}:2"
    headed = write(tmp_path / "b.tsv", "id\tsentence2\tsentence1\tlabel\n7\tB\tA\tyes\n")
    assert read_table(headed, ROLES)[0] == {
        "text": "A",
        "text_pair": "B",
        "label": "yes",
        "where": f"{headed}:2",
    }
    custom = write(tmp_path / "c.tsv", "review\tstars\ngood\t5\n")
    assert read_table(custom, ("text", "label"), {"text": "review", "label": "stars"})[0]["label"] == "5"
    with pytest.raises(
        DataError, match=r"a.tsv:1: expected 2 tab-separated columns \(text, label\), found 3"
    ):
        read_table(plain, ("text", "label"))


def test_csv_json_and_jsonl(tmp_path):
    csv_file = write(tmp_path / "a.csv", 'text,label\n"Hello, world",pos\n')
    assert read_table(csv_file, ("text", "label"))[0]["text"] == "Hello, world"
    records = [{"sentence": "x", "label": 1}, {"sentence": "y", "label": 0}]
    as_json = write(tmp_path / "a.json", json.dumps({"data": records}))
    as_jsonl = write(tmp_path / "a.jsonl", "\n".join(json.dumps(r) for r in records) + "\n")
    for path in (as_json, as_jsonl):
        assert [(r["text"], r["label"]) for r in read_table(path, ("text", "label"))] == [("x", 1), ("y", 0)]
    broken = write(tmp_path / "b.jsonl", '{"sentence": "x"}\n')
    with pytest.raises(DataError, match=r"b.jsonl:1: no field 'label/gold_label/labels' for the label"):
        read_table(broken, ("text", "label"))


def test_conll_sentences_and_a_bad_line(tmp_path):
    path = write(tmp_path / "n.tsv", "Anna\tB-PER\nsings\tO\n\n\nOslo\tB-LOC\n")
    assert read_conll(path) == [
        {"words": ["Anna", "sings"], "tags": ["B-PER", "O"], "where": f"{path}:1"},
        {"words": ["Oslo"], "tags": ["B-LOC"], "where": f"{path}:5"},
    ]
    bad = write(tmp_path / "bad.tsv", "Anna\tB-PER\nOslo B-LOC\n")
    with pytest.raises(
        DataError, match=r"bad.tsv:2: expected 2 tab-separated columns \(token, tag\), found 1"
    ):
        read_conll(bad)


def _squad(paragraphs: list[dict]) -> str:
    return json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]})


def test_squad_questions_answers_and_errors(tmp_path):
    context = "Anna lives in Oslo."
    good = write(
        tmp_path / "q.json",
        _squad(
            [
                {
                    "context": context,
                    "qas": [
                        {"id": "a", "question": "Where?", "answers": [{"text": "Oslo", "answer_start": 14}]},
                        {"id": "b", "question": "Who?", "answers": [{"text": "", "answer_start": 0}]},
                    ],
                }
            ]
        ),
    )
    rows = read_squad(good)
    assert rows[0] == {
        "id": "a",
        "question": "Where?",
        "context": context,
        "answers": {"text": ["Oslo"], "answer_start": [14]},
    }
    assert rows[1]["answers"] == {"text": [], "answer_start": []}  # no gold: not scorable
    shifted = write(
        tmp_path / "s.json",
        _squad(
            [
                {
                    "context": context,
                    "qas": [
                        {"id": "c", "question": "Where?", "answers": [{"text": "Oslo", "answer_start": 13}]}
                    ],
                }
            ]
        ),
    )
    with pytest.raises(
        DataError, match=r"s.json data\[0\].paragraphs\[0\].qas\[0\] \(c\): answer 'Oslo' is not"
    ):
        read_squad(shifted)
    empty = write(tmp_path / "e.json", _squad([{"context": context, "qas": []}]))
    with pytest.raises(DataError, match=r"e.json data\[0\].paragraphs\[0\]: a context without questions"):
        read_squad(empty)


def test_aligned_sides_must_have_as_many_lines(tmp_path):
    a = write(tmp_path / "x.fr", "Bonjour.\nMerci.\n")
    b = write(tmp_path / "x.en", "Hello.\nThanks.\n\n")
    assert read_aligned(a, b) == [
        {"source": "Bonjour.", "target": "Hello."},
        {"source": "Merci.", "target": "Thanks."},
    ]
    short = write(tmp_path / "y.en", "Hello.\n")
    with pytest.raises(DataError, match=r"y.en: 1 lines, but .*x.fr has 2"):
        read_aligned(a, short)
