"""Training sources the XLM way: packed streams (MLM/CLM) and TLM pairs; `mixture` draws from them.

- A stream: a language's sentences, each followed by ``</s>`` (and the first preceded by one),
  cut into contiguous blocks of ``max_seq_length``; no padding, blocks start mid-sentence. The
  token store holds each language in exactly this form, so a block is a slice of a mapped file.
- A TLM pair: ``</s> A </s> </s> B </s>``, ``langs`` l1 over A's half and l2 over B's, positions
  restarting at 0 where B's half begins; batches hold pairs of similar length.
- A source: the global batches of one objective on one language or pair. Its examples are
  views of the store, read and made into tensors only when a batch is drawn; which examples form
  each batch is index arithmetic (`batches`).
- The mixture (`xlm_hf.data.mixture`) yields one global batch per optimizer step from one source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from xlm_hf.data.batches import BucketBatches, StridedBatches, length_buckets
from xlm_hf.data.store import GATHER_TOKENS, PairStore, TokenStore
from xlm_hf.text.special_tokens import EOS, PAD


def pack_stream(
    sentences: Sequence[Sequence[int]], block: int, eos: int = EOS, pad: int = PAD, keep_tail: bool = False
) -> np.ndarray:
    """[n_blocks, block] array of the stream ``</s> s1 </s> s2 </s> ...``.

    The tail shorter than a block is dropped for training (``keep_tail=False``) and right-padded
    for validation, where every sentence should count.
    """
    lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
    values = np.concatenate([np.asarray(s, dtype=np.int64) for s in sentences]) if len(sentences) else []
    return pack_flat(np.asarray(values, dtype=np.int64), lengths, block, eos, pad, keep_tail)


def pack_flat(
    values: np.ndarray,
    lengths: np.ndarray,
    block: int,
    eos: int = EOS,
    pad: int = PAD,
    keep_tail: bool = False,
) -> np.ndarray:
    """`pack_stream` on all sentences concatenated (`values`) and their `lengths`: no Python loop,
    so a language of 100M tokens packs in seconds."""
    stream = np.full(len(values) + len(lengths) + 1, eos, dtype=np.int64)
    # sentence i starts after i + 1 separators: shift every token by its sentence's index + 1
    stream[np.arange(len(values)) + np.repeat(np.arange(1, len(lengths) + 1), lengths)] = values
    return cut_blocks(stream, block, pad, keep_tail)


def cut_blocks(stream: np.ndarray, block: int, pad: int = PAD, keep_tail: bool = False) -> np.ndarray:
    """[n_blocks, block] int64 array of a stream (a store's tokens): the tail is dropped, or padded."""
    stream = np.asarray(stream, dtype=np.int64)
    n_full = len(stream) // block
    if keep_tail and len(stream) % block:
        padded = np.full((n_full + 1) * block, pad, dtype=np.int64)
        padded[: len(stream)] = stream
        return padded.reshape(-1, block)
    return stream[: n_full * block].reshape(n_full, block)


def packing_efficiency(blocks: np.ndarray, pad: int = PAD) -> float:
    """Non-pad fraction of all positions."""
    return float((blocks != pad).mean()) if blocks.size else 0.0


def tlm_example(
    a: Sequence[int], b: Sequence[int], lang1: int, lang2: int, eos: int = EOS
) -> dict[str, list[int]]:
    """``</s> A </s> </s> B </s>`` with per-token languages and positions restarting at B.

    >>> tlm_example([7, 8], [9], lang1=0, lang2=3)
    {'input_ids': [1, 7, 8, 1, 1, 9, 1], 'langs': [0, 0, 0, 0, 3, 3, 3], 'position_ids': [0, 1, 2, 3, 0, 1, 2]}
    """
    first, second = [eos, *a, eos], [eos, *b, eos]
    return {
        "input_ids": first + second,
        "langs": [lang1] * len(first) + [lang2] * len(second),
        "position_ids": list(range(len(first))) + list(range(len(second))),
    }


def select_pairs(
    pairs: PairStore, max_len: int, long_pairs: str = "drop"
) -> tuple[np.ndarray, np.ndarray, int]:
    """(rows, example lengths, pairs longer than `max_len`) of the pairs that fit `max_len` tokens
    on both sides: the others are dropped (XLM) or truncated. Numpy over the store's offsets."""
    len1, len2 = pairs.ids1.lengths(), pairs.ids2.lengths()
    present = (len1 > 0) & (len2 > 0)
    long = present & ((len1 > max_len) | (len2 > max_len))
    rows = np.flatnonzero(present & ~long if long_pairs == "drop" else present)
    lengths = np.minimum(len1[rows], max_len) + np.minimum(len2[rows], max_len) + 4  # four </s>
    return rows, lengths, int(long.sum())


class TlmExamples:
    """TLM examples (see `tlm_example`) of a pair store's rows, made when a batch asks for them;
    `first` is the side that comes first (1: ``ids1``), sides longer than `max_len` are cut."""

    def __init__(
        self, pairs: PairStore, lang_ids: tuple[int, int], max_len: int | None = None, first: int = 1
    ):
        self.sides = (pairs.ids1, pairs.ids2) if first == 1 else (pairs.ids2, pairs.ids1)
        self.lang_ids, self.max_len = lang_ids, max_len

    def __len__(self) -> int:
        return len(self.sides[0])

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return (self[row] for row in range(len(self)))

    def __getitem__(self, row: int) -> dict[str, np.ndarray]:
        a, b = (side[row][: self.max_len] for side in self.sides)
        halves = (len(a) + 2, len(b) + 2)
        input_ids = np.full(sum(halves), EOS, dtype=np.int64)
        input_ids[1 : halves[0] - 1] = a
        input_ids[halves[0] + 1 : -1] = b
        return {
            "input_ids": input_ids,
            "langs": np.repeat(np.asarray(self.lang_ids, dtype=np.int64), halves),
            "position_ids": np.concatenate([np.arange(halves[0]), np.arange(halves[1])]),
        }


@dataclass
class Source:
    """One (objective, language-or-pair) stream of batches.

    ``examples`` are model inputs before collation, made when indexed; ``batches`` holds, for each
    *global* batch (which the data-parallel ranks split by rows), the array of its example
    indices (blocks for streams, store rows of pairs for TLM); ``n_tokens`` weighs the ``sample``
    mixture, ``n_sentences`` (sentences of a stream, pairs of TLM) the ``xlm`` mixture.
    """

    objective: str
    name: str
    examples: Sequence[dict[str, Any]]
    batches: Sequence[np.ndarray]
    n_tokens: int
    collate: Callable[..., dict]
    causal: bool = False
    n_sentences: int = 0

    def batch(self, index: int, generator: torch.Generator | None) -> dict:
        """Global batch `index`, collated whole: its masks do not depend on how it is split."""
        out = self.collate([self.examples[i] for i in self.batches[index]], generator)
        out["causal"] = self.causal
        return out


class StreamBlocks:
    """The blocks of one language's stream (a store's tokens, already ``</s>``-separated) as
    examples: block i is ``tokens[i * block : (i + 1) * block]``, read when a batch asks for it.
    The tail shorter than a block is not used for training."""

    def __init__(self, tokens: np.ndarray, block: int, lang_id: int, pads: int | None = None) -> None:
        self.tokens, self.block, self.lang_id = tokens, block, lang_id
        self.pads = pads  # <pad> ids among the blocks' tokens (None: count them when asked)

    @classmethod
    def of(cls, blocks: np.ndarray, lang_id: int) -> StreamBlocks:
        """Blocks given as an [n, block] array (tests, small inputs)."""
        return cls(np.ascontiguousarray(blocks).reshape(-1), blocks.shape[1], lang_id)

    def __len__(self) -> int:
        return len(self.tokens) // self.block

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        start = int(index) * self.block
        return {
            "input_ids": np.asarray(self.tokens[start : start + self.block], dtype=np.int64),
            "langs": self.lang_id,
        }

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self[i] for i in range(len(self)))

    def count_used(self, token: int) -> int:
        """How often `token` occurs in the blocks (the tail beyond the last block left out), read in
        chunks so that a mapped corpus is never copied whole."""
        used = len(self) * self.block
        return sum(
            int(np.count_nonzero(self.tokens[i : min(i + GATHER_TOKENS, used)] == token))
            for i in range(0, used, GATHER_TOKENS)
        )

    def non_pad_tokens(self) -> int:
        """Tokens of the blocks that are not ``<pad>`` (a corpus holds none, as a rule)."""
        used = len(self) * self.block
        if self.pads is None:
            self.pads = self.count_used(PAD)
        return used - self.pads


