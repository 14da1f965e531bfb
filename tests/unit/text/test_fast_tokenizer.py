"""FastXLMTokenizer: the same tokens and ids as XLMTokenizer on strings that exercise every step."""

from __future__ import annotations

import json
import pickle
import re
import shutil

import pytest
import yaml
from transformers import XLMTokenizer
from transformers.models.xlm.tokenization_xlm import (
    lowercase_and_remove_accent,
    remove_non_printing_char,
    replace_unicode_punct,
)

import xlm_hf
from xlm_hf import SAMPLE_DIR
from xlm_hf.config.loader import build_section
from xlm_hf.config.sections import DataConfig
from xlm_hf.data import corpora, tokenise
from xlm_hf.errors import ConfigError
from xlm_hf.text import moses2019
from xlm_hf.text.fast_moses import (
    fast_lowercase_and_remove_accent,
    fast_remove_non_printing_char,
    fast_replace_unicode_punct,
    required_literal,
)
from xlm_hf.text.fast_tokenizer import FastXLMTokenizer, compiled_bpe, merges_are_incremental
from xlm_hf.text.pretokenize import RECORD_KEY, xlm_encode, xlm_tokenize

from .test_moses2019 import RULES

COMMON = [
    "",
    "   ",
    "\t \u00a0 ",
    "Hello, world!",
    "It costs $5,300.50 (about 4.999,99 €) -- or 1,2,3...",
    "Numbers: 3.14, 1 000 000, 10 %, 5% and 1/2.",
    "A \"quoted\" word, 'single' ones, ``ticks'' and «guillemets» .",
    "Dots... and more.... and .. two. End.'",
    "Mr. Smith met Dr. Who at No. 5 and no. 6 on Jan. 3. Then U.S. troops left etc. and went home.",
    "e-mail foo-bar@example.com, https://example.com/a/b-c.html?x=1&y=2 or www.test.org.",
    "well-known self-made co-operation -- hyphens - and dashes – and — em.",
    "non\u200bprinting\u200d chars\x07 and \ufeffBOM, soft\u00adhyphen, tab\there.",
    "Accents: café, naïve, Ångström, ÉCOLE, façade, Straße, İstanbul.",
    "Emoji 😀👍🏽 and symbols ©®™ § ¶ † ‡ • ° ± × ÷ ½ → ∞ ≠ ≤.",
    "Full-width：（括号）！？，、。 and ［brackets］ ＡＢＣ １２３",
    "Brackets [x] {y} <z> (w) and slashes a/b c\\d | pipe & amp # hash @ at.",
    "word" * 60,
    "\u201cCurly quotes\u201d, \u2018single\u2019 ones and ‚low‘ „German“ ones.",
    "Backticks `here` and ´acute´´ marks; colon : semicolon ; question ? ! bang",
    "CAPITALS AND lowercase Mixed Case WORDS.",
]

PER_LANGUAGE = {
    "en": [
        "Don't you know it's John's car? They'll say we've been, I'd go, can't won't.",
        "'Tis gonna be cannot, gimme, wanna, lemme, 'twas the 90's.",
        "He said 'hello' and left. 'Quote at start",
    ],
    "fr": [
        "L'homme qu'il a vu aujourd'hui n'est pas là ; c'est « très » bien !",
        "Il a dit : « Bonjour ! » et 12\u00a0345,67\u00a0€ d'après l'INSEE.",
        "Jusqu'à présent, l'Union européenne (UE) s'est élargie.",
    ],
    "de": [
        "Die Straße ist 3,5 km lang, sagte Hr. Müller z. B. am 3. Okt. 2020.",
        "„Gänsefüßchen“ und »Guillemets« sowie 1\u00a0000 Äpfel.",
    ],
    "es": ["¿Qué tal? ¡Muy bien! El Sr. García tiene 1.234,56 €.", "Él dijo: «no» y 3\u00a0000."],
    "it": ["L'uomo dell'anno, un'altra volta; c'è qualcos'altro.", "Quest'anno l'Italia è lì."],
    "ro": ["Şi ţara, ştiinţă şi ȘȚ ăâî ĂÂÎ; România.", "În anul 2020, s-a întâmplat ceva."],
    "el": [
        "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας; Ναι, είναι.",
        "Ά Έ Ή Ί Ό Ύ Ώ ΐ ΰ ϊ ϋ",
        "ΟΔΟΣ ΚΑΙ Σ ΣΑΣ ΑΣ. Α.Σ. ΌΣΟΣ' ΣΣ ΑΣ-ΒΣ ΑΣ:Β",  # final sigma depends on the letters around it
    ],
    "ru": ["Москва — столица России. Ёжик, т.е. «ёж», и т. д.", "Ул. Ленина, д. 5, кв. 3."],
    "bg": ["България е държава в Югоизточна Европа. Проф. Иванов каза: „Да“."],
    "ar": ["اللغة العربية هي لغة رسمية، وهي لغةٌ سامية؟ نعم!", "العدد ١٢٣ و٣٫١٤ ، «نص»."],
    "hi": ["हिन्दी भारत की राजभाषा है। क्या यह सही है?", "डॉ. शर्मा ने कहा: 'नमस्ते'।"],
    "ur": ["اردو پاکستان کی قومی زبان ہے۔ کیا یہ درست ہے؟", "یہ_ایک_جملہ ہے"],
    "tr": ["İstanbul'da ılık bir gün; Dr. Öz'ün kitabı 1.500 TL.", "Ağaç, şeker, çiçek, ğ ı İ."],
    "vi": ["Tiếng Việt là ngôn ngữ chính thức của Việt Nam.", "Ông Nguyễn Văn A., sinh năm 1990."],
    "sw": ['Kiswahili ni lugha ya Kibantu. Yesu akasema, "Nifuateni."'],
    "zh": ["中文（汉语）是世界上使用人数最多的语言。你好，世界！", "２０２０年，【北京】“奥运会”：ＡＢＣ～"],
    "th": ["ภาษาไทยเป็นภาษาราชการของประเทศไทย ครับ", "สวัสดี 123 ครับ, ขอบคุณ!"],
}

