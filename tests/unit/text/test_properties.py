"""Property-based tests (hypothesis): collators and TLM examples on arbitrary token sequences,
text normalisation and tokenisation on arbitrary unicode.

Each property is capped (`max_examples`, no deadline: the machine is shared) so the file stays fast.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xlm_hf.data.collators import IGNORE_INDEX, N_SPECIAL, CausalCollator, MaskingCollator, pad_examples
from xlm_hf.data.sources import tlm_example
from xlm_hf.data.textfiles import is_blank
from xlm_hf.text.pretokenize import pretokenize, xlm_encode

PAD, MASK, VOCAB = 2, 5, 60
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# real token ids: </s> (1), <unk> (3) or a learned token; never <pad>
token = st.one_of(st.just(1), st.just(3), st.integers(N_SPECIAL, VOCAB - 1))
sequence = st.lists(token, min_size=1, max_size=24)


@st.composite
def examples(draw, with_positions: bool | None = None) -> list[dict]:
    """1-6 examples; langs one id per example or one per token; position_ids for all or none."""
    seqs = draw(st.lists(sequence, min_size=1, max_size=6))
    per_token = draw(st.booleans())
    positions = draw(st.booleans()) if with_positions is None else with_positions
    out = []
    for ids in seqs:
        lang = draw(st.integers(0, 14))
        example = {"input_ids": ids, "langs": [lang] * len(ids) if per_token else lang}
        if positions:
            example["position_ids"] = list(range(len(ids)))
        out.append(example)
    return out


def _lang_of(example: dict) -> int:
    langs = example["langs"]
    return langs[0] if isinstance(langs, list) else langs


@FAST
@given(examples())
def test_pad_examples_shapes_and_contents(batch_examples):
    batch = pad_examples(batch_examples, PAD)
    n, longest = len(batch_examples), max(len(e["input_ids"]) for e in batch_examples)
    for name in ("input_ids", "langs", "attention_mask"):
        assert batch[name].shape == (n, longest) and batch[name].dtype == torch.long
    assert ("position_ids" in batch) == ("position_ids" in batch_examples[0])
    for i, example in enumerate(batch_examples):
        length = len(example["input_ids"])
        assert batch["input_ids"][i, :length].tolist() == example["input_ids"]
        assert (batch["input_ids"][i, length:] == PAD).all()
        assert batch["attention_mask"][i].tolist() == [1] * length + [0] * (longest - length)
        # one language per row: the whole row, padding included; per token: the tokens
        assert (batch["langs"][i, :length] == _lang_of(example)).all()
        if not isinstance(example["langs"], list):
            assert (batch["langs"][i] == example["langs"]).all()
        if "position_ids" in batch:
            assert batch["position_ids"][i, :length].tolist() == example["position_ids"]


@FAST
@given(examples(), st.integers(0, 2**31 - 1), st.floats(0.05, 0.95))
def test_masking_targets_never_padding_and_labels_match(batch_examples, seed, probability):
    collate = MaskingCollator(
        vocab_size=VOCAB, mask_token_id=MASK, pad_token_id=PAD, mlm_probability=probability
    )
    batch = collate(batch_examples, torch.Generator().manual_seed(seed))
    plain = pad_examples(batch_examples, PAD)
    original, labels, targets = plain["input_ids"], batch["labels"], batch["labels"] != IGNORE_INDEX
    assert labels.shape == original.shape == batch["input_ids"].shape
    assert not (targets & (original == PAD)).any(), "a padding position is a target"
    assert 1 <= int(targets.sum()) <= int((original != PAD).sum())
    if original.size(1) > 1:  # the original's rule: a row's first position is never a target
        assert not targets[:, 0].any()
    assert (labels[targets] == original[targets]).all()
    # outside the targets nothing changes; a target becomes <mask>, stays, or a random non-special id
    assert (batch["input_ids"][~targets] == original[~targets]).all()
    changed = batch["input_ids"][targets]
    assert ((changed == MASK) | (changed == original[targets]) | (changed >= N_SPECIAL)).all()
    assert (changed < VOCAB).all()
    for name in ("langs", "attention_mask"):
        assert torch.equal(batch[name], plain[name])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.05, 0.5))
def test_mask_rate_stays_within_binomial_bounds(seed, probability):
    n = 4000
    ids = torch.randint(N_SPECIAL, VOCAB, (n,), generator=torch.Generator().manual_seed(seed)).tolist()
    collate = MaskingCollator(vocab_size=VOCAB, pad_token_id=PAD, mlm_probability=probability)
    batch = collate([{"input_ids": ids, "langs": 0}], torch.Generator().manual_seed(seed))
    rate = float((batch["labels"] != IGNORE_INDEX).float().mean())
    sigma = math.sqrt(probability * (1 - probability) / n)
    assert abs(rate - probability) < 6 * sigma


@FAST
@given(examples(with_positions=False), st.integers(0, 2**31 - 1), st.floats(0.05, 0.95))
def test_weighted_masking_draws_exactly_ceil_p_n_targets(batch_examples, seed, probability):
    weights = torch.zeros(VOCAB)
    weights[N_SPECIAL:] = torch.rand(VOCAB - N_SPECIAL, generator=torch.Generator().manual_seed(seed)) + 0.1
    weights[1] = 0.5  # </s> can be a target, <unk> (3) cannot
    collate = MaskingCollator(
        vocab_size=VOCAB, pad_token_id=PAD, mlm_probability=probability, word_weights=weights
    )
    batch = collate(batch_examples, torch.Generator().manual_seed(seed))
    original = pad_examples(batch_examples, PAD)["input_ids"]
    targets = batch["labels"] != IGNORE_INDEX
    candidates = original != PAD
    if original.size(1) > 1:  # everything but a row's first position (unless rows are one token long)
        candidates[:, 0] = False
    n_tokens, drawable = int(candidates.sum()), int((weights[original] * candidates > 0).sum())
    expected = min(math.ceil(probability * n_tokens), drawable)
    if expected > 0:
        assert int(targets.sum()) == expected
    else:  # no token has weight (e.g. all <unk>): independent draws, at least one target
        assert 1 <= int(targets.sum()) <= n_tokens
    assert not (targets & ~candidates).any()


@FAST
@given(examples())
def test_causal_labels_are_the_next_token(batch_examples):
    batch = CausalCollator(pad_token_id=PAD)(batch_examples)
    ids, labels = batch["input_ids"], batch["labels"]
    assert labels.shape == ids.shape and (labels[:, -1] == IGNORE_INDEX).all()
    for i, example in enumerate(batch_examples):
        seq = example["input_ids"]
        assert labels[i, : len(seq) - 1].tolist() == seq[1:]
        assert (labels[i, len(seq) - 1 :] == IGNORE_INDEX).all(), "padding (or past the end) is a target"


@FAST
@given(sequence, sequence, st.integers(0, 14), st.integers(0, 14))
def test_tlm_example_langs_and_positions(a, b, lang1, lang2):
    example = tlm_example(a, b, lang1, lang2)
    n1, n2 = len(a) + 2, len(b) + 2
    assert example["input_ids"] == [1, *a, 1, 1, *b, 1]
    assert example["langs"] == [lang1] * n1 + [lang2] * n2
    assert example["position_ids"] == list(range(n1)) + list(range(n2))
    # through the TLM collator: langs and positions survive, padding is never a target
    batch = MaskingCollator(vocab_size=VOCAB)([example, tlm_example(a[:1], b[:1], lang2, lang1)])
    assert batch["langs"][0].tolist() == example["langs"]
    assert batch["position_ids"][0].tolist() == example["position_ids"]
    assert not ((batch["labels"] != IGNORE_INDEX) & (batch["attention_mask"] == 0)).any()


# ----------------------------------------------------------------------------- text

LANGS = ["en", "fr", "de", "es", "zh", "th"]
any_text = st.text(max_size=80)  # every code point: controls, surrogates excluded by hypothesis, RTL, CJK


@settings(max_examples=80, deadline=None)
@given(any_text, st.sampled_from(LANGS), st.booleans(), st.sampled_from(["hf", "xlm"]))
def test_pretokenize_never_raises_and_gives_words(text, lang, lowercase, preprocessing):
    words = pretokenize(text, lang, lowercase, preprocessing)
    assert all(isinstance(w, str) and w and not w.isspace() for w in words)
    if is_blank(text):
        assert words == []


@settings(max_examples=80, deadline=None)
@given(any_text, st.sampled_from([*LANGS, "hi", "fi", "ga", "cs"]))
def test_the_fast_xlm_words_are_the_reference_words(text, lang):
    from xlm_hf.text.fast_moses import fast_lowercase_and_remove_accent, fast_words

    fast = [w for w in fast_lowercase_and_remove_accent(fast_words(text, lang, "xlm")) if w]
    assert fast == pretokenize(text, lang, preprocessing="xlm")


@pytest.fixture(scope="module")
def tokenizer(sample_tokenizer):
    return sample_tokenizer


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=any_text, lang=st.sampled_from(["de", "en", "es", "fr"]))
def test_xlm_encode_never_raises_and_gives_valid_ids(tokenizer, text, lang):
    ids = xlm_encode(tokenizer, text, lang)
    assert all(isinstance(i, int) and 0 <= i < len(tokenizer) for i in ids)
    assert tokenizer.pad_token_id not in ids and tokenizer.mask_token_id not in ids
    if is_blank(text):
        assert ids == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=any_text, lang=st.sampled_from(["de", "en", "es", "fr"]))
def test_bom_crlf_and_invisible_padding_add_no_token(tokenizer, text, lang):
    """What the file reader leaves around a line (a BOM, a CR, spaces) never becomes a token."""
    assert xlm_encode(tokenizer, f"\ufeff {text} \u200b\r", lang) == xlm_encode(tokenizer, text, lang)
