"""The pre-processing setting (hf | xlm): recorded by `xlm-hf vocab`, kept by save_pretrained,
chosen by recipes for published tokenizers, and applied by corpora and XNLI encoding."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from transformers import XLMTokenizer

from xlm_hf import SAMPLE_DIR
from xlm_hf.config.loader import build_section
from xlm_hf.config.sections import DataConfig, ModelConfig, VocabConfig, XnliConfig
from xlm_hf.data import corpora, tokenise
from xlm_hf.errors import ConfigError
from xlm_hf.tasks.classification import encode_rows
from xlm_hf.text.fast_tokenizer import FastXLMTokenizer
from xlm_hf.text.pretokenize import RECORD_KEY, preprocessing_of, pretokenize, use_preprocessing, xlm_encode
from xlm_hf.vocab import build_vocab, normalise

# lines whose words differ between the two settings (see test_moses2019.py)
DIFFERING = {
    "en": ["Tabs\tand zero\u200bwidth spaces split words in St.", "He paid Rs. 500 and left."],
    "fr": ['Il a dit "non."', "Voir l'annexe ‘B’ demain."],
}


def _with_record(source: Path, target: Path, value: str | None) -> Path:
    """A copy of tokenizer directory `source` recording `value` (None: no record, as on the hub)."""
    shutil.copytree(source, target)
    config_file = target / "tokenizer_config.json"
    config = json.loads(config_file.read_text())
    config.pop(RECORD_KEY, None)
    if value is not None:
        config[RECORD_KEY] = value
    config_file.write_text(json.dumps(config))
    return target


@pytest.fixture(scope="module")
def xlm_vocab_dir(tmp_path_factory) -> Path:
    """A small vocabulary learned by `xlm-hf vocab` with ``preprocessing: xlm``."""
    out = tmp_path_factory.mktemp("vocab") / "xlm"
    config = VocabConfig(
        languages=["en", "fr"],
        data_dir=str(SAMPLE_DIR),
        output_dir=str(out),
        vocab_size=1500,
        sentences_per_language=600,
        preprocessing="xlm",
    )
    return build_vocab(config)


# ----------------------------------------------------------------------------- the record


def test_vocab_records_the_setting_and_save_pretrained_keeps_it(xlm_vocab_dir, sample_vocab_dir, tmp_path):
    assert json.loads((xlm_vocab_dir / "tokenizer_config.json").read_text())[RECORD_KEY] == "xlm"
    assert json.loads((sample_vocab_dir / "tokenizer_config.json").read_text())[RECORD_KEY] == "hf"
    for cls in (XLMTokenizer, FastXLMTokenizer):
        tokenizer = cls.from_pretrained(str(xlm_vocab_dir))
        assert preprocessing_of(tokenizer) == "xlm"
    XLMTokenizer.from_pretrained(str(xlm_vocab_dir)).save_pretrained(str(tmp_path / "saved"))
    assert preprocessing_of(XLMTokenizer.from_pretrained(str(tmp_path / "saved"))) == "xlm"


def test_the_vocabulary_is_learned_on_the_chosen_words(tmp_path):
    """A tab splits words under xlm (the 2019 script made it a space) and vanishes under hf."""
    corpus = tmp_path / "en.txt"
    corpus.write_text("tab\there ok\n" * 40, encoding="utf-8")
    vocabularies = {}
    for setting in ("hf", "xlm"):
        config = VocabConfig(
            languages=["en"],
            files={"en": [str(corpus)]},
            output_dir=str(tmp_path / setting),
            vocab_size=200,
            min_frequency=1,
            preprocessing=setting,
        )
        vocabularies[setting] = json.loads((build_vocab(config) / "vocab.json").read_text())
    assert "tabhere</w>" in vocabularies["hf"] and "tab</w>" not in vocabularies["hf"]
    assert {"tab</w>", "here</w>"} <= set(vocabularies["xlm"]) and "tabhere</w>" not in vocabularies["xlm"]
    assert normalise(["tab\there"], "en", True, 1, preprocessing="xlm") == {"tab\there": "tab here"}


def test_a_recipe_choice_applies_where_nothing_is_recorded(sample_vocab_dir, tmp_path):
    published = XLMTokenizer.from_pretrained(str(_with_record(sample_vocab_dir, tmp_path / "hub", None)))
    assert use_preprocessing(published, None, "model.preprocessing") == "hf"  # no record: hf
    assert use_preprocessing(published, "xlm", "model.preprocessing") == "xlm"
    published.save_pretrained(str(tmp_path / "saved"))  # ... and a model saved with it records it
    assert json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())[RECORD_KEY] == "xlm"


def test_a_record_wins_over_the_recipe_and_a_bad_record_fails(xlm_vocab_dir, tmp_path, caplog):
    tokenizer = XLMTokenizer.from_pretrained(str(xlm_vocab_dir))
    assert use_preprocessing(tokenizer, "xlm", "xnli.preprocessing") == "xlm" and not caplog.records
    assert use_preprocessing(tokenizer, "hf", "xnli.preprocessing") == "xlm"  # learned on xlm words
    assert "xnli.preprocessing: hf not applied" in caplog.text and preprocessing_of(tokenizer) == "xlm"
    broken = XLMTokenizer.from_pretrained(str(_with_record(xlm_vocab_dir, tmp_path / "bad", "moses")))
    with pytest.raises(ConfigError, match=r"bad/tokenizer_config\.json: xlm_hf_preprocessing is 'moses'"):
        preprocessing_of(broken)


def test_recipe_keys():
    assert build_section(ModelConfig, {"preprocessing": "xlm"}, "model").preprocessing == "xlm"
    assert ModelConfig().preprocessing is None
    values = {"model_name_or_path": "m", "train": "t.tsv", "eval": "e", "preprocessing": "xlm"}
    assert build_section(XnliConfig, values, "xnli").preprocessing == "xlm"
    vocab = {"languages": ["en"], "output_dir": "o", "data_dir": "d"}
    assert build_section(VocabConfig, vocab, "vocab").preprocessing == "hf"
    for section, cls, values in (("vocab", VocabConfig, vocab), ("model", ModelConfig, {})):
        with pytest.raises(
            ConfigError, match=rf"^{section}\.preprocessing: 'moses' is not one of 'hf', 'xlm'"
        ):
            build_section(cls, {**values, "preprocessing": "moses"}, section)


# ----------------------------------------------------------------------------- encoding applies it


def test_xlm_encode_follows_the_record(xlm_vocab_dir, tmp_path):
    hf_copy = _with_record(xlm_vocab_dir, tmp_path / "hf", "hf")
    xlm, hf = XLMTokenizer.from_pretrained(str(xlm_vocab_dir)), XLMTokenizer.from_pretrained(str(hf_copy))
    for lang, lines in DIFFERING.items():
        for line in lines:
            words = pretokenize(line, lang, preprocessing="xlm")
            assert xlm_encode(xlm, line, lang) == xlm.convert_tokens_to_ids(
                [piece for word in words for piece in xlm.bpe(word).split(" ")]
            )
            assert xlm_encode(xlm, line, lang) != xlm_encode(hf, line, lang), line


def _data_dir(tmp_path: Path) -> Path:
    """DIR/mono/{en,fr}.txt holding the differing lines, 20 times each."""
    for lang, lines in DIFFERING.items():
        (tmp_path / "data" / "mono").mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / "mono" / f"{lang}.txt").write_text(
            "\n".join(lines * 20) + "\n", encoding="utf-8"
        )
    return tmp_path / "data"


@pytest.mark.parametrize("fast", [True, False])
def test_corpora_apply_the_recorded_setting(xlm_vocab_dir, tmp_path, fast):
    config = DataConfig(
        languages=["en", "fr"],
        data_dir=str(_data_dir(tmp_path)),
        valid_size=2,
        fast_tokenizer=fast,
        cache_dir=str(tmp_path / "cache"),
    )
    data = corpora.load_corpora(config, xlm_vocab_dir)
    reference = XLMTokenizer.from_pretrained(str(xlm_vocab_dir))
    for lang, lines in DIFFERING.items():
        expected = {tuple(xlm_encode(reference, line, lang)) for line in lines}
        assert {tuple(ids) for ids in data.mono_train[lang].sentences()} == expected


def test_corpora_apply_a_recipe_setting_to_an_unrecorded_tokenizer(xlm_vocab_dir, tmp_path):
    published = _with_record(xlm_vocab_dir, tmp_path / "hub", None)
    config = DataConfig(
        languages=["en", "fr"], data_dir=str(_data_dir(tmp_path)), valid_size=2, cache_dir=str(tmp_path / "c")
    )
    recorded = corpora.load_corpora(config, xlm_vocab_dir)
    chosen = corpora.load_corpora(config, published, preprocessing="xlm")
    unchosen = corpora.load_corpora(config, published)  # no record, no choice: hf, its own cache entries
    assert unchosen.cache_misses == 2
    for lang in DIFFERING:
        assert chosen.mono_train[lang].sentences() == recorded.mono_train[lang].sentences()
        assert unchosen.mono_train[lang].sentences() != recorded.mono_train[lang].sentences()
    ignored = tokenise.encode(
        DIFFERING["en"], str(xlm_vocab_dir), "en", preprocessing="hf"
    )  # the record wins
    assert ignored == tokenise.encode(DIFFERING["en"], str(xlm_vocab_dir), "en")


def test_xnli_rows_are_encoded_with_the_setting(xlm_vocab_dir, tmp_path):
    rows = [{"text": p, "text_pair": h, "label": 1, "lang": "fr"} for p, h in [DIFFERING["fr"]]]
    published = XLMTokenizer.from_pretrained(str(_with_record(xlm_vocab_dir, tmp_path / "hub", None)))
    as_hf = encode_rows(rows, published, max_len=64)[0]["input_ids"]
    use_preprocessing(published, "xlm", "xnli.preprocessing")
    as_xlm = encode_rows(rows, published, max_len=64)[0]["input_ids"]
    a, b = (xlm_encode(XLMTokenizer.from_pretrained(str(xlm_vocab_dir)), s, "fr") for s in DIFFERING["fr"])
    assert as_xlm == [1, *a, 1, *b, 1] and as_xlm != as_hf