CASES = [(lang, text) for lang in PER_LANGUAGE for text in COMMON + PER_LANGUAGE[lang]]


@pytest.fixture(scope="module")
def fast_tokenizer(sample_vocab_dir):
    return FastXLMTokenizer.from_pretrained(str(sample_vocab_dir))


@pytest.mark.parametrize(("lang", "text"), CASES)
def test_tokens_and_ids_match_the_reference(sample_tokenizer, fast_tokenizer, lang, text):
    expected = xlm_tokenize(sample_tokenizer, text, lang)
    assert xlm_tokenize(fast_tokenizer, text, lang) == expected
    ids = xlm_encode(sample_tokenizer, text, lang)
    assert fast_tokenizer.encode_text(text, lang) == ids
    assert fast_tokenizer.encode_text(text, lang) == ids  # second time from the word cache
    assert xlm_encode(fast_tokenizer, text, lang) == ids


@pytest.fixture(scope="module")
def xlm_pair(sample_vocab_dir, tmp_path_factory):
    """(XLMTokenizer, FastXLMTokenizer) of the sample vocabulary, recording the xlm pre-processing."""
    directory = tmp_path_factory.mktemp("xlm") / "v"
    shutil.copytree(sample_vocab_dir, directory)
    config = json.loads((directory / "tokenizer_config.json").read_text())
    (directory / "tokenizer_config.json").write_text(json.dumps({**config, RECORD_KEY: "xlm"}))
    return XLMTokenizer.from_pretrained(str(directory)), FastXLMTokenizer.from_pretrained(str(directory))


XLM_CASES = CASES + [(lang, line) for _, lang, line, _ in RULES]


@pytest.mark.parametrize(("lang", "text"), XLM_CASES)
def test_xlm_preprocessing_tokens_and_ids_match_the_reference(xlm_pair, lang, text):
    """With xlm, the reference is `xlm_tokenize`'s path: `pretokenize(..., "xlm")` then HF's BPE."""
    reference, fast = xlm_pair
    expected = xlm_tokenize(reference, text, lang)
    assert xlm_tokenize(fast, text, lang) == expected
    ids = xlm_encode(reference, text, lang)
    assert fast.encode_text(text, lang) == ids
    assert fast.encode_text(text, lang) == ids  # second time from the word cache


def test_xlm_and_hf_fast_paths_differ_where_the_rules_do(xlm_pair, fast_tokenizer):
    _, fast_xlm = xlm_pair
    for _, lang, line, _ in RULES:
        assert xlm_tokenize(fast_xlm, line, lang) != xlm_tokenize(fast_tokenizer, line, lang), (lang, line)


def test_the_compiled_bpe_is_used_for_a_learned_vocabulary(fast_tokenizer):
    assert fast_tokenizer._bpe_model is not None
    assert fast_tokenizer.bpe_pieces("internationalisation") == fast_tokenizer.bpe(
        "internationalisation"
    ).split(" ")


def test_unknown_characters_become_unk_as_in_the_reference(sample_tokenizer, fast_tokenizer):
    text = "ʬʭ ꙮ x\U0001f9ff y 𓀀abc"
    ids = xlm_encode(sample_tokenizer, text, "en")
    assert sample_tokenizer.unk_token_id in ids
    assert fast_tokenizer.encode_text(text, "en") == ids


