"""XNLI loaders: every file format, label mapping by name, quote survival, errors, dispatch."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from xlm_hf.xnli.data import (
    LABELS,
    label_id,
    load_hub_xnli,
    load_train_rows,
    load_xnli_split,
    read_nli_file,
    read_nli_jsonl,
    read_pair_tsv,
    read_xnli10,
    read_xnli_mt,
)

E, N, C = (LABELS.index(name) for name in ("entailment", "neutral", "contradiction"))

XNLI10_HEADER = (
    "language\tgold_label\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
    "sentence2_parse\tsentence1\tsentence2\tpromptID\tpairID\tgenre\tlabel1\tlabel2\tlabel3\t"
    "label4\tlabel5\tsentence1_tokenized\tsentence2_tokenized\tmatch"
)
MNLI_HEADER = (
    "gold_label\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\t"
    "sentence1\tsentence2\tpromptID\tpairID\tgenre\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5"
)

# Quote characters that are not CSV quoting: an unclosed leading quote and quotes mid-field.
QUOTED = [
    ('"Sure, sure, Reese the voice said.', "Drew thought he was mocking him.", "entailment"),
    ("He said 'no' and \"left\" at once", '"Excuse me', "neutral"),
    ("Plain premise", 'ends with a quote"', "contradiction"),
]


def write(path: Path, lines: list[str], ending: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + ending for line in lines), encoding="utf-8", newline="")
    return path


def pair_lines(rows=QUOTED) -> list[str]:
    return ["\t".join(row) for row in rows]


def expected(rows=QUOTED) -> list[dict]:
    return [{"premise": p, "hypothesis": h, "label": LABELS.index(lab)} for p, h, lab in rows]


def xnli10_line(language: str, gold: str, s1: str, s2: str) -> str:
    cells = [language, gold, "(bin1)", "(bin2)", "(p1)", "(p2)", s1, s2, "1", "1n", "fiction"]
    return "\t".join(cells + [gold, gold, gold, gold, gold, s1, s2, "True"])


def mnli_line(gold: str, s1: str, s2: str) -> str:
    return "\t".join(
        [gold, "(b1)", "(b2)", "(p1)", "(p2)", s1, s2, "7", "7e", "fiction", gold, "", "", "", ""]
    )


# ------------------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    ("name", "expected_id"),
    [
        ("entailment", E),
        ("Neutral", N),
        ("  CONTRADICTION \r", C),
        ("contradictory", C),
        ("Contradictory ", C),
    ],
)
def test_label_id_maps_by_name(name, expected_id):
    assert label_id(name, "x:1") == expected_id


def test_label_order_is_hub_order():
    assert LABELS == ("entailment", "neutral", "contradiction")


def test_unknown_label_names_file_and_line(tmp_path):
    path = write(tmp_path / "dev" / "fr.tsv", ["a\tb\tneutral", "", "c\td\tmaybe"])
    with pytest.raises(ValueError) as info:
        read_pair_tsv(path)
    message = str(info.value)
    assert message == f"{path}:3: unknown label 'maybe' (expected entailment, neutral, contradiction)"
    assert "\n" not in message


# ------------------------------------------------------------------------------- pair TSV files


def test_pair_tsv_keeps_quotes_and_every_row(tmp_path):
    path = write(tmp_path / "en.tsv", pair_lines())
    assert read_pair_tsv(path) == expected()


def test_pair_tsv_tolerates_crlf_blank_lines_and_header(tmp_path):
    lines = ["premise\thypothesis\tlabel", *pair_lines()[:1], "", *pair_lines()[1:], ""]
    path = write(tmp_path / "en.tsv", lines, ending="\r\n")
    assert read_pair_tsv(path) == expected()
    alt = write(tmp_path / "alt.tsv", ["sentence1\tsentence2\tgold_label", *pair_lines()])
    assert read_pair_tsv(alt) == expected()


def test_pair_tsv_lone_carriage_return_stays_inside_field(tmp_path):
    path = write(tmp_path / "en.tsv", ["a\rb\tc\u2028d\tneutral", "e\tf\tentailment"])
    assert read_pair_tsv(path) == [
        {"premise": "a\rb", "hypothesis": "c\u2028d", "label": N},
        {"premise": "e", "hypothesis": "f", "label": E},
    ]


def test_pair_tsv_wrong_column_count(tmp_path):
    path = write(tmp_path / "en.tsv", ["a\tb\tneutral", "a\tb\tc\tneutral"])
    with pytest.raises(
        ValueError, match=rf"^{re.escape(str(path))}:2: expected 3 tab-separated columns .* found 4$"
    ):
        read_pair_tsv(path)


# ------------------------------------------------------------------------------------ XNLI-1.0


def make_xnli10(path: Path) -> Path:
    return write(
        path,
        [
            XNLI10_HEADER,
            xnli10_line("fr", "neutral", '"Et il a dit', "Il a appelé"),
            xnli10_line("de", "contradiction", "Und er sagte", 'Er sagte "nichts'),
            xnli10_line("fr", "entailment", "Il pleut", "Il fait mauvais"),
            xnli10_line("en", "Entailment", "It rains", 'The "weather" is bad'),
        ],
    )


def test_xnli10_groups_by_language(tmp_path):
    grouped = read_xnli10(make_xnli10(tmp_path / "xnli.dev.tsv"))
    assert list(grouped) == ["de", "en", "fr"]
    assert grouped["fr"] == [
        {"premise": '"Et il a dit', "hypothesis": "Il a appelé", "label": N},
        {"premise": "Il pleut", "hypothesis": "Il fait mauvais", "label": E},
    ]
    assert grouped["de"] == [{"premise": "Und er sagte", "hypothesis": 'Er sagte "nichts', "label": C}]
    assert grouped["en"] == [{"premise": "It rains", "hypothesis": 'The "weather" is bad', "label": E}]


def test_xnli10_language_filter(tmp_path):
    grouped = read_xnli10(make_xnli10(tmp_path / "xnli.dev.tsv"), languages=["fr", "sw"])
    assert list(grouped) == ["fr"] and len(grouped["fr"]) == 2


def test_xnli10_missing_column_is_named(tmp_path):
    header = XNLI10_HEADER.replace("\tsentence2\t", "\tsentenceX\t")
    path = write(tmp_path / "xnli.dev.tsv", [header, xnli10_line("fr", "neutral", "a", "b")])
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}:1: header has no column 'sentence2'"):
        read_xnli10(path)


def test_xnli10_short_row_names_line(tmp_path):
    path = write(
        tmp_path / "xnli.dev.tsv", [XNLI10_HEADER, xnli10_line("fr", "neutral", "a", "b"), "fr\tneutral"]
    )
    with pytest.raises(
        ValueError, match=rf"^{re.escape(str(path))}:3: expected 19 tab-separated columns, found 2$"
    ):
        read_xnli10(path)


# -------------------------------------------------------------------------------- training data


def test_xnli_mt_maps_contradictory(tmp_path):
    path = write(
        tmp_path / "multinli.train.fr.tsv",
        ["premise\thypo\tlabel", '"Ouvert\tfermé\tcontradictory', "a\tb\tneutral", 'c\t"d"\tentailment'],
    )
    assert read_xnli_mt(path) == [
        {"premise": '"Ouvert', "hypothesis": "fermé", "label": C},
        {"premise": "a", "hypothesis": "b", "label": N},
        {"premise": "c", "hypothesis": '"d"', "label": E},
    ]
    assert read_nli_file(path) == read_xnli_mt(path)


def test_xnli_mt_missing_column(tmp_path):
    path = write(tmp_path / "multinli.train.fr.tsv", ["premise\thypothesis\tlabel", "a\tb\tneutral"])
    with pytest.raises(ValueError, match="header has no column 'hypo'"):
        read_xnli_mt(path)


def test_mnli_jsonl_skips_no_consensus(tmp_path):
    records = [
        {"sentence1": '"Open quote', "sentence2": "b", "gold_label": "neutral", "pairID": "1"},
        {"sentence1": "c", "sentence2": "d", "gold_label": "-"},
        {"sentence1": "e", "sentence2": 'f "g" h', "gold_label": "contradiction"},
        {"premise": "i", "hypothesis": "j", "label": "Entailment"},
    ]
    path = write(tmp_path / "mnli.jsonl", [json.dumps(r, ensure_ascii=False) for r in records])
    rows = read_nli_jsonl(path)
    assert rows == [
        {"premise": '"Open quote', "hypothesis": "b", "label": N},
        {"premise": "e", "hypothesis": 'f "g" h', "label": C},
        {"premise": "i", "hypothesis": "j", "label": E},
    ]
    assert read_nli_file(path) == rows


def test_jsonl_errors_name_line(tmp_path):
    path = write(
        tmp_path / "bad.jsonl", ['{"sentence1": "a", "sentence2": "b", "gold_label": "neutral"}', "{oops"]
    )
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}:2: invalid JSON"):
        read_nli_jsonl(path)
    path = write(tmp_path / "nokey.jsonl", ['{"sentence1": "a", "gold_label": "neutral"}'])
    with pytest.raises(
        ValueError, match=rf"^{re.escape(str(path))}:1: missing key 'sentence2' or 'hypothesis'$"
    ):
        read_nli_jsonl(path)
    path = write(tmp_path / "int.jsonl", ['{"premise": "a", "hypothesis": "b", "label": 0}'])
    with pytest.raises(ValueError, match=rf"^{re.escape(str(path))}:1: label 0 is not a name"):
        read_nli_jsonl(path)


def test_mnli_original_tsv(tmp_path):
    path = write(
        tmp_path / "multinli_1.0_dev_matched.txt",
        [
            MNLI_HEADER,
            mnli_line("neutral", '"The new rights are nice enough', "Everyone really likes"),
            mnli_line("-", "no", "consensus"),
            mnli_line("contradiction", "This site", 'says "hi'),
        ],
    )
    assert read_nli_file(path) == [
        {"premise": '"The new rights are nice enough', "hypothesis": "Everyone really likes", "label": N},
        {"premise": "This site", "hypothesis": 'says "hi', "label": C},
    ]


def test_read_nli_file_plain_tsv(tmp_path):
    path = write(tmp_path / "mnli.train.tsv", pair_lines())
    assert read_nli_file(path) == expected()


def test_load_train_rows_sources(tmp_path):
    mt_dir = tmp_path / "XNLI-MT-1.0" / "multinli"
    write(mt_dir / "multinli.train.de.tsv", ["premise\thypo\tlabel", "a\tb\tcontradictory"])
    assert load_train_rows(str(mt_dir), language="de") == [{"premise": "a", "hypothesis": "b", "label": C}]
    plain = write(tmp_path / "en.train.tsv", pair_lines())
    assert load_train_rows(str(plain), language="en") == expected()
    with pytest.raises(FileNotFoundError, match="multinli.train.sw.tsv"):
        load_train_rows(str(mt_dir), language="sw")


# ----------------------------------------------------------------------------- evaluation splits


def make_tsv_dir(root: Path) -> Path:
    write(root / "dev" / "en.tsv", pair_lines())
    write(root / "dev" / "fr.tsv", ["Il pleut\tIl fait beau\tcontradiction"])
    write(root / "test" / "en.tsv", ["x\ty\tneutral", "z\tw\tentailment"])
    return root


def test_split_from_tsv_dir(tmp_path):
    root = make_tsv_dir(tmp_path / "xnli")
    dev = load_xnli_split(str(root), "dev", ["fr", "sw", "en"])
    assert list(dev) == ["fr", "en"]
    assert dev["en"] == expected()
    assert dev["fr"] == [{"premise": "Il pleut", "hypothesis": "Il fait beau", "label": C}]
    test = load_xnli_split(str(root), "test", ["en", "fr"])
    assert list(test) == ["en"] and [r["label"] for r in test["en"]] == [N, E]


def test_split_from_tsv_dir_none_present(tmp_path):
    root = make_tsv_dir(tmp_path / "xnli")
    with pytest.raises(FileNotFoundError) as info:
        load_xnli_split(str(root), "test", ["sw", "ur"])
    assert str(root / "test") in str(info.value) and "\n" not in str(info.value)


def test_split_from_xnli10_dir_and_file(tmp_path):
    make_xnli10(tmp_path / "XNLI-1.0" / "xnli.dev.tsv")
    by_dir = load_xnli_split(str(tmp_path / "XNLI-1.0"), "dev", ["fr", "en"])
    assert list(by_dir) == ["fr", "en"] and len(by_dir["fr"]) == 2 and len(by_dir["en"]) == 1
    by_file = load_xnli_split(str(tmp_path / "XNLI-1.0" / "xnli.dev.tsv"), "dev", ["fr", "en"])
    assert by_file == by_dir
    with pytest.raises(ValueError, match="this is the dev file"):
        load_xnli_split(str(tmp_path / "XNLI-1.0" / "xnli.dev.tsv"), "test", ["fr"])
    with pytest.raises(FileNotFoundError, match="xnli.test.tsv"):
        load_xnli_split(str(tmp_path / "XNLI-1.0"), "test", ["fr"])


def test_split_rejects_train(tmp_path):
    with pytest.raises(ValueError, match="split must be 'dev' or 'test'"):
        load_xnli_split(str(tmp_path), "train", ["en"])


# ------------------------------------------------------------------------------------- hub (fake)

# Deliberately not the hub order: mapping by position would scramble every label.
SHUFFLED_NAMES = ["contradiction", "entailment", "neutral"]


class FakeHub:
    """Stands in for ``datasets.load_dataset``; records the calls it receives."""

    def __init__(self):
        self.calls: list[tuple[str, str, str]] = []

    def __call__(self, name, config, split):
        import datasets

        self.calls.append((name, config, split))
        label = datasets.ClassLabel(names=SHUFFLED_NAMES)
        if config == "all_languages":
            return self.all_languages(label)
        features = datasets.Features(
            {"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"), "label": label}
        )
        data = {
            "premise": [f"{config}-p0", f'"{config}-p1', f"{config}-p2"],
            "hypothesis": [f"{config}-h0", f"{config}-h1", f"{config}-h2"],
            "label": [0, -1, 2],  # contradiction, unlabeled (dropped), neutral
        }
        return datasets.Dataset.from_dict(data, features=features)

    @staticmethod
    def all_languages(label):
        import datasets

        langs = ["de", "en", "fr"]
        features = datasets.Features(
            {
                "premise": datasets.Translation(languages=langs),
                "hypothesis": datasets.TranslationVariableLanguages(languages=langs),
                "label": label,
            }
        )
        data = {
            "premise": [{lang: f"{lang}-p{i}" for lang in langs} for i in range(2)],
            "hypothesis": [{lang: f"{lang}-h{i}" for lang in langs} for i in range(2)],
            "label": [1, 0],  # entailment, contradiction
        }
        return datasets.Dataset.from_dict(data, features=features)


def test_hub_per_language_maps_names_and_drops_unlabeled():
    hub = FakeHub()
    split = load_xnli_split("hf:facebook/xnli", "dev", ["fr", "de"], load_dataset=hub)
    assert hub.calls == [("facebook/xnli", "fr", "validation"), ("facebook/xnli", "de", "validation")]
    assert list(split) == ["fr", "de"]
    assert split["fr"] == [
        {"premise": "fr-p0", "hypothesis": "fr-h0", "label": C},
        {"premise": "fr-p2", "hypothesis": "fr-h2", "label": N},
    ]


def test_hub_all_languages_config():
    hub = FakeHub()
    split = load_xnli_split("hf:facebook/xnli:all_languages", "test", ["en", "fr"], load_dataset=hub)
    assert hub.calls == [("facebook/xnli", "all_languages", "test")]
    assert split == {
        "en": [
            {"premise": "en-p0", "hypothesis": "en-h0", "label": E},
            {"premise": "en-p1", "hypothesis": "en-h1", "label": C},
        ],
        "fr": [
            {"premise": "fr-p0", "hypothesis": "fr-h0", "label": E},
            {"premise": "fr-p1", "hypothesis": "fr-h1", "label": C},
        ],
    }
    with pytest.raises(ValueError, match="no 'sw' text"):
        load_hub_xnli("facebook/xnli:all_languages", "sw", "dev", load_dataset=hub)


def test_hub_unknown_config_is_refused():
    with pytest.raises(ValueError, match="only the config 'all_languages'"):
        load_xnli_split("hf:facebook/xnli:fr", "dev", ["fr"], load_dataset=FakeHub())


def test_hub_train_rows():
    hub = FakeHub()
    rows = load_train_rows("hf:facebook/xnli", language="en", load_dataset=hub)
    assert hub.calls == [("facebook/xnli", "en", "train")]
    assert [r["label"] for r in rows] == [C, N]
