"""A training forward for HF's `XLMModel` that runs faster and keeps fewer activations on CPU.

It computes what `XLMModel.forward` computes, with the same parameters (embeddings + positions +
languages, layer norm, dropout; per layer: self-attention, dropout, residual, layer norm, FFN,
dropout, residual, layer norm), and changes only how:

- **Dropout masks** are 15-bit slices of 64-bit random words (`random_` on int64: one generator
  call per four positions) instead of `bernoulli_` (one per position, and a float mask kept for
  the backward): 3x faster on CPU. The drop probability is rounded to a multiple of 2^-15 (0.1 →
  0.100006) and kept values are scaled by the inverse of the rounded keep probability, so
  expectations are exact. Masks are kept as bool (1 byte a position instead of 4).
- **Attention** (scores, mask, softmax, dropout, weighted sum) is one autograd function that keeps
  q, k, v and the bool mask and recomputes the probabilities in its backward; HF's keeps the
  probabilities, the dropped probabilities and a float mask: three [len, len] maps per head.
  q, k and v come from one matrix product with the three weights stacked, and the
  1/sqrt(head_dim) scale is folded into q's weights.
- **The FFN's GELU** is recomputed in the backward rather than kept (one elementwise pass).
- **The output layer at the targets** (`target_cross_entropy`) computes the loss and its gradient
  chunk by chunk in the forward, so no [targets, vocab] logits outlive their chunk.
- **The tied word embeddings** get one [vocab, dim] gradient: the output layer's, into which the
  lookup's backward adds its rows (`TiedGradient`). Autograd would build a second one for the
  lookup and sum the two: at a 95k vocabulary that second copy set the step's peak memory.

Dropout draws from the default generator, so checkpointed RNG states make resumed runs repeat.
`XLMWithTargetedLMHead` uses this path for training steps only (recipe `model.training_kernels`);
evaluation, generation and saved models are HF's.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

MASK_BITS = 15
MASK_RANGE = 1 << MASK_BITS
LOGIT_CHUNK_ELEMENTS = 1 << 24  # 64 MB of fp32 logits at a time in `target_cross_entropy`


# ----------------------------------------------------------------------------- dropout


def keep_mask(shape: torch.Size, p: float, device: torch.device) -> tuple[torch.Tensor, float]:
    """(bool mask, True with probability ~1-p; the scale that keeps expectations exact)."""
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_()  # 63 random bits
    draws = words.view(torch.int16)[:n].view(shape) & (MASK_RANGE - 1)  # four 15-bit draws a word
    threshold = round(p * MASK_RANGE)
    return draws >= threshold, MASK_RANGE / (MASK_RANGE - threshold)


class _Dropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float) -> torch.Tensor:
        keep, scale = keep_mask(x.shape, p, x.device)
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return x.mul(keep).mul_(scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (keep,) = ctx.saved_tensors
        return grad.mul(keep).mul_(ctx.scale), None


def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Training dropout with bool masks from 15-bit draws (identity when p rounds to 0)."""
    return _Dropout.apply(x, p) if round(p * MASK_RANGE) > 0 else x


# ----------------------------------------------------------------------------- attention


def _probabilities(q, k, allowed: torch.Tensor | None, heads: int) -> torch.Tensor:
    scores = torch.bmm(q, k.transpose(1, 2))
    if allowed is not None:  # HF's fill value, never -inf: a row with no allowed key is no NaN
        rows, length = scores.shape[1:]
        scores.view(-1, heads, rows, length).masked_fill_(~allowed, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1)


