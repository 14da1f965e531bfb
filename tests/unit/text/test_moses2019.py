"""The 2019 Moses rules, pinned by hand-made lines: the words below are what the Perl scripts of
Moses 49b388a printed for them (tools/tokenize.sh without lowercasing), and each differs from
what sacremoses / `XLMTokenizer` make of the same line, so every test pins one replaced rule."""

from __future__ import annotations

import re

import pytest

from xlm_hf.text import moses2019
from xlm_hf.text.pretokenize import pretokenize

# (rule, lang, line, the words the 2019 scripts print)
RULES = [
    ("virama", "hi", "उत्तर प्रदेश की राजधानी", ["उत", "्", "तर", "प", "्", "रदेश", "की", "राजधानी"]),
    ("nukta", "hi", "क़िला और ज़्यादा", ["क", "़", "िला", "और", "ज", "़", "्", "यादा"]),
    ("virama", "ta", "திரு. ராமன் வந்தார்.", ["திரு.", "ராமன", "்", "வந", "்", "தார", "்", "."]),
    (
        "quote before period",
        "sw",
        'Yesu akasema, "Nifuateni." Wakaenda.',
        ["Yesu", "akasema", ",", '"', "Nifuateni", '"', ".", "Wakaenda", "."],
    ),
    ("quote before period at the end", "fr", 'Il a dit "non."', ["Il", "a", "dit", '"', "non", '"', "."]),
    (
        "non-printing chars become spaces",
        "en",
        "non\u200bprinting\u200d chars\x07 and soft\u00adhyphen, tab\there.",
        ["non", "printing", "chars", "and", "soft", "hyphen", ",", "tab", "here", "."],
    ),
    ("final dot", "en", "He lives in St.", ["He", "lives", "in", "St", "."]),
    (
        "2019 prefix list and final dot",
        "en",
        "Mr. Smith paid Rs. 500 for No. 5 and no. six in Jan.",
        ["Mr.", "Smith", "paid", "Rs", ".", "500", "for", "No.", "5", "and", "no.", "six", "in", "Jan", "."],
    ),
    (
        "a blank after a prefix entry is part of it",
        "es",
        "El Fil. Juan y el Sr. García.",
        ["El", "Fil", ".", "Juan", "y", "el", "Sr.", "García", "."],
    ),
    (
        "single low and high quotes become double quotes",
        "en",
        "It is ‘quoted’ and ‚low‘ here.",
        ["It", "is", '"', "quoted", "'", "and", '"', "low", '"', "here", "."],
    ),
    (
        "ASCII digits around a no-break space",
        "ar",
        "العدد ٣\u00a0٤ و 5\u00a06",
        ["العدد", "٣", "٤", "و", "5.6"],
    ),
    ("ASCII digits (th: no tokenizer)", "th", "ราคา ๓\u00a0๔ บาท", ["ราคา", "๓", "๔", "บาท"]),
    ("Perl's letters: Han", "vi", "chữ Hán 漢字 và ՠ.", ["chữ", "Hán", "漢字", "và", "ՠ", "."]),
    (
        "Perl's classes beyond the BMP",
        "en",
        "𝐀𝐁𝐂 and 😀x 𐌰𐌱, it's 𝟓's 𝐱'𝐲.",
        ["𝐀𝐁𝐂", "and", "😀", "x", "𐌰𐌱", ",", "it", "'s", "𝟓", "'s", "𝐱", "'𝐲", "."],
    ),
    (
        "Perl's classes beyond the BMP",
        "fr",
        "l'𝐀 d'😀 𝟓,𝟔 𐌰,b",
        ["l'", "𝐀", "d", "'", "😀", "𝟓,𝟔", "𐌰", ",", "b"],
    ),
    (
        "fi colon",
        "fi",
        "USA:n ja EU:ssa: Kello 20:een. Hän sanoi: Ei",
        ["USA:n", "ja", "EU:ssa", ":", "Kello", "20:een", ".", "Hän", "sanoi", ":", "Ei"],
    ),
    ("sv colon", "sv", "S:t Eriks gata: Nej", ["S:t", "Eriks", "gata", ":", "Nej"]),
    (
        "ga apostrophe",
        "ga",
        "D'fhág sé an t-oileán, a dúirt sé 'sea'.",
        ["D'", "fhág", "sé", "an", "t-oileán", ",", "a", "dúirt", "sé", "'", "sea", "'", "."],
    ),
    ("so apostrophe", "so", "Ka'aan iyo 'wax' ma'aha.", ["Ka'aan", "iyo", "'", "wax", "'", "ma'aha", "."]),
]


