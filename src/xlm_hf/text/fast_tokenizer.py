"""`FastXLMTokenizer`: the same tokens and ids as `XLMTokenizer`, several times faster.

On top of `fast_moses` (the words before BPE), `XLMTokenizer` runs a Python BPE loop per new word
and maps each piece to its id through three Python calls. Here new words are segmented with the
`tokenizers` BPE over the same merges (falling back to HF's own `bpe()` whenever the two could
differ), and word → ids are cached, so each distinct word is lowercased, segmented and looked up
once. The tokenizer applies the pre-processing its directory records (see
`xlm_hf.text.pretokenize`). `bypass_tokenizer=True` and Japanese go through the reference path.
"""

from __future__ import annotations

import re
from itertools import chain
from typing import Any

from transformers import XLMTokenizer
from transformers.models.xlm.tokenization_xlm import logger as xlm_logger

from xlm_hf.text.fast_moses import DELEGATED_LANGUAGES, fast_lowercase_and_remove_accent, fast_words
from xlm_hf.text.pretokenize import preprocessing_of, pretokenize

#: Word → ids entries kept per tokenizer before the cache is emptied (bounds memory on huge corpora).
MAX_CACHED_WORDS = 2_000_000

_SPACE = re.compile(r"\s")

# ----------------------------------------------------------------------------- BPE

EOW = "</w>"


def merges_are_incremental(ranked_pairs: list[tuple[str, ...]]) -> bool:
    """True when every merge joins characters (a trailing one may carry `</w>`) or earlier results.

    Then HF's `bpe()` (merge every occurrence of the best pair, left to right, then look again)
    and the `tokenizers` BPE (a queue of pairs by rank, then position) make the same merges: a
    merge can only create pairs of a later rank, so both finish one rank before the next.
    """
    made: set[str] = set()
    for pair in ranked_pairs:
        if len(pair) != 2:
            return False
        for part in pair:
            atom = len(part) == 1 or (len(part) == 1 + len(EOW) and part.endswith(EOW))
            if not (atom or part in made):
                return False
        made.add(pair[0] + pair[1])
    return True


def compiled_bpe(encoder: dict[str, int], bpe_ranks: dict[tuple[str, ...], int]) -> tuple[Any, str] | None:
    """(a `tokenizers` BPE model over HF's merges, its unknown-symbol marker), or None when unsafe.

    Its vocabulary is every string the merges use or make plus the tokenizer's own tokens, so a
    character it calls unknown is one no merge touches; callers send such words (and any word
    with a space) to HF's `bpe()`. Pieces are strings: ids come from the tokenizer afterwards.
    """
    from tokenizers import models

    ranked = [pair for pair, _ in sorted(bpe_ranks.items(), key=lambda kv: kv[1])]
    if not merges_are_incremental(ranked):
        return None
    symbols = set(encoder)
    for a, b in ranked:
        symbols.update((a, b, a + b))
    unknown = "\x00unknown\x00"
    while unknown in symbols:
        unknown += "\x00"
    vocab = {token: i for i, token in enumerate([unknown, *sorted(symbols)])}
    model = models.BPE(vocab=vocab, merges=ranked, unk_token=unknown, end_of_word_suffix=EOW, fuse_unk=False)
    return model, unknown


# ----------------------------------------------------------------------------- tokenizer