class _Attention(torch.autograd.Function):
    """softmax(q k^T, masked) with dropout, times v, for q (already scaled), k, v of shape
    [batch x heads, len, head_dim]; `allowed` broadcasts to [batch, heads, len, len].

    Keeps q, k, v and the bool dropout mask; the probabilities are recomputed in the backward
    (one batched product and a softmax) rather than kept: a [len, len] map per head is the largest
    activation of a layer. Batched products on 3-d tensors read transposed operands in place.
    """

    @staticmethod
    def forward(ctx, q, k, v, allowed: torch.Tensor | None, heads: int, p: float):
        probs = _probabilities(q, k, allowed, heads)
        keep, scale = keep_mask(probs.shape, p, probs.device) if p > 0 else (None, 1.0)
        dropped = probs if keep is None else probs.mul_(keep).mul_(scale)
        context = torch.bmm(dropped, v)
        ctx.save_for_backward(q, k, v, allowed, keep)
        ctx.heads, ctx.scale = heads, scale
        return context

    @staticmethod
    def backward(ctx, grad_context):
        q, k, v, allowed, keep = ctx.saved_tensors
        probs = _probabilities(q, k, allowed, ctx.heads)
        # the mask as scaled floats, made once: a product with a bool tensor converts it every time
        kept = None if keep is None else keep.to(probs.dtype).mul_(ctx.scale)
        dropped = probs if kept is None else probs * kept
        grad_v = torch.bmm(dropped.transpose(1, 2), grad_context)
        del dropped
        grad_probs = torch.bmm(grad_context, v.transpose(1, 2))
        if kept is not None:
            grad_probs.mul_(kept)
        del kept
        grad_scores = torch._softmax_backward_data(grad_probs, probs, -1, probs.dtype)
        del grad_probs, probs
        grad_q = torch.bmm(grad_scores, k)
        grad_k = torch.bmm(grad_scores.transpose(1, 2), q)
        return grad_q, grad_k, grad_v, None, None, None


def self_attention(
    module: nn.Module, x: torch.Tensor, allowed: torch.Tensor | None, causal: bool, sdpa: bool
) -> torch.Tensor:
    """HF `MultiHeadAttention` (q_lin, k_lin, v_lin, out_lin) as self-attention, training mode;
    through `scaled_dot_product_attention` with `sdpa` (recipe ``model.attention: sdpa``)."""
    bs, length, dim = x.shape
    heads, head_dim = module.n_heads, dim // module.n_heads
    q_scale = head_dim**-0.5
    weight = torch.cat([module.q_lin.weight * q_scale, module.k_lin.weight, module.v_lin.weight])
    bias = torch.cat([module.q_lin.bias * q_scale, module.k_lin.bias, module.v_lin.bias])
    qkv = F.linear(x, weight, bias).view(bs, length, 3, heads, head_dim)
    if sdpa:
        q, k, v = (t.transpose(1, 2) for t in qkv.unbind(2))
        context = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=None if causal else allowed,
            dropout_p=module.dropout,
            is_causal=causal,
            scale=1.0,
        )
    else:
        # unbind: its backward stacks the three gradients (selecting each would zero-fill and add)
        q, k, v = (t.transpose(1, 2).reshape(bs * heads, length, head_dim) for t in qkv.unbind(2))
        context = _Attention.apply(q, k, v, allowed, heads, module.dropout)
    context = context.reshape(bs, heads, length, head_dim).transpose(1, 2).reshape(bs, length, dim)
    return module.out_lin(context)


# ----------------------------------------------------------------------------- FFN


