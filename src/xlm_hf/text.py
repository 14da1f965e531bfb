"""XLM text normalisation: the exact pre-processing `transformers.XLMTokenizer` applies before BPE.

Moses pipeline (replace unicode punctuation → normalise punctuation → drop non-printing characters →
tokenise without escaping), zh through rjieba and th through PyThaiNLP, then optional lowercase +
accent removal. The vocabulary is learned on this output, so the BPE merges see exactly the words
the saved tokenizer will later split. The steps are HF's own functions, so the two cannot drift.
"""

from __future__ import annotations

from functools import cache

import sacremoses
from transformers.models.xlm.tokenization_xlm import (
    lowercase_and_remove_accent,
    remove_non_printing_char,
    replace_unicode_punct,
    romanian_preprocessing,
)


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


def pretokenize(text: str, lang: str, lowercase_and_remove_accents: bool = True) -> list[str]:
    """Words of `text` as `XLMTokenizer(..., lang=lang)` sees them just before BPE."""
    if lang == "zh":
        import rjieba

        words = moses_pipeline(" ".join(rjieba.cut(text)), lang).split()
    elif lang == "ja":
        words = _kytea_words(moses_pipeline(text, lang))
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


def _kytea_words(text: str) -> list[str]:
    """Japanese words by KyTea, as `XLMTokenizer` segments them (needs Mykytea and its model)."""
    try:
        import Mykytea
    except ImportError:
        raise ImportError("ja text needs KyTea and its Python wrapper (pip install kytea)") from None
    import os

    return list(Mykytea.Mykytea(f"-model {os.path.expanduser('~')}/local/share/kytea/model.bin").getWS(text))


def xlm_tokenize(tokenizer, text: str, lang: str) -> list[str]:
    """BPE tokens of `text` with `lang`'s own pre-processing, as `XLMTokenizer` defines it.

    In transformers 5.x, `PreTrainedTokenizer.tokenize(text, lang="fr")` does not pass `lang` on
    to `_tokenize`: every language is silently processed with the English Moses rules and no
    zh/th segmenter. `_tokenize` still honours `lang`, so the toolkit calls it directly.
    """
    return tokenizer._tokenize(text, lang=lang)


def xlm_encode(tokenizer, text: str, lang: str) -> list[int]:
    """Token ids of `text` in `lang`, without special tokens."""
    return tokenizer.convert_tokens_to_ids(xlm_tokenize(tokenizer, text, lang))
