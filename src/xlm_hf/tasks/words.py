"""Words with their place in the text, and their subword ids: how token-level tasks map subwords
back to text.

`XLMTokenizer` is a Python tokenizer without offsets, and its pre-processing (Moses, lowercasing,
accent removal) changes the text, so subwords cannot be traced to characters directly. Token
classification and QA therefore work word by word: a text is cut into words with their character
spans (`word_spans`: runs of letters, marks and digits; each punctuation character; each Han or
kana character, since those scripts write no spaces), each word is encoded alone (`encode_words`,
with the language's pre-processing), and a subword's place in the text is its word's span. An
answer is then a run of whole words: one whose edge falls inside a word comes back as the whole
word (the QA tests count how often).
"""

from __future__ import annotations

from typing import Any

import regex

_WORD = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}]|[\p{L}\p{M}\p{N}]+|[^\s\p{L}\p{M}\p{N}]")


def word_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` character spans of the words of `text`, in order.

    >>> [("The 5th-floor café, 東京" )[s:e] for s, e in word_spans("The 5th-floor café, 東京")]
    ['The', '5th', '-', 'floor', 'café', ',', '東', '京']
    """
    return [m.span() for m in _WORD.finditer(text)]


def encode_words(tokenizer: Any, words: list[str], lang: str, cache: dict | None = None) -> list[list[int]]:
    """The subword ids of each word alone, with `lang`'s pre-processing (a word the pre-processing
    removes, such as a control character, has none). `cache`: word -> ids, shared across calls
    (contexts repeat across questions)."""
    from xlm_hf.text.pretokenize import xlm_encode

    cache = {} if cache is None else cache
    out = []
    for word in words:
        key = (lang, word)
        if key not in cache:
            cache[key] = xlm_encode(tokenizer, word, lang)
        out.append(cache[key])
    return out