def stream_source(
    objective: str,
    lang: str,
    lang_id: int,
    blocks: np.ndarray | StreamBlocks,
    batch_size: int,
    collate: Callable[..., dict],
    min_rows: int = 1,
) -> Source:
    """Blocks of one language in strided global batches (see `batches.StridedBatches`), order
    shuffled per epoch. `batch_size` is the global batch (all ranks and accumulation steps);
    every batch keeps at least `min_rows` blocks. Its sentences are counted by the ``</s>`` in the
    blocks, one per sentence (as the original recounts a stream's sentences when it selects part
    of one)."""
    if not isinstance(blocks, StreamBlocks):
        blocks = StreamBlocks.of(np.asarray(blocks), lang_id)
    return Source(
        objective,
        lang,
        blocks,
        StridedBatches(len(blocks), batch_size, min_rows),
        blocks.non_pad_tokens(),
        collate,
        objective == "clm",
        n_sentences=blocks.count_used(EOS),
    )


def tlm_source(
    pair: str,
    lang_ids: tuple[int, int],
    ids1: Sequence[Sequence[int]] | TlmExamples,
    ids2: Sequence[Sequence[int]] | None,
    batch_size: int,
    tokens_per_batch: int | None,
    collate: Callable[..., dict],
    min_rows: int = 1,
    buckets: tuple[np.ndarray, np.ndarray, int] | None = None,
) -> Source:
    """One TLM direction: ``pair`` names the language that comes first (``fr-en``: French first).
    Sizes are global (all ranks and accumulation steps together). Pairs come as `TlmExamples` with
    their `buckets` (order, bounds, tokens: see `pretraining.tlm_buckets`), or as two lists of
    sentences (every pair used)."""
    if isinstance(ids1, TlmExamples):
        examples = ids1
    else:
        store = PairStore(TokenStore.from_sentences(ids1), TokenStore.from_sentences(ids2))
        examples = TlmExamples(store, lang_ids)
    if buckets is None:
        rows, lengths, _ = select_pairs(PairStore(*examples.sides), max_len=np.iinfo(np.int64).max)
        order, bounds = length_buckets(lengths, batch_size, tokens_per_batch, min_rows)
        buckets = (rows[order], bounds, int(lengths.sum()))
    order, bounds, n_tokens = buckets
    return Source(
        "tlm", pair, examples, BucketBatches(order, bounds), int(n_tokens), collate, n_sentences=len(order)
    )
