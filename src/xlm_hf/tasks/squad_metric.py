"""Answer scores of extractive QA: exact match and token F1 as SQuAD v1.1 defines them, and MLQA's
language-aware normalisation. Our own implementation of the published definitions.

Both compare *normalised* answers. SQuAD v1.1 (``lang=None``): lower case, remove ASCII punctuation
(`string.punctuation`), remove the English articles a / an / the, collapse whitespace; tokens are
the words between spaces. Language-aware (MLQA's scheme, for any `lang`): lower case, remove every
Unicode punctuation character (category P*, and `string.punctuation` as MLQA does), remove the
language's articles (`ARTICLES`; none for a language without an entry), and for scripts written
without spaces (`CHARACTER_LANGS`) make every character of those scripts a token, so that F1 can
give partial credit. One deliberate difference from MLQA's script: Arabic ``ال`` is removed as a
word of its own, not wherever the two letters occur inside a word.

A question scores the maximum over its gold answers; a language scores the mean over the questions
that have a gold answer (the others are not scorable), as fractions in [0, 1].
"""

from __future__ import annotations

import math
import re
import string
import sys
import unicodedata
from collections import Counter
from functools import cache

import regex

#: the articles removed per language (MLQA's lists; hi and zh have none)
ARTICLES: dict[str, tuple[str, ...]] = {
    "en": ("a", "an", "the"),
    "es": ("un", "una", "unos", "unas", "el", "la", "los", "las"),
    "de": ("ein", "eine", "einen", "einem", "eines", "einer", "der", "die", "das", "den", "dem", "des"),
    "vi": ("của", "là", "cái", "chiếc", "những"),
    "ar": ("ال",),
}
#: languages whose script has no spaces between words: their characters are F1's tokens
CHARACTER_LANGS = frozenset({"zh", "ja", "th", "lo", "km", "my"})
_NO_SPACE_SCRIPT = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
_MIXED_TOKEN = regex.compile(rf"[{_NO_SPACE_SCRIPT}]|[^\s{_NO_SPACE_SCRIPT}]+")
_SQUAD_PUNCTUATION = frozenset(string.punctuation)


@cache
def _unicode_punctuation() -> dict[int, None]:
    """`str.translate` table deleting every P* character and `string.punctuation` (built once)."""
    found = {i for i in range(sys.maxunicode + 1) if unicodedata.category(chr(i)).startswith("P")}
    return dict.fromkeys(found | {ord(c) for c in string.punctuation})


@cache
def _articles(lang: str | None) -> re.Pattern | None:
    words = ARTICLES["en"] if lang is None else ARTICLES.get(lang)
    return re.compile(r"\b(" + "|".join(words) + r")\b") if words else None


def answer_tokens(text: str, lang: str | None = None) -> list[str]:
    """The normalised tokens of an answer: SQuAD v1.1's (``lang=None``) or `lang`'s."""
    text = text.lower()
    if lang is None:
        text = "".join(c for c in text if c not in _SQUAD_PUNCTUATION)
    else:
        text = text.translate(_unicode_punctuation())
    articles = _articles(lang)
    if articles is not None:
        text = articles.sub(" ", text)
    if lang in CHARACTER_LANGS:
        return _MIXED_TOKEN.findall(text)
    return text.split()


def normalize_answer(text: str, lang: str | None = None) -> str:
    """The normalised answer exact match compares: its tokens joined by single spaces."""
    return " ".join(answer_tokens(text, lang))


def exact_match(prediction: str, gold: str, lang: str | None = None) -> float:
    return float(normalize_answer(prediction, lang) == normalize_answer(gold, lang))


def f1(prediction: str, gold: str, lang: str | None = None) -> float:
    """Token-overlap F1 (tokens counted with multiplicity); 0 when nothing is shared, even when
    both sides normalise to nothing (SQuAD v1.1's rule)."""
    predicted, wanted = answer_tokens(prediction, lang), answer_tokens(gold, lang)
    shared = sum((Counter(predicted) & Counter(wanted)).values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(predicted), shared / len(wanted)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: list[str], golds: list[list[str]], lang: str | None = None) -> dict[str, float]:
    """``f1`` and ``exact_match`` (means over the scorable questions, each the best over its gold
    answers), with ``questions`` and ``scorable`` counts; no scorable question: NaN scores."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} questions")
    scored = [(p, g) for p, g in zip(predictions, golds, strict=True) if g]
    if not scored:
        return {"f1": math.nan, "exact_match": math.nan, "questions": len(golds), "scorable": 0}
    return {
        "f1": sum(max(f1(p, a, lang) for a in g) for p, g in scored) / len(scored),
        "exact_match": sum(max(exact_match(p, a, lang) for a in g) for p, g in scored) / len(scored),
        "questions": len(golds),
        "scorable": len(scored),
    }