def test_special_token_strings_in_text_are_plain_text(sample_tokenizer, fast_tokenizer):
    text = "a <s> b </s> <special1> <unk> c"
    assert fast_tokenizer.encode_text(text, "en") == xlm_encode(sample_tokenizer, text, "en")


def test_a_cache_limit_does_not_change_ids(sample_tokenizer, fast_tokenizer, monkeypatch):
    monkeypatch.setattr("xlm_hf.text.fast_tokenizer.MAX_CACHED_WORDS", 3)
    lines = (SAMPLE_DIR / "mono" / "fr.txt").read_text(encoding="utf-8").splitlines()[:30]
    for line in lines:
        assert fast_tokenizer.encode_text(line, "fr") == xlm_encode(sample_tokenizer, line, "fr")
    assert len(fast_tokenizer._word_ids) <= 3 + max(len(line.split()) * 3 for line in lines)


def test_tokens_added_later_are_honoured(sample_vocab_dir):
    reference = XLMTokenizer.from_pretrained(str(sample_vocab_dir))
    fast = FastXLMTokenizer.from_pretrained(str(sample_vocab_dir))
    text = "the new word zzzq"
    assert fast.encode_text(text, "en") == xlm_encode(reference, text, "en")
    for tok in (reference, fast):
        tok.add_tokens(["zzzq</w>", "the</w>"])
    assert fast.encode_text(text, "en") == xlm_encode(reference, text, "en")
    assert fast._cache_key[1] == len(fast._added_tokens_encoder)  # the caches were rebuilt


def test_non_incremental_merges_fall_back_to_hf_bpe(sample_vocab_dir, tmp_path):
    """A merge that uses a string no earlier merge made: the Python BPE, still the same ids."""
    import shutil

    shutil.copytree(sample_vocab_dir, tmp_path / "v")
    merges = (tmp_path / "v" / "merges.txt").read_text(encoding="utf-8")
    (tmp_path / "v" / "merges.txt").write_text("xy z\n" + merges, encoding="utf-8")
    reference = XLMTokenizer.from_pretrained(str(tmp_path / "v"))
    fast = FastXLMTokenizer.from_pretrained(str(tmp_path / "v"))
    assert fast._bpe_model is None
    for text in ("xyz xy z the xyzzy", "Le monde entier."):
        assert fast.encode_text(text, "fr") == xlm_encode(reference, text, "fr")


def test_merges_are_incremental_rules():
    assert merges_are_incremental([("a", "b"), ("ab", "c</w>"), ("x", "abc</w>")])
    assert not merges_are_incremental([("ab", "c")])
    assert not merges_are_incremental([("a",)])
    assert compiled_bpe({"a": 0}, {("bc", "d"): 0}) is None


def test_bypass_and_japanese_use_the_reference(sample_tokenizer, fast_tokenizer, monkeypatch):
    monkeypatch.setattr(XLMTokenizer, "ja_tokenize", lambda self, text: text.split())
    for kwargs in ({"lang": "ja"}, {"lang": "en", "bypass_tokenizer": True}):
        text = "Ｔｈｅ catｓ 東京 sat."
        assert fast_tokenizer._tokenize(text, **kwargs) == sample_tokenizer._tokenize(text, **kwargs)
    assert fast_tokenizer.encode_text("東京 です", "ja") == xlm_encode(sample_tokenizer, "東京 です", "ja")


def test_japanese_with_xlm_uses_the_reference_path(xlm_pair, monkeypatch):
    reference, fast = xlm_pair
    monkeypatch.setattr("xlm_hf.text.pretokenize.kytea_words", lambda text: text.split())
    monkeypatch.setattr("xlm_hf.text.moses2019.kytea_words", lambda text: text.split())
    text = "東京\tです。"
    assert fast.encode_text(text, "ja") == xlm_encode(reference, text, "ja")
    assert xlm_tokenize(reference, text, "ja") != xlm_tokenize(reference, "東京です。", "ja")  # tab: a space


