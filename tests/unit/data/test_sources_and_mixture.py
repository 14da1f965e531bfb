"""Streams, TLM pairs, length batches and the objective/language mixture."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from xlm_hf.data.batches import length_batches
from xlm_hf.data.collators import CausalCollator, MaskingCollator
from xlm_hf.data.mixture import MixtureBatches, mixture_probabilities
from xlm_hf.data.sampling import smoothed_probabilities
from xlm_hf.data.sources import (
    TlmExamples,
    pack_stream,
    packing_efficiency,
    select_pairs,
    stream_source,
    tlm_source,
)
from xlm_hf.data.store import PairStore, TokenStore


def test_stream_is_sentences_joined_by_eos_cut_into_blocks():
    blocks = pack_stream([[10, 11, 12], [13], [14, 15]], block=4)
    # stream: </s> 10 11 12 </s> 13 </s> 14 15 </s>  (10 tokens) → 2 full blocks, tail dropped
    assert blocks.tolist() == [[1, 10, 11, 12], [1, 13, 1, 14]]
    assert packing_efficiency(blocks) == 1.0
    valid = pack_stream([[10, 11, 12], [13], [14, 15]], block=4, keep_tail=True)
    assert valid.tolist() == [[1, 10, 11, 12], [1, 13, 1, 14], [15, 1, 2, 2]]
    assert packing_efficiency(valid) == pytest.approx(10 / 12)


def test_long_pairs_dropped_or_truncated():
    a, b = [[5] * 3, [6] * 9, [7] * 2, []], [[8] * 2, [9], [10] * 8, [11]]
    pairs = PairStore(TokenStore.from_sentences(a), TokenStore.from_sentences(b))
    rows, lengths, n_long = select_pairs(pairs, max_len=5, long_pairs="drop")
    assert (rows.tolist(), lengths.tolist(), n_long) == ([0], [3 + 2 + 4], 2)  # an empty side: no pair
    rows, lengths, n_long = select_pairs(pairs, max_len=5, long_pairs="truncate")
    assert (rows.tolist(), lengths.tolist(), n_long) == ([0, 1, 2], [9, 5 + 1 + 4, 2 + 5 + 4], 2)
    examples = TlmExamples(pairs, (0, 1), max_len=5)
    assert [len(examples[r]["input_ids"]) for r in rows] == lengths.tolist()
    assert examples[1]["input_ids"].tolist() == [1, 6, 6, 6, 6, 6, 1, 1, 9, 1]
    backwards = TlmExamples(pairs, (1, 0), max_len=5, first=2)[1]
    assert backwards["input_ids"].tolist() == [1, 9, 1, 1, 6, 6, 6, 6, 6, 1]
    assert backwards["langs"].tolist() == [1] * 3 + [0] * 7
    assert backwards["position_ids"].tolist() == [0, 1, 2, 0, 1, 2, 3, 4, 5, 6]


def test_length_batches_group_similar_lengths_under_a_token_budget():
    lengths = [10, 3, 9, 4, 10, 2]
    assert length_batches(lengths, batch_size=2) == [[5, 1], [3, 2], [0, 4]]
    batches = length_batches(lengths, batch_size=100, tokens_per_batch=20)
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert all(max(lengths[i] for i in b) * len(b) <= 20 for b in batches)


def test_smoothed_probabilities():
    assert smoothed_probabilities([100, 900], 1.0) == pytest.approx([0.1, 0.9])
    assert smoothed_probabilities([100, 900], "uniform") == pytest.approx([0.5, 0.5])
    p = smoothed_probabilities([100, 900], 0.7)
    assert p[0] == pytest.approx(0.1**0.7 / (0.1**0.7 + 0.9**0.7))


def _sources(batch: int = 2, min_rows: int = 1):
    rng = np.random.default_rng(0)
    collate = MaskingCollator(vocab_size=50)
    big = stream_source("mlm", "en", 0, rng.integers(14, 50, (90, 8)), batch, collate, min_rows)
    small = stream_source("mlm", "fr", 1, rng.integers(14, 50, (10, 8)), batch, collate, min_rows)
    clm = stream_source("clm", "en", 0, rng.integers(14, 50, (20, 8)), batch, CausalCollator(), min_rows)
    pairs = [[15 + i % 5] * (1 + i % 4) for i in range(30)]
    tlm = tlm_source("en-fr", (0, 1), pairs, pairs, 2 * batch, None, collate, min_rows)
    return [big, small, clm, tlm]


def test_objectives_equal_then_languages_by_smoothed_size():
    sources = _sources()
    probs = mixture_probabilities(sources, 0.5)
    p_en, p_fr = smoothed_probabilities([sources[0].n_tokens, sources[1].n_tokens], 0.5)
    assert probs == pytest.approx([p_en / 3, p_fr / 3, 1 / 3, 1 / 3])


def test_mixture_draws_follow_the_distribution_and_repeat_with_the_seed():
    sources = _sources()
    draws = Counter()
    mixture = MixtureBatches(sources, alpha=0.5, seed=3)
    it = iter(mixture)
    first = [next(it) for _ in range(4000)]
    draws.update(b["source"] for b in first)
    expected = dict(zip(["mlm.en", "mlm.fr", "clm.en", "tlm.en-fr"], mixture.probs))
    for name, p in expected.items():
        assert draws[name] / 4000 == pytest.approx(p, abs=0.025), name
    again = iter(MixtureBatches(sources, alpha=0.5, seed=3))
    for a in first[:50]:
        b = next(again)
        assert a["source"] == b["source"] and torch.equal(a["input_ids"], b["input_ids"])
    other = iter(MixtureBatches(sources, alpha=0.5, seed=4))
    assert any(not torch.equal(a["input_ids"], next(other)["input_ids"]) for a in first[:20])


def test_batches_carry_their_objective():
    batch = next(b for b in MixtureBatches(_sources(), seed=0) if b["source"] == "clm.en")
    assert batch["causal"] is True
    assert torch.equal(batch["labels"][:, :-1], batch["input_ids"][:, 1:])
    tlm = next(b for b in MixtureBatches(_sources(), seed=0) if b["source"] == "tlm.en-fr")
    assert tlm["causal"] is False and "position_ids" in tlm


def test_length_batches_keep_a_row_for_every_rank():
    lengths = [30, 2, 3, 29, 4, 28, 5]  # long ones alone would fill a 40-token budget
    batches = length_batches(lengths, batch_size=100, tokens_per_batch=40, min_rows=2)
    assert sorted(i for b in batches for i in b) == list(range(7))
    assert min(len(b) for b in batches) >= 2
    assert length_batches([5, 6, 7], batch_size=2, min_rows=2) == [[0, 1, 2]]  # tail folded in


def _distinct_sources(world: int, per_device: int = 3):
    """A stream of 23 distinct blocks and 17 distinct TLM pairs, in global batches for `world` ranks."""
    collate = CausalCollator()  # leaves input_ids as they are: rows can be recognised
    blocks = np.arange(14, 14 + 23 * 4).reshape(23, 4)
    stream = stream_source("clm", "en", 0, blocks, per_device * world, collate, min_rows=world)
    pairs = [[100 + i] * (1 + i % 5) for i in range(17)]
    tlm = tlm_source("en-fr", (0, 1), pairs, pairs, per_device * world, None, collate, min_rows=world)
    return stream, tlm


def _rows(batch) -> list[tuple[int, ...]]:
    return [tuple(row[row != 2].tolist()) for row in batch["input_ids"]]


@pytest.mark.parametrize("world", [2, 3])
def test_one_pass_shows_every_example_once_across_ranks(world):
    for source in _distinct_sources(world):
        seen = Counter()
        per_rank = []
        for rank in range(world):
            it = iter(MixtureBatches([source], seed=5, rank=rank, world_size=world))
            rows = [r for _ in source.batches for r in _rows(next(it))]
            per_rank.append(set(rows))
            seen.update(rows)
        expected = {tuple(x[x != 2].tolist()) for x in source.collate(list(source.examples))["input_ids"]}
        assert len(expected) == len(source.examples)
        assert set(seen) == expected and set(seen.values()) == {1}, source.name
        assert all(a.isdisjoint(b) for i, a in enumerate(per_rank) for b in per_rank[i + 1 :])


PAD_VALUES = {"input_ids": 2, "labels": -100, "attention_mask": 0}


@pytest.mark.parametrize("world, accumulation", [(2, 1), (1, 2), (2, 2)])
def test_ranks_and_accumulation_steps_cut_the_single_batch_masks_included(world, accumulation):
    """N ranks × M accumulation steps × batch B see the rows and masks of one batch N·M·B."""
    sources = _sources(batch=2 * world * accumulation, min_rows=world * accumulation)
    single = iter(MixtureBatches(sources, alpha=0.5, seed=7))
    ranks = [
        iter(MixtureBatches(sources, alpha=0.5, seed=7, rank=r, world_size=world, accumulation=accumulation))
        for r in range(world)
    ]
    for _ in range(30):
        whole = next(single)
        per_rank = [[next(r) for _ in range(accumulation)] for r in ranks]
        parts = [per_rank[rank][micro] for micro in range(accumulation) for rank in range(world)]
        assert {p["source"] for p in parts} == {whole["source"]}
        assert sum(p["n_tokens"] for p in parts) == whole["n_tokens"]
        for key, pad in PAD_VALUES.items():
            # the parts are the single batch's rows in order; the columns a part cut off were padding
            start = 0
            for part in parts:
                rows, width = part[key].shape
                assert torch.equal(part[key], whole[key][start : start + rows, :width]), key
                assert whole[key][start : start + rows, width:].eq(pad).all(), key
                start += rows
            assert start == len(whole[key])


def test_mixture_refuses_batches_smaller_than_the_world():
    collate = CausalCollator()
    tiny = stream_source("clm", "en", 0, np.arange(14, 22).reshape(2, 4), 1, collate)
    with pytest.raises(ValueError, match="fewer rows than its 3 parts"):
        MixtureBatches([tiny], world_size=3)


# ----------------------------------------------------------------------------- the xlm mixture

XLM_LANGUAGES = [("ar", 4), ("de", 30), ("en", 90), ("fr", 60), ("sw", 2), ("zh", 20)]  # (lang, sentences)


def _xlm_sources(batch: int = 2, min_rows: int = 1):
    """Six MLM languages (more than the cycle's 5 steps) of 3-token sentences, and three TLM
    directions: en-fr and fr-en of one 30-pair corpus, de-en of an 8-pair one."""
    collate = MaskingCollator(vocab_size=60)
    sources = [
        stream_source(
            "mlm", lang, i, pack_stream([[20 + i, 30 + i, 40 + i]] * n, 8), batch, collate, min_rows
        )
        for i, (lang, n) in enumerate(XLM_LANGUAGES)
    ]
    pairs = [[15 + i % 5] * (1 + i % 4) for i in range(30)]
    for name, ids, n in (("en-fr", (2, 3), 30), ("fr-en", (3, 2), 30), ("de-en", (1, 2), 8)):
        sources.append(tlm_source(name, ids, pairs[:n], pairs[:n], 2 * batch, None, collate, min_rows))
    return sources


def test_xlm_mixture_runs_the_original_cycle():
    """Each iteration: min(5, 6) MLM steps, then min(5, 3) TLM steps, drawn with replacement."""
    it = iter(MixtureBatches(_xlm_sources(), alpha=0.7, seed=3, mixture="xlm"))
    steps = [next(it)["source"] for _ in range(16)]
    assert steps == [
        *["mlm.fr", "mlm.fr", "mlm.en", "mlm.fr", "mlm.zh"],
        *["tlm.en-fr", "tlm.de-en", "tlm.en-fr"],
        *["mlm.en", "mlm.de", "mlm.fr", "mlm.en", "mlm.sw"],
        *["tlm.en-fr", "tlm.fr-en", "tlm.en-fr"],
    ]
    # a CLM+MLM+TLM run: CLM steps first, then MLM, then TLM, as the original's loop
    blocks = pack_stream([[20, 30, 40]] * 10, 8)
    clm = [stream_source("clm", lang, i, blocks, 2, CausalCollator()) for i, lang in enumerate(["en", "fr"])]
    mixed = iter(MixtureBatches([*_xlm_sources()[:2], _xlm_sources()[6], *clm], seed=0, mixture="xlm"))
    objectives = [next(mixed)["source"].split(".")[0] for _ in range(10)]
    assert objectives == ["clm", "clm", "mlm", "mlm", "tlm"] * 2


def test_xlm_mixture_weighs_languages_by_sentences_not_tokens():
    sources = _xlm_sources()
    assert [s.n_sentences for s in sources] == [n for _, n in XLM_LANGUAGES] + [30, 30, 8]
    mixture = MixtureBatches(sources, alpha=0.7, mixture="xlm")
    mlm = smoothed_probabilities([n for _, n in XLM_LANGUAGES], 0.7)
    tlm = smoothed_probabilities([30, 30, 8], 0.7)  # the two directions of a corpus weigh the same
    assert mixture.probs == pytest.approx([*(mlm * 5 / 8), *(tlm * 3 / 8)])
    assert [name for name, _, _ in mixture.describe()][-3:] == ["tlm.en-fr", "tlm.fr-en", "tlm.de-en"]
    # the same sentences in longer blocks: more tokens, the same share of steps
    longer = stream_source("mlm", "sw", 4, pack_stream([[20] * 30] * 2, 8), 2, MaskingCollator(vocab_size=60))
    assert longer.n_tokens > sources[4].n_tokens and longer.n_sentences == 2
    swapped = MixtureBatches([*sources[:4], longer, *sources[5:]], alpha=0.7, mixture="xlm")
    assert swapped.probs == pytest.approx(mixture.probs)
    draws = Counter()
    it = iter(MixtureBatches(sources, alpha=0.7, seed=1, mixture="xlm"))
    draws.update(next(it)["source"] for _ in range(8 * 500))
    for name, p, _ in mixture.describe():
        assert draws[name] / 4000 == pytest.approx(p, abs=0.02), name


def test_xlm_mixture_resumes_on_the_same_steps_and_ranks_agree():
    sources = [s for s in _xlm_sources(batch=4) if len(s.examples) >= 2]  # a row for each of 2 ranks
    whole = iter(MixtureBatches(sources, seed=5, mixture="xlm"))
    expected = [next(whole) for _ in range(20)]
    resumed = MixtureBatches(sources, seed=5, mixture="xlm")
    resumed.start = 7  # a checkpoint after 7 steps
    it = iter(resumed)
    for batch in expected[7:]:
        again = next(it)
        assert again["source"] == batch["source"]
        assert torch.equal(again["input_ids"], batch["input_ids"]) and torch.equal(
            again["labels"], batch["labels"]
        )
    ranks = [iter(MixtureBatches(sources, seed=5, rank=r, world_size=2, mixture="xlm")) for r in range(2)]
    for batch in expected:
        parts = [next(r) for r in ranks]
        assert [p["source"] for p in parts] == [batch["source"]] * 2
        start = 0  # the ranks' rows are the single batch's, masks included (cut to their own width)
        for part in parts:
            rows, width = part["labels"].shape
            for key in ("input_ids", "labels"):
                assert torch.equal(part[key], batch[key][start : start + rows, :width]), key
            start += rows
        assert start == len(batch["labels"])


def test_xlm_mixture_needs_sentences():
    blocks = np.arange(14, 30).reshape(2, 8)  # no </s>: no sentence to weigh by
    source = stream_source("mlm", "en", 0, blocks, 1, MaskingCollator(vocab_size=60))
    with pytest.raises(ValueError, match="weighs sources by sentences"):
        MixtureBatches([source], mixture="xlm")
    assert MixtureBatches([source]).probs.tolist() == [1.0]  # the sample mixture weighs tokens