@pytest.mark.parametrize(("rule", "lang", "line", "expected"), RULES, ids=[r[0] + "-" + r[1] for r in RULES])
def test_the_2019_rule_and_not_sacremoses(rule, lang, line, expected):
    assert moses2019.words(line, lang) == expected
    assert pretokenize(line, lang, False, "xlm") == expected
    assert pretokenize(line, lang, False, "hf") != expected


def test_lowercasing_then_removes_the_split_virama():
    """XLM's accent removal deletes the virama word: "प्रदेश" becomes two words."""
    assert pretokenize("उत्तर प्रदेश", "hi", preprocessing="xlm") == ["उत", "तर", "प", "रदश"]
    assert pretokenize("उत्तर प्रदेश", "hi", preprocessing="hf") == ["उततर", "परदश"]
    assert pretokenize("ÉCOLE Straße ΟΔΟΣ", "fr", preprocessing="xlm") == ["ecole", "straße", "οδος"]


def test_the_cleaning_scripts():
    assert moses2019.moses_pipeline("价格１００％。  好", "zh") == '价格"00%. 好'  # １ was mapped to a quote
    assert moses2019.moses_pipeline("。\t好", "zh") == ".  好"  # 。 ate spaces only, the tab became one
    assert moses2019.remove_non_printing_char("a\tb\u200dc\x00") == "a b c "
    assert moses2019.punct_normalizer("en").normalize("  keeps edges  ") == " keeps edges "
    assert moses2019.punct_normalizer("cs").normalize('"ne."') == '"ne."'  # cs: no quote rule
    assert moses2019.punct_normalizer("de").normalize('so "ja." <b>') == 'so "ja". <b>'
    assert moses2019.punct_normalizer("de").normalize('so "ja."<b>') == 'so "ja."<b>'  # not before <
    assert moses2019.punct_normalizer("fr").normalize("1\u00a0000") == "1,000"


def test_perl_classes():
    letter = re.compile(f"[{moses2019.perl_class('Alnum')}]")
    assert letter.match("क") and letter.match("ि") and letter.match("漢") and letter.match("٣")
    assert not letter.match("्") and not letter.match("़") and not letter.match("%")
    assert moses2019.is_alphabetic("ⓐ") and not "ⓐ".isalpha()  # circled letters: Other_Alphabetic
    assert not moses2019.is_alphabetic("्") and moses2019.is_alphabetic("ा")
    assert re.fullmatch(f"[{moses2019.perl_class('N')}]+", "٣५๓Ⅻ½𝟓")
    for names, negate in ((("Alpha",), False), (("Alpha", "N"), True), (("Ll",), True)):
        whole = re.compile(f"[{'^' if negate else ''}{''.join(map(moses2019.perl_class, names))}]")
        split = re.compile(moses2019.one_of(*names, negate=negate))
        sample = "aZ5٣्ाⓐ漢 ,'.\t𝐀𝟓😀𐌰\U0001e900\U000e0001"
        assert [bool(whole.fullmatch(c)) for c in sample] == [bool(split.fullmatch(c)) for c in sample]


def test_prefix_tables_are_read_as_perl_read_them():
    table = moses2019.perl_prefix_table(
        ["#comment", "", "0", "Dr", "Fil ", "No #NUMERIC_ONLY# ", "pp  #NUMERIC_ONLY#"]
    )
    assert table == {"Dr": 1, "Fil ": 1, "No": 2, "pp ": 2}
    assert moses2019.nonbreaking_prefixes("hi") == moses2019.nonbreaking_prefixes("en")  # no 2019 list
    assert "Rs" not in moses2019.nonbreaking_prefixes("en")
    assert moses2019.nonbreaking_prefixes("en")["No"] == 2


def test_a_changed_sacremoses_list_is_refused(monkeypatch):
    real = moses2019.sacremoses_prefix_file
    monkeypatch.setattr(moses2019, "sacremoses_prefix_file", lambda lang: real(lang) + "Neu\n")
    moses2019.nonbreaking_prefixes.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="nonbreaking_prefix.de"):
            moses2019.nonbreaking_prefixes("de")
    finally:
        moses2019.nonbreaking_prefixes.cache_clear()


def test_unknown_setting():
    with pytest.raises(ValueError, match="preprocessing"):
        pretokenize("a", "en", preprocessing="moses")
