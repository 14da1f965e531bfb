"""Collators: exact tensors for fixed seeds, and the statistics XLM's masking promises."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import xlm_hf.data.collators as collators
import xlm_hf.data.sources as streams
import xlm_hf.tasks.classification as xnli_inputs
from xlm_hf.data.collators import CausalCollator, MaskingCollator, word_weights_from_counts
from xlm_hf.data.sources import tlm_example


@pytest.mark.parametrize("module", [collators, streams, xnli_inputs], ids=lambda m: m.__name__)
def test_docstring_examples_are_exact(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


MLM_EXAMPLES = [
    {"input_ids": [1, 15, 16, 17, 18, 19, 20, 1], "langs": 2},
    {"input_ids": [1, 21, 22, 1], "langs": 3},
]


def test_mlm_exact_tensors():
    batch = MaskingCollator(vocab_size=30, mlm_probability=0.4)(
        MLM_EXAMPLES, torch.Generator().manual_seed(3)
    )
    assert batch["input_ids"].tolist() == [[1, 15, 17, 24, 18, 5, 20, 1], [1, 21, 22, 1, 2, 2, 2, 2]]
    assert batch["labels"].tolist() == [
        [-100, 15, 16, 17, -100, 19, -100, -100],
        [-100, -100, -100, -100, -100, -100, -100, -100],
    ]
    assert batch["langs"].tolist() == [[2] * 8, [3] * 8]
    assert batch["attention_mask"].tolist() == [[1] * 8, [1, 1, 1, 1, 0, 0, 0, 0]]


def test_the_first_position_is_a_target_only_when_asked():
    """Same seed, same draws: the original's rule only takes position 0 out of the targets."""
    collate = MaskingCollator(vocab_size=30, mlm_probability=0.4, predict_first_position=True)
    batch = collate(MLM_EXAMPLES, torch.Generator().manual_seed(3))
    assert batch["input_ids"].tolist() == [[5, 15, 17, 24, 18, 5, 20, 1], [1, 21, 22, 1, 2, 2, 2, 2]]
    assert batch["labels"].tolist() == [
        [1, 15, 16, 17, -100, 19, -100, -100],
        [-100, -100, -100, -100, -100, -100, -100, -100],
    ]


def test_tlm_exact_tensors():
    example = tlm_example([15, 16], [17, 18, 19], lang1=1, lang2=3)
    batch = MaskingCollator(vocab_size=30, mlm_probability=0.3)([example], torch.Generator().manual_seed(0))
    assert example["input_ids"] == [1, 15, 16, 1, 1, 17, 18, 19, 1]
    assert batch["langs"].tolist() == [[1, 1, 1, 1, 3, 3, 3, 3, 3]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1, 2, 3, 4]]
    assert batch["input_ids"].tolist() == [[1, 15, 5, 5, 1, 17, 18, 19, 1]]
    assert batch["labels"].tolist() == [[-100, -100, 16, 1, -100, -100, -100, -100, -100]]


def test_tlm_never_predicts_the_opening_eos_of_the_pair():
    """The pair is one sequence: its position 0 is A's opening </s>; B's opening </s> (position 4,
    its positions restart there) is a token like the others."""
    example = tlm_example([15, 16], [17, 18, 19], lang1=1, lang2=3)
    default = MaskingCollator(vocab_size=30, mlm_probability=0.3)([example], torch.Generator().manual_seed(3))
    assert default["input_ids"].tolist() == [[1, 5, 5, 5, 1, 5, 18, 19, 1]]
    assert default["labels"].tolist() == [[-100, 15, 16, 1, -100, 17, -100, -100, -100]]
    first = MaskingCollator(vocab_size=30, mlm_probability=0.3, predict_first_position=True)
    batch = first([example], torch.Generator().manual_seed(3))
    assert batch["input_ids"].tolist() == [[14, 5, 5, 5, 1, 5, 18, 19, 1]]
    assert batch["labels"].tolist() == [[1, 15, 16, 1, -100, 17, -100, -100, -100]]


def test_rows_of_one_token_still_give_a_target():
    batch = MaskingCollator(vocab_size=30)([{"input_ids": [17], "langs": 0}] * 2, torch.Generator())
    assert (batch["labels"] != -100).sum() >= 1


def test_clm_labels_are_the_next_token_and_ignore_padding():
    batch = CausalCollator()([{"input_ids": [1, 7, 8, 9], "langs": 0}, {"input_ids": [1, 7], "langs": 1}])
    assert batch["labels"].tolist() == [[7, 8, 9, -100], [7, -100, -100, -100]]
    assert batch["input_ids"].tolist() == [[1, 7, 8, 9], [1, 7, 2, 2]]


