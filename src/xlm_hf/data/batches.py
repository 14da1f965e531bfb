"""Which examples make up each global batch: index arithmetic in numpy, no Python list per example.

- `StridedBatches`: stream batches; batch j holds blocks j, j + n, j + 2n, ... (n batches), so a
  batch's rows come from distant parts of the corpus, as XLM's stream batches do. A batch is
  made from its number when it is drawn: nothing per block is held.
- `length_buckets`: TLM batches of similar length. Examples are sorted by length (stable) and
  cut into consecutive runs of at most `batch_size` examples, or, with a token budget, of as
  many as fit ``longest × count <= tokens_per_batch``. The cuts are computed per distinct
  length (a few hundred), not per example, so millions of pairs are grouped in a second.

Every batch holds at least `min_rows` examples (one per rank and accumulation step): a batch
with fewer is folded into the one before it (the first into the second), so no example is
dropped or repeated.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


def fold_small(bounds: np.ndarray, min_rows: int) -> np.ndarray:
    """Batch `bounds` (batch i = [bounds[i], bounds[i + 1])) with every batch of fewer than
    `min_rows` items folded into its predecessor, and a small first batch into the second."""
    bounds = np.asarray(bounds, dtype=np.int64)
    if len(bounds) <= 2:
        return bounds
    sizes = np.diff(bounds)
    keep = np.ones(len(bounds), dtype=bool)
    keep[1:-1] = sizes[1:] >= min_rows  # a small batch loses its own start: it joins the one before
    bounds = bounds[keep]
    if len(bounds) > 2 and bounds[1] - bounds[0] < min_rows:
        bounds = np.delete(bounds, 1)
    return bounds


def merge_small_batches(batches: list[list[int]], min_rows: int) -> list[list[int]]:
    """`fold_small` on batches given as lists of indices (contiguous or not)."""
    bounds = fold_small(np.cumsum([0] + [len(b) for b in batches]), min_rows)
    flat = [i for b in batches for i in b]
    return [flat[a:b] for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist())]


class StridedBatches(Sequence):
    """The global batches of `n_blocks` stream blocks, `batch_size` blocks each (see the module
    docstring); item `g` is the array of block numbers of batch `g`."""

    def __init__(self, n_blocks: int, batch_size: int, min_rows: int = 1) -> None:
        self.n_blocks = n_blocks
        self.stride = max(1, -(-n_blocks // batch_size))  # the number of strided batches
        # strided batch j holds ceil((n_blocks - j) / stride) blocks; groups of them after folding
        sizes = n_blocks // self.stride + (np.arange(self.stride) < n_blocks % self.stride)
        self.groups = _fold_by_sizes(sizes, min_rows)

    def __len__(self) -> int:
        return len(self.groups) - 1

    def __getitem__(self, index: int) -> np.ndarray:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        first, last = int(self.groups[index]), int(self.groups[index + 1])
        return np.concatenate([np.arange(j, self.n_blocks, self.stride) for j in range(first, last)])

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))


def _fold_by_sizes(sizes: np.ndarray, min_rows: int) -> np.ndarray:
    """Bounds over batch numbers (group g = batches [b[g], b[g + 1])) that `fold_small` gives when
    batch j holds `sizes[j]` items."""
    groups = np.concatenate([[0], np.flatnonzero(sizes[1:] >= min_rows) + 1, [len(sizes)]])
    if len(groups) > 2 and sizes[: groups[1]].sum() < min_rows:
        groups = np.delete(groups, 1)
    return groups.astype(np.int64)


def length_buckets(
    lengths: np.ndarray, batch_size: int, tokens_per_batch: int | None = None, min_rows: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """(order, bounds): batch i is ``order[bounds[i]:bounds[i + 1]]``, indices into `lengths`.

    A batch takes the next example (in length order) while it holds fewer than `min_rows`, or
    while it holds fewer than `batch_size` (no budget) or ``longest × (count + 1)`` stays within
    `tokens_per_batch`; the examples of one length share a cap, so each length is one step.
    """
    lengths = np.asarray(lengths)
    order = np.argsort(lengths, kind="stable")
    n = len(order)
    if n == 0:
        return order.astype(np.int64), np.zeros(1, dtype=np.int64)
    ordered = lengths[order]
    run_starts = np.flatnonzero(np.diff(ordered)) + 1
    starts, open_size = [np.zeros(1, dtype=np.int64)], 0
    for first, end in zip([0, *run_starts.tolist()], [*run_starts.tolist(), n]):
        if tokens_per_batch is None:
            cap = max(min_rows, batch_size)
        else:  # sorted: the example being added is the longest of its batch
            cap = max(min_rows, tokens_per_batch // int(ordered[first]))
        position = first + min(end - first, max(0, cap - open_size))
        open_size += position - first
        if position < end:  # the open batch is full: this length's other examples start batches of `cap`
            new = np.arange(position, end, cap, dtype=np.int64)
            starts.append(new)
            open_size = end - int(new[-1])
    bounds = np.concatenate([*starts, [n]])
    return order.astype(np.int64), fold_small(bounds, min_rows)


class BucketBatches(Sequence):
    """Batches given as (order, bounds) arrays (see `length_buckets`), mapped or in memory."""

    def __init__(self, order: np.ndarray, bounds: np.ndarray) -> None:
        self.order, self.bounds = order, bounds

    def __len__(self) -> int:
        return len(self.bounds) - 1

    def __getitem__(self, index: int) -> np.ndarray:
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        index %= len(self)
        return np.asarray(self.order[self.bounds[index] : self.bounds[index + 1]])

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))


def length_batches(
    lengths: Sequence[int], batch_size: int, tokens_per_batch: int | None = None, min_rows: int = 1
) -> list[list[int]]:
    """`length_buckets` as lists of indices (validation sets, tests)."""
    order, bounds = length_buckets(
        np.asarray(lengths, dtype=np.int64), batch_size, tokens_per_batch, min_rows
    )
    return [order[a:b].tolist() for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist())]
