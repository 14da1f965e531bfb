"""XLM text normalisation: the words a line becomes before BPE, under one of two settings.

- ``hf`` (the default): the exact pre-processing `transformers.XLMTokenizer` applies. Moses
  pipeline (replace unicode punctuation → normalise punctuation → drop non-printing characters →
  tokenise without escaping) by sacremoses, zh through rjieba and th through PyThaiNLP, then optional
  lowercase + accent removal. The steps are HF's own functions, so the two cannot drift: a
  vocabulary learned on this output is split by a plain `XLMTokenizer` exactly as in training.
- ``xlm``: the original XLM scripts (Perl Moses of January 2019, see `moses2019`), on which the
  published XLM vocabularies were learned; continue or fine-tune those with it.

A tokenizer directory records its setting in ``tokenizer_config.json`` (`RECORD_KEY`), which
`save_pretrained` copies into every model saved with the tokenizer; `xlm_tokenize` / `xlm_encode`
apply the recorded setting, and a directory without a record (a published tokenizer) means ``hf``.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

import sacremoses
from transformers.models.xlm.tokenization_xlm import (
    lowercase_and_remove_accent,
    remove_non_printing_char,
    replace_unicode_punct,
    romanian_preprocessing,
)

from xlm_hf.errors import ConfigError
from xlm_hf.text import moses2019
from xlm_hf.text.moses2019 import kytea_words

logger = logging.getLogger(__name__)

PREPROCESSINGS = ("hf", "xlm")
#: Languages pre-processed by another language's rules. ``twin`` is the twin study's control
#: language: English enciphered letter by letter (`xlm_hf.reproduce.twin`), so it takes the
#: English Moses rules, under which enciphering and pre-processing commute.
PREPROCESSED_AS = {"twin": "en"}


def rules_language(lang: str) -> str:
    """The language whose Moses rules and segmenter `lang`'s text is pre-processed with."""
    return PREPROCESSED_AS.get(lang, lang)


#: The tokenizer_config.json key holding a tokenizer directory's pre-processing.
RECORD_KEY = "xlm_hf_preprocessing"


@cache
def _normalizer(lang: str) -> sacremoses.MosesPunctNormalizer:
    return sacremoses.MosesPunctNormalizer(lang=lang)


@cache
def _tokenizer(lang: str) -> sacremoses.MosesTokenizer:
    return sacremoses.MosesTokenizer(lang=lang)


def moses_pipeline(text: str, lang: str) -> str:
    text = replace_unicode_punct(text)
    text = _normalizer(lang).normalize(text)
    return remove_non_printing_char(text)


def pretokenize(
    text: str, lang: str, lowercase_and_remove_accents: bool = True, preprocessing: str = "hf"
) -> list[str]:
    """Words of one line of `text` just before BPE: as `XLMTokenizer(..., lang=lang)` sees them
    (``hf``) or as the original XLM scripts print them (``xlm``)."""
    lang = rules_language(lang)
    if preprocessing == "xlm":
        words = moses2019.words(text, lang)
        if lowercase_and_remove_accents:  # the XLM script works on the line the tokenizer printed
            return moses2019.lowercase_and_remove_accent(" ".join(words)).split()
        return words
    if preprocessing != "hf":
        raise ValueError(f"preprocessing must be one of {PREPROCESSINGS}, not {preprocessing!r}")
    if lang == "zh":
        import rjieba

        words = moses_pipeline(" ".join(rjieba.cut(text)), lang).split()
    elif lang == "ja":
        words = kytea_words(moses_pipeline(text, lang))
    elif lang == "th":
        from pythainlp.tokenize import word_tokenize

        words = word_tokenize(moses_pipeline(text, lang))
    else:
        text = moses_pipeline(text, lang)
        if lang == "ro":
            text = romanian_preprocessing(text)
        words = _tokenizer(lang).tokenize(text, return_str=False, escape=False)
    if lowercase_and_remove_accents:
        words = lowercase_and_remove_accent(words)
    return [w for w in words if w and not w.isspace()]


# ----------------------------------------------------------------------------- the recorded setting


def recorded_preprocessing(tokenizer: Any) -> str | None:
    """The setting a loaded tokenizer's directory records, or None (a published tokenizer)."""
    value = tokenizer.init_kwargs.get(RECORD_KEY)
    if value is not None and value not in PREPROCESSINGS:
        raise ConfigError(
            f"{tokenizer.name_or_path}/tokenizer_config.json: {RECORD_KEY} is {value!r}, "
            f"not one of {', '.join(PREPROCESSINGS)}"
        )
    return value


def preprocessing_of(tokenizer: Any) -> str:
    """The pre-processing `xlm_tokenize` applies with `tokenizer`: its record, else ``hf``."""
    return recorded_preprocessing(tokenizer) or "hf"


def use_preprocessing(tokenizer: Any, requested: str | None, key: str) -> str:
    """The pre-processing to encode with, given a recipe's choice (`requested`, at `key`).

    A record wins: the vocabulary was learned on its words (a differing choice is logged). The
    choice is for tokenizers that record nothing (published ones); it goes into `init_kwargs`,
    so a model saved with the tokenizer records it. Without either, ``hf``.
    """
    recorded = recorded_preprocessing(tokenizer)
    if recorded is not None:
        if requested not in (None, recorded):
            logger.warning(
                "%s: %s not applied: the tokenizer at %s was built with %s pre-processing, which it keeps",
                key,
                requested,
                tokenizer.name_or_path,
                recorded,
            )
        return recorded
    if requested is not None:
        tokenizer.init_kwargs[RECORD_KEY] = requested
    return requested or "hf"


# ----------------------------------------------------------------------------- encoding


def xlm_tokenize(tokenizer, text: str, lang: str) -> list[str]:
    """BPE tokens of `text` with `lang`'s own pre-processing, under the tokenizer's setting.

    In transformers 5.x, `PreTrainedTokenizer.tokenize(text, lang="fr")` does not pass `lang` on
    to `_tokenize`: every language is silently processed with the English Moses rules and no
    zh/th segmenter. `_tokenize` still honours `lang`, so the toolkit calls it directly (``hf``;
    `FastXLMTokenizer._tokenize` applies either setting itself). For ``xlm`` the words come from
    `pretokenize` and each is split by the tokenizer's own BPE, as `_tokenize` does.
    """
    # FastXLMTokenizer applies either setting in its own `_tokenize` (a class flag, not an import:
    # fast_tokenizer builds on this module)
    lang = rules_language(lang)
    if getattr(tokenizer, "applies_preprocessing", False) or preprocessing_of(tokenizer) == "hf":
        return tokenizer._tokenize(text, lang=lang)
    words = pretokenize(text, lang, tokenizer.do_lowercase_and_remove_accent, "xlm")
    return [piece for word in words for piece in tokenizer.bpe(word).split(" ")]


def xlm_encode(tokenizer, text: str, lang: str) -> list[int]:
    """Token ids of `text` in `lang`, without special tokens."""
    return tokenizer.convert_tokens_to_ids(xlm_tokenize(tokenizer, text, lang))