def test_same_generator_seed_same_batch():
    collate = MaskingCollator(vocab_size=100)
    examples = [{"input_ids": list(range(14, 80)), "langs": 0}] * 4
    a = collate(examples, torch.Generator().manual_seed(7))
    b = collate(examples, torch.Generator().manual_seed(7))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_masking_proportions_80_10_10():
    collate = MaskingCollator(vocab_size=1000)
    ids = torch.randint(14, 1000, (64, 256), generator=torch.Generator().manual_seed(0))
    batch = collate([{"input_ids": row, "langs": 0} for row in ids], torch.Generator().manual_seed(1))
    targets = batch["labels"] != -100
    assert targets.float().mean().item() == pytest.approx(0.15, abs=0.01)
    masked = (batch["input_ids"] == 5) & targets
    kept = (batch["input_ids"] == ids) & targets
    n = targets.sum().item()
    assert masked.sum().item() / n == pytest.approx(0.8, abs=0.02)
    assert kept.sum().item() / n == pytest.approx(0.1 + 0.1 / 986, abs=0.02)
    assert ((batch["input_ids"] != ids) & ~targets).sum() == 0  # non-targets untouched


@settings(max_examples=30, deadline=None)
@given(lengths=st.lists(st.integers(1, 40), min_size=1, max_size=6), seed=st.integers(0, 10_000))
def test_padding_is_never_a_target(lengths, seed):
    gen = torch.Generator().manual_seed(seed)
    examples = [{"input_ids": torch.randint(14, 50, (n,), generator=gen), "langs": 0} for n in lengths]
    for collate in (
        MaskingCollator(vocab_size=50, mlm_probability=0.5),
        MaskingCollator(vocab_size=50, word_weights=torch.ones(50)),
    ):
        batch = collate(examples, gen)
        assert not (batch["labels"] != -100)[batch["attention_mask"] == 0].any()
        assert (batch["labels"] != -100).any()


def test_sample_alpha_draws_exactly_ceil_p_n_targets_favouring_rare_ids():
    counts = torch.zeros(40, dtype=torch.long)
    counts[20], counts[21] = 1000, 10
    weights = word_weights_from_counts(counts, alpha=0.5)
    assert weights[21] / weights[20] == pytest.approx(10.0)
    assert weights[:14].sum() == 0
    collate = MaskingCollator(vocab_size=40, word_weights=weights)
    row = torch.tensor([20] * 90 + [21] * 10)
    batch = collate([{"input_ids": row, "langs": 0}] * 4, torch.Generator().manual_seed(0))
    labels = batch["labels"]
    assert (labels != -100).sum().item() == math.ceil(0.15 * 4 * 99)  # position 0 of each row cannot be one
    # 40 rare tokens weigh 10x each: they are far more often targets than their 10 % share
    assert (labels == 21).sum().item() > 0.4 * (labels != -100).sum().item()


EOS_COUNTS = torch.zeros(30, dtype=torch.long)
EOS_COUNTS[1], EOS_COUNTS[15], EOS_COUNTS[16], EOS_COUNTS[17] = 8, 100, 4, 25


def test_sample_alpha_gives_eos_weight_zero_like_the_original():
    weights = word_weights_from_counts(EOS_COUNTS, alpha=0.5)
    assert weights[:15].tolist() == [0.0] * 15
    assert weights[15:18].tolist() == pytest.approx([0.1, 0.5, 0.2])
    collate = MaskingCollator(vocab_size=30, mlm_probability=0.5, word_weights=weights)
    row = {"input_ids": [1, 15, 1, 16, 17, 1, 15, 1], "langs": 0}
    batch = collate([row], torch.Generator().manual_seed(0))
    # ceil(0.5 · 7) = 4 targets over positions 1-7: exactly the four words, never </s>
    assert batch["labels"].tolist() == [[-100, 15, -100, 16, 17, -100, 15, -100]]
    assert batch["input_ids"].tolist() == [[1, 15, 1, 5, 5, 1, 5, 1]]


def test_sample_alpha_eos_weighs_eos_by_its_count():
    weights = word_weights_from_counts(EOS_COUNTS, alpha=0.5, predict_eos=True)
    assert weights[1].item() == pytest.approx(8**-0.5)
    collate = MaskingCollator(vocab_size=30, mlm_probability=0.5, word_weights=weights)
    row = {"input_ids": [1, 15, 1, 16, 17, 1, 15, 1], "langs": 0}
    batch = collate([row], torch.Generator().manual_seed(0))
    assert batch["labels"].tolist() == [[-100, -100, 1, -100, -100, 1, 15, 1]]
    assert batch["input_ids"].tolist() == [[1, 15, 5, 16, 17, 1, 5, 18]]
