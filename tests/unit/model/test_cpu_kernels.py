"""`cpu_kernels`: the same loss and gradients as HF's XLM (dropout off), exact dropout masks and
scales, exact attention / GELU / output-layer gradients, and the switch that picks the path."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from tests.conftest import tiny_xlm_config
from xlm_hf.config.loader import build_section
from xlm_hf.config.sections import ModelConfig
from xlm_hf.errors import ConfigError
from xlm_hf.model import cpu_kernels
from xlm_hf.model.cpu_kernels import MASK_RANGE, keep_mask, target_cross_entropy
from xlm_hf.model.heads import XLMWithTargetedLMHead, set_attention


def _model(
    dropout: float = 0.0, causal: bool = False, gelu: bool = True, vocab: int = 70
) -> XLMWithTargetedLMHead:
    torch.manual_seed(0)
    config = tiny_xlm_config(
        vocab_size=vocab,
        n_langs=3,
        dropout=dropout,
        attention_dropout=dropout,
        gelu_activation=gelu,
        causal=causal,
    )
    return XLMWithTargetedLMHead(config).train()


def _batch(padded: bool = True):
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(14, 70, (3, 20), generator=gen)
    labels = torch.full_like(ids, -100)
    targets = torch.rand(ids.shape, generator=gen) < 0.3
    if padded:
        ids[2, 13:] = 2
        targets[2, 13:] = False
    labels[targets] = ids[targets]
    langs = torch.randint(0, 3, ids.shape, generator=gen)
    positions = torch.arange(20).repeat(3, 1)
    positions[1, 10:] -= 10  # a TLM-style reset
    return {"input_ids": ids, "langs": langs, "position_ids": positions, "labels": labels}


def _loss_and_grads(model, kernels: str, **inputs):
    model.training_kernels = kernels
    model.zero_grad(set_to_none=True)
    loss = model(**inputs).loss
    (2.5 * loss).backward()  # a scaled loss (DDP, fp16 loss scaling) scales every gradient
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize(
    ("causal", "gelu", "padded", "sdpa"),
    [
        (False, True, True, False),
        (True, True, True, False),
        (False, False, False, False),
        (False, True, True, True),
    ],
)
def test_same_loss_and_gradients_as_hf_without_dropout(causal, gelu, padded, sdpa):
    model = _model(causal=causal, gelu=gelu)
    if sdpa:
        set_attention(model, "sdpa")
    batch = _batch(padded)
    ours, our_grads = _loss_and_grads(model, "xlm_hf", causal=causal, num_items_in_batch=7, **batch)
    theirs, their_grads = _loss_and_grads(model, "hf", causal=causal, num_items_in_batch=7, **batch)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert our_grads.keys() == their_grads.keys() and len(our_grads) == len(list(model.parameters()))
    for name in their_grads:
        torch.testing.assert_close(our_grads[name], their_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_pad_ids_that_are_attended_to_get_no_lookup_gradient_as_in_hf():
    model = _model()
    batch = _batch(padded=True)
    batch["attention_mask"] = torch.ones_like(batch["input_ids"])  # the pad ids are read as tokens
    ours, our_grads = _loss_and_grads(model, "xlm_hf", **batch)
    theirs, their_grads = _loss_and_grads(model, "hf", **batch)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    for name in their_grads:
        torch.testing.assert_close(our_grads[name], their_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_frozen_word_embeddings_get_no_gradient_and_the_rest_match_hf():
    model = _model()
    model.transformer.embeddings.weight.requires_grad_(False)  # also the (tied) output layer
    batch = _batch()
    ours, our_grads = _loss_and_grads(model, "xlm_hf", **batch)
    theirs, their_grads = _loss_and_grads(model, "hf", **batch)
    assert "transformer.embeddings.weight" not in our_grads and our_grads.keys() == their_grads.keys()
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    for name in their_grads:
        torch.testing.assert_close(our_grads[name], their_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_the_switch_picks_the_path(monkeypatch):
    model = _model()
    batch = _batch()
    calls = []
    real = cpu_kernels.encode
    monkeypatch.setattr(cpu_kernels, "encode", lambda *a, **k: calls.append(1) or real(*a, **k))
    model.training_kernels = "auto"
    out = model(**batch)  # CPU, training, gradients on: the fast path, which keeps no logits
    assert calls == [1] and out.logits is None
    with torch.no_grad():
        assert model(**batch).logits is not None
    model.eval()
    assert model(**batch).logits.shape == (int((batch["labels"] != -100).sum()), 70)
    model.train()
    model.training_kernels = "hf"
    model(**batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model.training_kernels = "xlm_hf"
        model(**batch)  # autocast: HF's path
    assert calls == [1]


def test_training_kernels_is_a_recipe_key():
    assert ModelConfig().training_kernels == "auto"
    assert build_section(ModelConfig, {"training_kernels": "hf"}, "model").training_kernels == "hf"
    with pytest.raises(ConfigError, match="model.training_kernels"):
        build_section(ModelConfig, {"training_kernels": "fast"}, "model")


def test_keep_mask_rate_and_scale_in_every_lane():
    torch.manual_seed(0)
    keep, scale = keep_mask(torch.Size([1 << 22]), 0.1, torch.device("cpu"))
    threshold = round(0.1 * MASK_RANGE)
    assert threshold == 3277 and scale == MASK_RANGE / (MASK_RANGE - threshold)
    expected = 1 - threshold / MASK_RANGE
    # each int64 word gives four 15-bit draws; the top one must be as fair as the others
    lanes = keep.view(-1, 4).float().mean(0)
    sigma = (expected * (1 - expected) / (1 << 20)) ** 0.5
    assert torch.all((lanes - expected).abs() < 5 * sigma), lanes
    assert keep.dtype == torch.bool and keep.shape == (1 << 22,)


def test_dropout_scales_what_it_keeps_and_its_gradient_uses_the_same_mask():
    torch.manual_seed(0)
    x = (torch.rand(64, 33) + 0.5).requires_grad_()
    y = cpu_kernels.dropout(x, 0.25)
    kept = y != 0
    scale = MASK_RANGE / (MASK_RANGE - round(0.25 * MASK_RANGE))
    torch.testing.assert_close(y[kept], x[kept] * scale)
    assert 0.6 < kept.float().mean() < 0.9
    y.backward(torch.full_like(y, 2.0))
    torch.testing.assert_close(x.grad, kept.float() * 2.0 * scale)
    assert cpu_kernels.dropout(x, 0.0) is x


def test_dropout_repeats_under_the_same_seed():
    x = torch.randn(8, 16)
    torch.manual_seed(3)
    first = cpu_kernels.dropout(x, 0.1)
    torch.manual_seed(3)
    assert torch.equal(first, cpu_kernels.dropout(x, 0.1))


def test_attention_gradients_with_dropout_match_plain_autograd():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(6, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(3))
    allowed = torch.tensor([[True] * 5, [True] * 3 + [False] * 2]).view(2, 1, 1, 5)  # 2 sequences x 3 heads
    torch.manual_seed(7)
    out = cpu_kernels._Attention.apply(q, k, v, allowed, 3, 0.3)
    grad = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    ours = torch.autograd.grad(out, (q, k, v), grad)

    torch.manual_seed(7)  # the same mask, drawn the same way
    scores = (q @ k.transpose(1, 2)).view(2, 3, 5, 5).masked_fill(~allowed, torch.finfo(torch.float64).min)
    probs = torch.softmax(scores.view(6, 5, 5), -1)
    keep, scale = keep_mask(probs.shape, 0.3, probs.device)
    reference = (probs * keep * scale) @ v
    torch.testing.assert_close(out, reference)
    for a, b in zip(ours, torch.autograd.grad(reference, (q, k, v), grad), strict=True):
        torch.testing.assert_close(a, b)


def test_attention_and_gelu_linear_pass_gradcheck():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(4, 3, 2, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(3))
    causal = torch.tril(torch.ones(3, 3, dtype=torch.bool)).view(1, 1, 3, 3)
    assert torch.autograd.gradcheck(
        lambda a, b, c: cpu_kernels._Attention.apply(a, b, c, causal, 2, 0.0), (q, k, v)
    )
    a = torch.randn(2, 3, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(cpu_kernels._GeluLinear.apply, (a, w, b))


@pytest.mark.parametrize("chunk_elements", [1 << 24, 3 * 11])  # one chunk; chunks of 3 rows
def test_target_cross_entropy_matches_cross_entropy(monkeypatch, chunk_elements):
    monkeypatch.setattr(cpu_kernels, "LOGIT_CHUNK_ELEMENTS", chunk_elements)
    gen = torch.Generator().manual_seed(0)
    proj = torch.nn.Linear(6, 11)
    hidden = torch.randn(10, 6, generator=gen, requires_grad=True)
    labels = torch.randint(0, 11, (10,), generator=gen)
    for divisor in (None, 25):
        loss = target_cross_entropy(hidden, proj, labels, divisor)
        (3 * loss).backward()  # an upstream gradient other than 1 (loss scaling, DDP)
        ours = [hidden.grad, proj.weight.grad, proj.bias.grad]
        hidden.grad = proj.weight.grad = proj.bias.grad = None
        reference = F.cross_entropy(proj(hidden), labels, reduction="sum") / (divisor or 10)
        (3 * reference).backward()
        torch.testing.assert_close(loss, reference)
        for a, b in zip(ours, [hidden.grad, proj.weight.grad, proj.bias.grad], strict=True):
            torch.testing.assert_close(a, b)
        hidden.grad = proj.weight.grad = proj.bias.grad = None


def test_training_with_dropout_lowers_the_loss():
    model = _model(dropout=0.1, vocab=70)
    model.training_kernels = "xlm_hf"
    batch = _batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
