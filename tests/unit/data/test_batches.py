"""Batch index arithmetic: the numpy batches equal the example-by-example rules they replace."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xlm_hf.data.batches import (
    BucketBatches,
    StridedBatches,
    fold_small,
    length_buckets,
    merge_small_batches,
)


def greedy_length_batches(lengths, batch_size, tokens_per_batch=None, min_rows=1):
    """The rule one example at a time (the implementation before the store), as the reference."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    batches, current, longest = [], [], 0
    for idx in order.tolist():
        longest_if_added = max(longest, lengths[idx])
        if tokens_per_batch is None:
            full = len(current) + 1 > batch_size
        else:
            full = longest_if_added * (len(current) + 1) > tokens_per_batch
        if len(current) >= min_rows and full:
            batches.append(current)
            current, longest_if_added = [], lengths[idx]
        current.append(idx)
        longest = longest_if_added
    if current:
        batches.append(current)
    return reference_merge(batches, min_rows)


def reference_merge(batches, min_rows):
    out = []
    for batch in batches:
        if out and len(batch) < min_rows:
            out[-1] = out[-1] + batch
        else:
            out.append(list(batch))
    if len(out) > 1 and len(out[0]) < min_rows:
        out[1] = out[0] + out[1]
        out = out[1:]
    return out


def as_lists(order, bounds):
    return [order[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:])]


@settings(max_examples=300, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 40), max_size=120),
    batch_size=st.integers(1, 9),
    budget=st.one_of(st.none(), st.integers(1, 200)),
    min_rows=st.integers(1, 4),
)
def test_length_buckets_equal_the_greedy_rule(lengths, batch_size, budget, min_rows):
    order, bounds = length_buckets(np.asarray(lengths, dtype=np.int64), batch_size, budget, min_rows)
    assert as_lists(order, bounds) == greedy_length_batches(lengths, batch_size, budget, min_rows)


@settings(max_examples=200, deadline=None)
@given(n_blocks=st.integers(0, 200), batch_size=st.integers(1, 40), min_rows=st.integers(1, 6))
def test_strided_batches_equal_the_lists_they_replace(n_blocks, batch_size, min_rows):
    n_batches = max(1, -(-n_blocks // batch_size))
    expected = reference_merge([list(range(j, n_blocks, n_batches)) for j in range(n_batches)], min_rows)
    batches = StridedBatches(n_blocks, batch_size, min_rows)
    assert [b.tolist() for b in batches] == expected
    assert len(batches) == len(expected)


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(0, 6), max_size=30), min_rows=st.integers(1, 4))
def test_fold_small_is_the_list_rule(sizes, min_rows):
    batches, start = [], 0
    for size in sizes:
        batches.append(list(range(start, start + size)))
        start += size
    assert merge_small_batches(batches, min_rows) == reference_merge(batches, min_rows)
    bounds = fold_small(np.cumsum([0, *sizes]), min_rows)
    assert as_lists(np.arange(start), bounds) == reference_merge(batches, min_rows)


def test_buckets_of_a_token_budget():
    lengths = np.array([10, 3, 9, 4, 10, 2])
    order, bounds = length_buckets(lengths, batch_size=100, tokens_per_batch=20)
    assert as_lists(order, bounds) == [[5, 1, 3], [2, 0], [4]]  # 4 x 3 <= 20, 10 x 2 <= 20
    batches = BucketBatches(order, bounds)
    assert len(batches) == 3 and batches[-1].tolist() == [4]
    with pytest.raises(IndexError):
        batches[3]


def test_a_large_corpus_of_pairs_is_bucketed_as_the_greedy_rule_does():
    lengths = np.random.default_rng(0).integers(6, 204, 200_000)  # TLM example lengths
    for budget in (None, 4096):
        order, bounds = length_buckets(lengths, batch_size=64, tokens_per_batch=budget, min_rows=8)
        assert as_lists(order, bounds) == greedy_length_batches(lengths.tolist(), 64, budget, 8)