def test_without_lowercasing(sample_vocab_dir):
    reference = XLMTokenizer.from_pretrained(str(sample_vocab_dir), do_lowercase_and_remove_accent=False)
    fast = FastXLMTokenizer.from_pretrained(str(sample_vocab_dir), do_lowercase_and_remove_accent=False)
    for lang, text in CASES[:: len(COMMON) // 3]:
        assert fast.encode_text(text, lang) == xlm_encode(reference, text, lang), (lang, text)


def test_pickles_without_its_word_cache(fast_tokenizer):
    fast_tokenizer.encode_text("Un petit test.", "fr")
    copy = pickle.loads(pickle.dumps(fast_tokenizer))
    assert copy._word_ids == {}
    assert copy.encode_text("Un petit test.", "fr") == fast_tokenizer.encode_text("Un petit test.", "fr")


def test_exported_from_the_package():
    assert xlm_hf.FastXLMTokenizer is FastXLMTokenizer
    with pytest.raises(AttributeError):
        xlm_hf.NoSuchThing  # noqa: B018


# ----------------------------------------------------------------------------- the steps alone


def test_every_character_replace_unicode_punct_rewrites_is_detected():
    changed = [c for c in map(chr, range(0x80, 0x10000)) if replace_unicode_punct(c + "x") != c + "x"]
    assert len(changed) > 30
    assert all(fast_replace_unicode_punct(c + " a") == replace_unicode_punct(c + " a") for c in changed)
    assert fast_replace_unicode_punct("ｘ" * 3) == "ｘ" * 3


@pytest.mark.parametrize("text", COMMON + [t for texts in PER_LANGUAGE.values() for t in texts])
def test_character_steps_match_hf(text):
    assert fast_remove_non_printing_char(text) == remove_non_printing_char(text)
    assert fast_remove_non_printing_char(text, " ") == moses2019.remove_non_printing_char(text)
    words = text.split()
    assert fast_lowercase_and_remove_accent(words) == lowercase_and_remove_accent(words)


def test_every_character_the_2019_script_rewrites_is_detected():
    replace = moses2019.punct_normalizer("en").replace_unicode_punct
    changed = [c for c in map(chr, range(0x80, 0x10000)) if replace(c + "x") != c + "x"]
    assert len(changed) > 30
    assert all(fast_replace_unicode_punct(c + " a", replace) == replace(c + " a") for c in changed)


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [
        (r"\r", "\r"),
        (r"\) ([.!:?;,])", ") "),
        (r"(\d) %", " %"),
        ("([a-zA-Z])‘([a-zA-Z])", "‘"),
        (r'(\.+)"(\s*[^<])', '"'),
        ("\u00a0\\?", "\u00a0?"),
        (r"\.' ?$", ".'"),
        (r"[^a]", None),
    ],
)
def test_required_literal(pattern, literal):
    assert required_literal(pattern) == literal
    if literal:  # a literal every match contains
        for sample in ("a) .", "5 %", "b‘c", '.. "x', "\u00a0?", "x.' "):
            match = re.search(pattern, sample)
            assert match is None or literal in match.group()


# ----------------------------------------------------------------------------- corpora


def test_corpora_encode_fast_and_reference_agree(sample_vocab_dir):
    lines = (SAMPLE_DIR / "mono" / "de.txt").read_text(encoding="utf-8").splitlines()[:100]
    fast = tokenise.encode(lines, str(sample_vocab_dir), "de")
    assert fast == tokenise.encode(lines, str(sample_vocab_dir), "de", fast=False)
    assert isinstance(tokenise.load_tokenizer(str(sample_vocab_dir)), FastXLMTokenizer)
    assert not isinstance(tokenise.load_tokenizer(str(sample_vocab_dir), fast=False), FastXLMTokenizer)


def test_load_corpora_ids_do_not_depend_on_the_fast_path(sample_vocab_dir, tmp_path):
    out = {}
    for fast in (True, False):
        config = DataConfig(
            languages=["en", "fr"],
            objectives=["mlm", "tlm"],
            data_dir=str(SAMPLE_DIR),
            max_lines_per_language=150,
            fast_tokenizer=fast,
            cache_dir=str(tmp_path / f"cache-{fast}"),
        )
        out[fast] = corpora.load_corpora(config, sample_vocab_dir)
    for attr in ("mono_train", "mono_valid", "para_train", "para_valid"):
        for key, data in getattr(out[True], attr).items():
            assert data.sentences() == getattr(out[False], attr)[key].sentences(), (attr, key)


def test_process_count(monkeypatch):
    assert tokenise.process_count(4, 100) == 4  # an explicit count is used
    assert tokenise.process_count(1, 10**9) == 1
    monkeypatch.setattr(tokenise.os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert tokenise.process_count(None, 10**10) == tokenise.MAX_AUTO_PROCESSES
    assert tokenise.process_count(None, 3 * tokenise.BYTES_PER_PROCESS) == 3  # one per 2 MB of text
    assert tokenise.process_count(None, tokenise.BYTES_PER_PROCESS // 2) == 1
    assert tokenise.process_count(None, None) == tokenise.MAX_AUTO_PROCESSES  # a hub corpus: every core


def test_recipe_fields():
    config = DataConfig(languages=["en"], data_dir=".")
    assert config.fast_tokenizer is True and config.num_proc is None
    with pytest.raises(ConfigError, match="data.num_proc"):
        DataConfig(languages=["en"], data_dir=".", num_proc=0)
    values = yaml.safe_load("languages: [en]\ndata_dir: .\nfast_tokenizer: false\nnum_proc: 3\n")
    loaded = build_section(DataConfig, values, "data")
    assert loaded.fast_tokenizer is False and loaded.num_proc == 3