class FastXLMTokenizer(XLMTokenizer):
    """`XLMTokenizer` whose `_tokenize(text, lang=...)` takes the fast path; same tokens, same ids
    as `xlm_hf.text.pretokenize.xlm_tokenize` with `XLMTokenizer`, under the pre-processing the directory
    records (``hf``: `XLMTokenizer._tokenize` itself; ``xlm``: the 2019 scripts).

    Load it like the reference: ``FastXLMTokenizer.from_pretrained(tokenizer_dir)``. `encode_text`
    gives the ids of one line (no special tokens) with a word → ids cache, the fastest way to
    prepare corpora. (The cache maps words to ids, which does not depend on the pre-processing.)
    """

    applies_preprocessing = True  # `_tokenize` applies the recorded setting itself (see text.xlm_tokenize)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._word_ids: dict[str, list[int]] = {}
        self._piece_ids: dict[str, int] = {}
        self._unk_id: int | None = None
        self._cache_key: tuple = ()
        self._warned_langs: set[str] = set()
        compiled = compiled_bpe(self.encoder, self.bpe_ranks)
        self._bpe_model, self._bpe_unknown = compiled if compiled else (None, None)

    def __getstate__(self) -> dict[str, Any]:
        """Pickles (worker processes, `datasets` fingerprints) leave the word cache behind."""
        state = super().__getstate__()
        state.update(_word_ids={}, _piece_ids={}, _cache_key=())
        return state

    def bpe_pieces(self, word: str) -> list[str]:
        """`self.bpe(word).split(" ")`, by the compiled BPE when it is sure to agree."""
        if self._bpe_model is not None and " " not in word:
            pieces = [token.value for token in self._bpe_model.tokenize(word)]
            if self._bpe_unknown not in pieces:
                return pieces
        return self.bpe(word).split(" ")

    def _warn_unknown_language(self, lang: str) -> None:
        if lang and self.lang2id and lang not in self.lang2id and lang not in self._warned_langs:
            self._warned_langs.add(lang)  # the reference logs this on every line; once is enough
            xlm_logger.error(
                "Supplied language code not found in lang2id mapping. Please check that your language "
                "is supported by the loaded pretrained model."
            )

    def _tokenize(self, text: str, lang: str = "en", bypass_tokenizer: bool = False) -> list[str]:
        preprocessing = preprocessing_of(self)
        if bypass_tokenizer or (lang in DELEGATED_LANGUAGES and preprocessing == "hf"):
            return super()._tokenize(text, lang=lang, bypass_tokenizer=bypass_tokenizer)
        self._warn_unknown_language(lang)
        if lang in DELEGATED_LANGUAGES:  # the reference path of xlm_hf.text.pretokenize.xlm_tokenize
            words = pretokenize(text, lang, self.do_lowercase_and_remove_accent, preprocessing)
            return [piece for word in words for piece in self.bpe(word).split(" ")]
        words = fast_words(text, lang, preprocessing)
        if self.do_lowercase_and_remove_accent:
            words = fast_lowercase_and_remove_accent(words)
        return [piece for word in words if word for piece in self.bpe_pieces(word)]

    def _fresh_caches(self) -> tuple[dict[str, list[int]], dict[str, int]]:
        """The word → ids and piece → id maps, emptied when what they depend on has changed."""
        key = (self.do_lowercase_and_remove_accent, len(self._added_tokens_encoder), len(self.encoder))
        if key != self._cache_key or len(self._word_ids) > MAX_CACHED_WORDS:
            self._cache_key = key
            self._word_ids = {}
            self.cache.clear()
            # `convert_tokens_to_ids` in one dict: added tokens first, then the vocabulary
            self._piece_ids = {**self.encoder, **self._added_tokens_encoder}
            self._unk_id = self.encoder.get(self.unk_token)
        return self._word_ids, self._piece_ids

    def _add_words(self, words: list[str], word_ids: dict[str, list[int]], piece_ids: dict[str, int]) -> None:
        """Cache the ids of new words (as the segmenter split them, before lowercasing).

        Lowercasing and accent removal work character by character and never across a space
        (Python's final-sigma rule stops at spaces), so the words of a line can be lowercased
        together or one by one with the same result; words holding a space (PyThaiNLP keeps
        them) go one by one.
        """
        if self.do_lowercase_and_remove_accent:
            plain = words if not _SPACE.search("".join(words)) else [w for w in words if not _SPACE.search(w)]
            lowered = fast_lowercase_and_remove_accent(plain)
            parts = {w: [low] for w, low in zip(plain, lowered)} if len(lowered) == len(plain) else {}
            for word in words:
                if word not in parts:
                    parts[word] = fast_lowercase_and_remove_accent([word])
        else:
            parts = {word: [word] for word in words}
        unk = self._unk_id
        for word, pieces in parts.items():
            word_ids[word] = [piece_ids.get(p, unk) for part in pieces if part for p in self.bpe_pieces(part)]

    def encode_text(self, text: str, lang: str) -> list[int]:
        """Ids of `text` in `lang` without special tokens: `convert_tokens_to_ids(_tokenize(...))`."""
        if lang in DELEGATED_LANGUAGES:
            return self.convert_tokens_to_ids(self._tokenize(text, lang=lang))
        self._warn_unknown_language(lang)
        word_ids, piece_ids = self._fresh_caches()
        words = fast_words(text, lang, preprocessing_of(self))
        new = set(words).difference(word_ids)
        if new:
            self._add_words(list(new), word_ids, piece_ids)
        return list(chain.from_iterable(map(word_ids.__getitem__, words)))