class _GeluLinear(torch.autograd.Function):
    """linear(gelu(a), weight, bias), keeping `a` instead of gelu(a)."""

    @staticmethod
    def forward(ctx, a, weight, bias):
        ctx.save_for_backward(a, weight)
        return F.linear(F.gelu(a), weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        a, weight = ctx.saved_tensors
        grad_2d = grad_out.reshape(-1, grad_out.size(-1))
        grad_weight = torch.mm(grad_2d.t(), F.gelu(a).reshape(-1, a.size(-1)))
        grad_bias = grad_2d.sum(0)
        grad_a = torch.ops.aten.gelu_backward(torch.matmul(grad_out, weight), a)
        return grad_a, grad_weight, grad_bias


def ffn(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """HF `TransformerFFN` (lin1, activation, lin2, dropout), training mode."""
    hidden = module.lin1(x)
    if module.act is F.relu:
        out = module.lin2(F.relu(hidden))
    else:  # transformers' `gelu` is the exact (erf) GELU
        out = _GeluLinear.apply(hidden, module.lin2.weight, module.lin2.bias)
    return dropout(out, module.dropout)


# ----------------------------------------------------------------------------- tied embeddings


class TiedGradient:
    """The one gradient buffer of a word-embedding matrix that is also the output layer: filled
    by `target_cross_entropy`'s forward, completed by `embedding`'s backward (which runs last)."""

    def __init__(self) -> None:
        self.buffer: torch.Tensor | None = None


class _Embedding(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, ids, padding_idx: int | None, tied: TiedGradient | None):
        ctx.save_for_backward(ids)
        ctx.padding_idx, ctx.tied, ctx.rows = padding_idx, tied, weight.size(0)
        ctx.weight_like = (weight.dtype, weight.device)
        return F.embedding(ids, weight, padding_idx)

    @staticmethod
    def backward(ctx, grad):
        (ids,) = ctx.saved_tensors
        buffer = None
        if ctx.tied is not None:  # taken, not shared: nothing else keeps the gradient alive
            buffer, ctx.tied.buffer = ctx.tied.buffer, None
        if buffer is None:
            dtype, device = ctx.weight_like
            buffer = torch.zeros(ctx.rows, grad.size(-1), dtype=dtype, device=device)
        ids, grad = ids.reshape(-1), grad.reshape(-1, grad.size(-1))
        if ctx.padding_idx is not None:  # nn.Embedding's padding row gets no gradient
            used = ids != ctx.padding_idx
            ids, grad = ids[used], grad[used]
        return buffer.index_add_(0, ids, grad.to(buffer.dtype)), None, None, None


def embedding(module: nn.Embedding, ids: torch.Tensor, tied: TiedGradient | None = None) -> torch.Tensor:
    """`module(ids)`; with `tied`, its weight gradient is added into the output layer's."""
    if tied is None:
        return module(ids)
    return _Embedding.apply(module.weight, ids, module.padding_idx, tied)


# ----------------------------------------------------------------------------- encoder


def encode(
    transformer: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    langs: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    causal: bool = False,
    sdpa: bool = False,
    tied: TiedGradient | None = None,
) -> torch.Tensor:
    """The last hidden state of HF `XLMModel` `transformer` for a training step (dropout on).

    Padding and causal masks are built as `XLMModel.forward` builds them: a causal step masks
    only later keys (right padding never precedes a real token).
    """
    bs, length = input_ids.shape
    if attention_mask is not None:
        mask = attention_mask.bool()
    else:
        lengths = (input_ids != transformer.pad_index).sum(dim=1)
        mask = torch.arange(length, device=input_ids.device) < lengths[:, None]
    padded = not bool(mask.all())
    if causal:
        positions = torch.arange(length, device=input_ids.device)
        allowed = (positions[None, :] <= positions[:, None]).view(1, 1, length, length)
    else:
        allowed = mask.view(bs, 1, 1, length) if padded else None
    if position_ids is None:
        position_ids = transformer.position_ids[:, :length]

    words = embedding(transformer.embeddings, input_ids, tied)
    tensor = words + transformer.position_embeddings(position_ids)
    if langs is not None and transformer.use_lang_emb and transformer.n_langs > 1:
        tensor = tensor + transformer.lang_embeddings(langs)
    tensor = dropout(transformer.layer_norm_emb(tensor), transformer.dropout)
    keep_positions = mask.unsqueeze(-1).to(tensor.dtype) if padded else None
    if keep_positions is not None:
        tensor = tensor * keep_positions
    for i in range(transformer.n_layers):
        attention = self_attention(transformer.attentions[i], tensor, allowed, causal, sdpa)
        tensor = transformer.layer_norm1[i](tensor + dropout(attention, transformer.dropout))
        tensor = transformer.layer_norm2[i](tensor + ffn(transformer.ffns[i], tensor))
        if keep_positions is not None:
            tensor = tensor * keep_positions
    return tensor


# ----------------------------------------------------------------------------- output layer


class _TargetCrossEntropy(torch.autograd.Function):
    """Cross-entropy of linear(hidden, weight, bias) against labels, summed and divided by
    `divisor`. The gradients are made in the forward, chunk by chunk, so the logits of a chunk are
    freed before the next one is made; the softmax is computed in place and the division rides on
    the products' `alpha`, so no pass over [targets, vocab] or [vocab, dim] is spent on it."""

    @staticmethod
    def forward(
        ctx, hidden, weight, bias, labels, divisor: float, chunk_rows: int, tied: TiedGradient | None
    ):
        need_hidden, need_weight, need_bias = ctx.needs_input_grad[:3]
        grad_hidden = torch.empty_like(hidden) if need_hidden else None
        grad_weight = torch.empty_like(weight) if need_weight else None  # written with beta=0 first
        grad_bias = torch.zeros_like(bias) if need_bias else None
        total = hidden.new_zeros((), dtype=torch.float32)
        for start in range(0, hidden.size(0), chunk_rows):
            h, y = hidden[start : start + chunk_rows], labels[start : start + chunk_rows]
            logits = torch.addmm(bias, h, weight.t()).float()
            target_logits = logits.gather(1, y[:, None])
            peak = logits.amax(dim=1, keepdim=True)
            exp = logits.sub_(peak).exp_()
            norm = exp.sum(dim=1, keepdim=True)
            total += (norm.log() + peak - target_logits).sum()
            if not (need_hidden or need_weight or need_bias):
                continue
            grad_logits = exp.div_(norm)  # the softmax, in place
            grad_logits[torch.arange(y.numel(), device=y.device), y] -= 1
            grad_logits = grad_logits.to(hidden.dtype)
            if need_hidden:
                torch.mm(grad_logits, weight, out=grad_hidden[start : start + chunk_rows])
            if need_weight:
                grad_weight.addmm_(grad_logits.t(), h, beta=0 if start == 0 else 1, alpha=1 / divisor)
            if need_bias:
                grad_bias += grad_logits.sum(0)
        if need_hidden:
            grad_hidden /= divisor
        if need_bias:
            grad_bias /= divisor
        ctx.tied = tied if need_weight else None
        if ctx.tied is not None:  # handed to the lookup's backward instead of returned
            tied.buffer, grad_weight = grad_weight, None
        ctx.save_for_backward(grad_hidden, grad_weight, grad_bias)
        return total / divisor

    @staticmethod
    def backward(ctx, grad_loss):
        scale = None if bool(grad_loss == 1) else grad_loss  # 1 unless the loss was scaled (DDP, fp16)
        grads = [g if g is None or scale is None else g * scale.to(g.dtype) for g in ctx.saved_tensors]
        if ctx.tied is not None and scale is not None:
            ctx.tied.buffer.mul_(scale.to(ctx.tied.buffer.dtype))
        return *grads, None, None, None, None


def target_cross_entropy(
    hidden: torch.Tensor,
    proj: nn.Linear,
    labels: torch.Tensor,
    divisor: torch.Tensor | int | None = None,
    tied: TiedGradient | None = None,
) -> torch.Tensor:
    """Cross-entropy of `proj(hidden)` against `labels` ([targets, dim], [targets]): the mean, or
    the sum divided by `divisor`. Never builds more than 64 MB of logits at a time. With `tied`
    (the same one `encode` was given), `proj.weight` is the word embeddings: its gradient is
    completed by the lookup's backward."""
    chunk_rows = max(1, LOGIT_CHUNK_ELEMENTS // proj.out_features)
    divisor = float(labels.numel() if divisor is None else divisor)
    return _TargetCrossEntropy.apply(hidden, proj.weight, proj.bias, labels, divisor, chunk_rows, tied)
