"""Training batches the XLM way: packed streams (MLM/CLM), TLM pairs, and the objective mixture.

- A stream: a language's sentences, each followed by ``</s>`` (and the first preceded by one),
  cut into contiguous blocks of ``max_seq_length``; no padding, blocks start mid-sentence. The
  token store holds each language in exactly this form, so a block is a slice of a mapped file.
- A TLM pair: ``</s> A </s> </s> B </s>``, ``langs`` l1 over A's half and l2 over B's, positions
  restarting at 0 where B's half begins; batches hold pairs of similar length.
- A source: the global batches of one objective on one language or pair. Its examples are
  views of the store, read and made into tensors only when a batch is drawn; which examples form
  each batch is index arithmetic (`batches`).
- The mixture yields one global batch per optimizer step, of one (objective, language-or-pair)
  source chosen by `data.mixture`: ``sample`` draws every step an objective (uniformly), then one
  of its languages or pairs with p ∝ n^alpha (n = its training tokens); ``xlm`` runs the
  original's cycle (`xlm_cycle_steps`). The draws depend only on the seed and are the same on every
  data-parallel rank: at a step, all ranks train the same objective and language, each rank and
  accumulation micro-step on its own rows of the global batch (per-device batch × ranks ×
  accumulation steps). So N processes × batch B, or N accumulation steps × batch B, see exactly
  the examples and masks of one batch N·B; a resumed run replays the draws.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset

from xlm_hf.data.batches import BucketBatches, StridedBatches, length_buckets
from xlm_hf.data.store import GATHER_TOKENS, PairStore, TokenStore
from xlm_hf.sampling import smoothed_probabilities
from xlm_hf.special_tokens import EOS, PAD


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


def rank_rows(n_rows: int, part: int, parts: int) -> slice:
    """Part `part` of `parts` contiguous shares of a global batch of `n_rows` (sizes differ by at most one)."""
    return slice(part * n_rows // parts, (part + 1) * n_rows // parts)


def slice_batch(batch: dict, rows: slice) -> dict:
    """The `rows` of a collated batch; padding columns no row of the slice uses are cut off."""
    out = {k: v[rows] if torch.is_tensor(v) and v.dim() > 0 else v for k, v in batch.items()}
    if "attention_mask" in out and out["attention_mask"].numel():
        width = int(out["attention_mask"].sum(dim=1).max())
        out = {k: v[:, :width] if torch.is_tensor(v) and v.dim() == 2 else v for k, v in out.items()}
    return out


def mixture_probabilities(sources: Sequence[Source], alpha: float | str) -> np.ndarray:
    """P(source) = P(objective) · P(language | objective): objectives equal, languages ∝ n^alpha."""
    objectives = sorted({s.objective for s in sources})
    probs = np.zeros(len(sources))
    for objective in objectives:
        members = [i for i, s in enumerate(sources) if s.objective == objective]
        within = smoothed_probabilities([sources[i].n_tokens for i in members], alpha)
        probs[members] = within / len(objectives)
    return probs


MIXTURES = ("sample", "xlm")
XLM_STEPS_PER_OBJECTIVE = 5  # the original's `shuf_order(..., n=5)`
XLM_OBJECTIVE_ORDER = ("clm", "mlm", "tlm")  # its loop: clm_steps, then mlm_steps (languages, then pairs)


def xlm_groups(sources: Sequence[Source], alpha: float | str) -> list[tuple[list[int], np.ndarray]]:
    """Per objective, in the original's order: (indices of its sources, p ∝ sentences^alpha).

    Sentences, not tokens, as the original weighs its datasets by their length in sentences; the
    two directions of a TLM pair share a corpus and so a weight."""
    groups = []
    for objective in XLM_OBJECTIVE_ORDER:
        members = [i for i, s in enumerate(sources) if s.objective == objective]
        if members:
            groups.append((members, smoothed_probabilities([sources[i].n_sentences for i in members], alpha)))
    return groups


def xlm_cycle_steps(sources: Sequence[Source], alpha: float | str, rng: np.random.Generator) -> Iterator[int]:
    """Source indices, one per optimizer step, in the original's training loop: each iteration
    runs min(5, #languages) CLM steps, then min(5, #languages) MLM steps, then min(5, #directions)
    TLM steps, each step's language (or direction) drawn with replacement, p ∝ sentences^alpha."""
    groups = xlm_groups(sources, alpha)
    while True:
        for members, probs in groups:
            picks = rng.choice(len(members), size=min(XLM_STEPS_PER_OBJECTIVE, len(members)), p=probs)
            yield from (members[int(i)] for i in picks)


def sampled_steps(probs: np.ndarray, rng: np.random.Generator) -> Iterator[int]:
    """Source indices, one per optimizer step, each drawn independently with `probs`."""
    while True:
        yield int(rng.choice(len(probs), p=probs))


def xlm_step_shares(sources: Sequence[Source], alpha: float | str) -> np.ndarray:
    """The long-run share of steps of each source under `xlm_cycle_steps`."""
    groups = xlm_groups(sources, alpha)
    cycle = sum(min(XLM_STEPS_PER_OBJECTIVE, len(members)) for members, _ in groups)
    shares = np.zeros(len(sources))
    for members, probs in groups:
        shares[members] = probs * min(XLM_STEPS_PER_OBJECTIVE, len(members)) / cycle
    return shares


# ----------------------------------------------------------------------------- sources


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


class MixtureBatches(IterableDataset):
    """Endless micro-batches: per optimizer step, a source (`mixture`: ``sample``, see
    `mixture_probabilities`, or ``xlm``, see `xlm_cycle_steps`) and its next global batch (epochs
    reshuffled), then this rank's rows of it for each accumulation step.

    Everything random comes from generators seeded by the seed alone, identical on every rank: the
    same seed gives the same global batches, which is what makes `resume_from_checkpoint` continue on
    the same data, and splitting a batch over ranks or accumulation steps leaves it unchanged.
    """

    def __init__(
        self,
        sources: Sequence[Source],
        alpha: float | str = 0.7,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        accumulation: int = 1,
        mixture: str = "sample",
    ) -> None:
        if not sources:
            raise ValueError("no training data: every source is empty")
        if mixture not in MIXTURES:
            raise ValueError(f"mixture {mixture!r} is not one of {', '.join(MIXTURES)}")
        parts = world_size * accumulation
        too_small = [f"{s.objective}.{s.name}" for s in sources if min(map(len, s.batches)) < parts]
        if too_small:
            raise ValueError(
                f"{too_small}: a batch has fewer rows than its {parts} parts (ranks × accumulation steps)"
            )
        no_sentences = [f"{s.objective}.{s.name}" for s in sources if s.n_sentences < 1]
        if mixture == "xlm" and no_sentences:
            raise ValueError(
                f"{no_sentences}: the xlm mixture weighs sources by sentences, and these have none"
            )
        self.sources = list(sources)
        self.alpha, self.mixture = alpha, mixture
        # the share of steps of each source (the xlm cycle's in the long run)
        self.probs = (
            mixture_probabilities(sources, alpha) if mixture == "sample" else xlm_step_shares(sources, alpha)
        )
        self.seed, self.rank, self.world_size, self.accumulation = seed, rank, world_size, accumulation
        self.start = 0  # micro-batches to skip (resume): global_step × gradient_accumulation_steps

    def steps(self, rng: np.random.Generator) -> Iterator[int]:
        """The source of each optimizer step, drawn from `rng` (the stream shared by all ranks)."""
        if self.mixture == "xlm":
            return xlm_cycle_steps(self.sources, self.alpha, rng)
        return sampled_steps(self.probs, rng)

    def __iter__(self) -> Iterator[dict]:
        rng = np.random.default_rng([self.seed, 0])  # 0: the stream shared by all ranks
        orders = [rng.permutation(len(s.batches)) for s in self.sources]
        cursors = [0] * len(self.sources)
        parts = self.world_size * self.accumulation
        for draw, k in enumerate(self.steps(rng)):
            if cursors[k] == len(orders[k]):
                orders[k], cursors[k] = rng.permutation(len(self.sources[k].batches)), 0
            index = int(orders[k][cursors[k]])
            cursors[k] += 1
            # batches before `start` were trained before a resume: only draw them
            if (draw + 1) * self.accumulation > self.start:
                source = self.sources[k]
                whole = source.batch(index, self.generator(draw))
                for micro in range(self.accumulation):
                    if draw * self.accumulation + micro < self.start:
                        continue
                    rows = rank_rows(len(whole["input_ids"]), micro * self.world_size + self.rank, parts)
                    batch = whole if parts == 1 else slice_batch(whole, rows)
                    batch["source"] = f"{source.objective}.{source.name}"
                    batch["n_tokens"] = tokens_in(batch)
                    yield batch

    def generator(self, draw: int) -> torch.Generator:
        """Masking randomness of global batch `draw`: independent of the batches before it, so
        skipping is free, and the same on every rank, so ranks cut the same masked batch."""
        seed = int(np.random.SeedSequence([self.seed, 0, draw]).generate_state(1)[0])
        return torch.Generator().manual_seed(seed)

    def describe(self) -> list[tuple[str, float, int]]:
        return [(f"{s.objective}.{s.name}", float(p), s.n_tokens) for s, p in zip(self.sources, self.probs)]


def tokens_in(batch: dict) -> int:
    """Non-pad tokens of a collated batch (for tokens/s)."""
    return int(batch["attention_mask"].sum()) if "attention_mask" in batch else batch["input_ids"].numel()
