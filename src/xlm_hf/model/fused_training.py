"""The GPU training path: a forward for HF's XLM modules with no host sync, fused attention and a
compiled layer.

It computes what `XLMModel.forward` computes, with the same parameters (embeddings + positions +
languages, layer norm, dropout; per layer: self-attention, dropout, residual, layer norm, FFN,
dropout, residual, layer norm; padding zeroed after the embeddings and after every layer), and
changes only how:

- **No host sync.** HF's forward reads ``lengths.max().item()``, builds an `EncoderDecoderCache`
  and a dense [batch, len, len] causal mask on every call; xlm-hf's own SDPA module asked
  ``bool(mask.all())`` in every layer. Here whether a batch is padded is a Python bool decided on
  the CPU where the batch is built (`prepare_batch`), masks are device tensors, and the target
  positions arrive as an index computed on the CPU too: nothing in a step waits for the GPU, so
  the CPU queues the next kernels while the GPU runs the current ones.
- **Fused attention** (`scaled_dot_product_attention`) in every case: packed streams carry no
  mask (flash kernel), causal steps use ``is_causal`` (flash), padded TLM and XNLI batches pass a
  key-padding bias in the compute dtype, [batch, 1, 1, len], which the memory-efficient kernel
  takes (a boolean mask would be converted on every call, and a [len, len] one never reaches a
  fused kernel). Lengths are padded to multiples of `LENGTH_BUCKET`, which that kernel's bias
  alignment wants and which keeps the compiled shapes few.
- **One compiled layer.** A layer is a pure function of its input and its 16 parameter tensors, so
  ``torch.compile`` builds one graph that all layers share (compiling each layer, or the whole
  encoder, would compile 12 times as much); with autocast it fuses the casts, dropout, residuals,
  GELU and layer norms around the matrix products. Recipe ``model.compile``: ``auto`` compiles on
  CUDA only.
- **The output layer at the targets** (`target_cross_entropy`): the loss and its gradient are made
  in the forward, in chunks of at most 2^28 logits (1 GB in fp32), so at 95k-200k vocabularies no
  [targets, vocab] tensor outlives its chunk; compiled, the softmax and its gradient are one pass
  over each chunk's bf16 logits (`softmax_cross_entropy_grad`); the divisor (the step's target count, a device tensor
  under `Trainer`) and the backward's scale stay tensors: no ``float()`` or ``bool()`` on them.

Dropout draws from the default generators (PyTorch's own dropout and attention kernels, or the
compiled graph's), so checkpointed RNG states make resumed runs repeat, but with masks other than
HF's or `cpu_kernels`'s. `XLMWithTargetedLMHead` and `FusedXLMForSequenceClassification` use
this path (recipe ``training_kernels``); saved models stay plain HF.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from xlm_hf.text.special_tokens import IGNORE_INDEX

LENGTH_BUCKET = 32  # padded batches are padded up to a multiple of this: at most 8 lengths up to 256
TARGET_CHUNK_ELEMENTS = 1 << 28  # logits made at a time by `target_cross_entropy` (1 GB in fp32)
PAD_FILL = {"attention_mask": 0, "labels": IGNORE_INDEX}  # input_ids take the pad id; langs, positions 0


# ----------------------------------------------------------------------------- batches (CPU side)


def bucket_length(length: int, bucket: int = LENGTH_BUCKET, limit: int | None = None) -> int:
    """`length` rounded up to a multiple of `bucket`, never beyond `limit` (the model's positions)."""
    rounded = -(-length // bucket) * bucket
    return max(length, min(rounded, limit)) if limit is not None else rounded


def pad_to_length(batch: dict[str, Any], length: int, pad_token_id: int) -> dict[str, Any]:
    """Right-pad every [rows, len] tensor of a collated batch to `length` columns: pad ids, no
    attention, no target, language and position 0 (padding is masked, so their values never count)."""
    width = batch["input_ids"].size(1)
    if length <= width:
        return batch
    out = dict(batch)
    for key, value in batch.items():
        if torch.is_tensor(value) and value.dim() == 2 and value.size(1) == width:
            fill = pad_token_id if key == "input_ids" else PAD_FILL.get(key, 0)
            out[key] = F.pad(value, (0, length - width), value=fill)
    return out


def prepare_batch(
    batch: dict[str, Any], pad_token_id: int, max_length: int | None = None, bucket: int = LENGTH_BUCKET
) -> dict[str, Any]:
    """What the fused forward wants to know about a collated CPU batch, found where it is built:

    - ``padded``: whether any position is padding (a Python bool: the forward then needs no sync to
      choose between the flash kernel with no mask and the memory-efficient one with a mask);
    - padded batches padded further to a multiple of `bucket` (at most `max_length`);
    - ``target_index``: the flat positions (row-major) of the labels that are targets, so the
      output layer gathers them without a boolean index (which waits for the GPU to count them).
    """
    mask = batch.get("attention_mask")
    padded = mask is not None and not bool(mask.all())
    out = dict(batch)
    if padded:
        out = pad_to_length(out, bucket_length(mask.size(1), bucket, max_length), pad_token_id)
    out["padded"] = padded
    labels = out.get("labels")
    if torch.is_tensor(labels) and labels.dim() == 2:
        out["target_index"] = torch.nonzero(labels.flatten() != IGNORE_INDEX).squeeze(1)
    return out


# ----------------------------------------------------------------------------- encoder


def _layer(
    x: torch.Tensor,
    bias: torch.Tensor | None,
    keep: torch.Tensor | None,
    weights: tuple[torch.Tensor, ...],
    heads: int,
    p_hidden: float,
    p_attention: float,
    causal: bool,
    gelu: bool,
    eps: float,
) -> torch.Tensor:
    """One XLM layer (post-norm): attention, dropout, residual, layer norm, FFN, dropout, residual,
    layer norm, padding zeroed. A function of tensors only, so one compiled graph serves every layer."""
    q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b, n1_w, n1_b, f1_w, f1_b, f2_w, f2_b, n2_w, n2_b = weights
    bs, length, dim = x.shape
    qkv = F.linear(x, torch.cat([q_w, k_w, v_w]), torch.cat([q_b, k_b, v_b]))
    q, k, v = qkv.view(bs, length, 3, heads, dim // heads).permute(2, 0, 3, 1, 4).unbind(0)
    context = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=p_attention, is_causal=causal)
    attention = F.linear(context.transpose(1, 2).reshape(bs, length, dim), o_w, o_b)
    x = F.layer_norm(x + F.dropout(attention, p_hidden), (dim,), n1_w, n1_b, eps)
    hidden = F.linear(x, f1_w, f1_b)
    hidden = F.gelu(hidden) if gelu else F.relu(hidden)  # transformers' `gelu` is the exact (erf) one
    x = F.layer_norm(x + F.dropout(F.linear(hidden, f2_w, f2_b), p_hidden), (dim,), n2_w, n2_b, eps)
    return x if keep is None else x * keep


_compiled_layer: Callable[..., torch.Tensor] | None = None


def layer_function(compiled: bool) -> Callable[..., torch.Tensor]:
    """`_layer`, or its ``torch.compile`` (made once per process, so every model shares its graphs).

    ``fullgraph``: a graph break (a host read such as ``.item()``) is an error, not a silent split.
    Streams compile with static shapes; padded batches (TLM, XNLI), whose rows and lengths vary,
    are marked dynamic in those two sizes (`encode`), so one graph serves all of them."""
    global _compiled_layer
    if not compiled:
        return _layer
    if _compiled_layer is None:
        _compiled_layer = torch.compile(_layer, fullgraph=True)
    return _compiled_layer


def _layer_weights(transformer: nn.Module, i: int) -> tuple[torch.Tensor, ...]:
    attention, ffn = transformer.attentions[i], transformer.ffns[i]
    norm1, norm2 = transformer.layer_norm1[i], transformer.layer_norm2[i]
    modules = (
        attention.q_lin,
        attention.k_lin,
        attention.v_lin,
        attention.out_lin,
        norm1,
        ffn.lin1,
        ffn.lin2,
    )
    return (*(t for m in modules for t in (m.weight, m.bias)), norm2.weight, norm2.bias)


def compute_dtype(reference: torch.Tensor) -> torch.dtype:
    """The dtype matrix products run in: autocast's when it is on, else the tensor's own."""
    device = reference.device.type
    return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else reference.dtype


def encode(
    transformer: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    langs: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    causal: bool = False,
    padded: bool | None = None,
    compiled: bool = False,
) -> torch.Tensor:
    """The last hidden state of HF `XLMModel` `transformer` (dropout as its training mode says).

    `padded`: False promises that no position is padding (no mask at all); None means unknown: the
    padding mask is then built from `attention_mask`, or from the pad ids as HF does, on the device.
    A causal step masks only later keys, as HF does (right padding never precedes a real token).
    """
    bs, length = input_ids.shape
    if padded is False:
        mask = None
    elif attention_mask is not None:
        mask = attention_mask.bool()
    else:  # HF: lengths = non-pad count, positions before the length are tokens
        lengths = (input_ids != transformer.pad_index).sum(dim=1)
        mask = torch.arange(length, device=input_ids.device) < lengths[:, None]
    if position_ids is None:
        position_ids = transformer.position_ids[:, :length]
    training = transformer.training
    tensor = transformer.embeddings(input_ids) + transformer.position_embeddings(position_ids)
    if langs is not None and transformer.use_lang_emb and transformer.n_langs > 1:
        tensor = tensor + transformer.lang_embeddings(langs)
    tensor = F.dropout(transformer.layer_norm_emb(tensor), transformer.dropout, training)
    keep = None
    if mask is not None:
        keep = mask.unsqueeze(-1).to(tensor.dtype)
        tensor = tensor * keep
    bias = None
    if mask is not None and not causal:  # HF's fill value, never -inf: a row with no key is no NaN
        dtype = compute_dtype(tensor)
        bias = torch.zeros(bs, 1, 1, length, dtype=dtype, device=input_ids.device)
        bias.masked_fill_(~mask.view(bs, 1, 1, length), torch.finfo(dtype).min)
    layer = layer_function(compiled)
    if compiled and mask is not None:  # TLM and XNLI: rows and lengths vary; one graph for all of them
        for t, dims in ((tensor, (0, 1)), (keep, (0, 1)), (bias, (0, 3))):
            for dim in dims if t is not None else ():
                torch._dynamo.maybe_mark_dynamic(t, dim)
    settings = (
        transformer.n_heads,
        transformer.dropout if training else 0.0,
        transformer.attention_dropout if training else 0.0,
        causal,
        transformer.ffns[0].act is not F.relu,  # gelu_activation
        transformer.layer_norm_emb.eps,  # every layer norm of the model has the config's eps
    )
    for i in range(transformer.n_layers):
        tensor = layer(tensor, bias, keep, _layer_weights(transformer, i), *settings)
    return tensor


# ----------------------------------------------------------------------------- output layer


def softmax_cross_entropy_grad(
    logits: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """For one chunk of logits [rows, vocab] (any dtype; the arithmetic is fp32): the summed
    cross-entropy against `labels`, and its gradient with respect to the logits (softmax minus the
    one-hot label), in the logits' dtype.

    Eager, it works in place on one fp32 copy (fp32 logits themselves: the least memory). Compiled (`chunk_loss_function`),
    it is one reduction pass and one pointwise pass over the low-precision logits: the one-hot is a
    comparison with the column index, not a scatter, so the subtraction and the cast fuse into the
    pass that makes the softmax. Eagerly, those were 12 passes over a [targets, vocab] fp32 tensor:
    on an H200, 4.6 ms of a 47.5 ms step of the paper's model at a 95k vocabulary."""
    x = logits.float()
    norm = torch.logsumexp(x, dim=1, keepdim=True)
    total = (norm.squeeze(1) - x.gather(1, labels[:, None]).squeeze(1)).sum()
    if torch.compiler.is_compiling():
        columns = torch.arange(x.size(1), device=x.device)
        probs = (x - norm).exp()
        grad = torch.where(columns[None, :] == labels[:, None], probs - 1.0, probs)
    else:
        grad = x.sub_(norm).exp_()  # fp32 logits are overwritten: the caller never reads them again
        grad.scatter_add_(1, labels[:, None], grad.new_full((labels.numel(), 1), -1.0))
    return total, grad.to(logits.dtype)


_compiled_chunk_loss: Callable[..., tuple[torch.Tensor, torch.Tensor]] | None = None


def chunk_loss_function(compiled: bool) -> Callable[..., tuple[torch.Tensor, torch.Tensor]]:
    """`softmax_cross_entropy_grad`, or its ``torch.compile`` (made once per process; the number of
    rows varies from step to step, so it is compiled for any)."""
    global _compiled_chunk_loss
    if not compiled:
        return softmax_cross_entropy_grad
    if _compiled_chunk_loss is None:
        _compiled_chunk_loss = torch.compile(softmax_cross_entropy_grad, fullgraph=True, dynamic=True)
    return _compiled_chunk_loss


class _TargetCrossEntropy(torch.autograd.Function):
    """Cross-entropy of linear(hidden, weight, bias) against labels, summed and divided by `divisor`.

    Matrix products run in `dtype` (bf16 under autocast; the fp32 master weight is cast once a
    step, as autocast does), the softmax in fp32 (`softmax_cross_entropy_grad`). The gradients are
    made in the forward, chunk by chunk, and kept unscaled; the backward multiplies them by
    grad_loss / divisor, a device tensor: one pass, and no host read of either."""

    @staticmethod
    def forward(
        ctx, hidden, weight, bias, labels, divisor, chunk_rows: int, dtype: torch.dtype, compiled: bool
    ):
        need_hidden, need_weight, need_bias = ctx.needs_input_grad[:3]
        chunk_loss = chunk_loss_function(compiled)
        with torch.autocast(hidden.device.type, enabled=False):
            w, b = weight.to(dtype), bias.to(dtype)
            grad_hidden = torch.empty_like(hidden) if need_hidden else None
            grad_weight = grad_bias = None  # fp32 sums over the chunks, made by the first
            total = hidden.new_zeros((), dtype=torch.float32)
            for start in range(0, hidden.size(0), chunk_rows):
                h = hidden[start : start + chunk_rows].to(dtype)
                y = labels[start : start + chunk_rows]
                logits = torch.addmm(b, h, w.t())
                if not (need_hidden or need_weight or need_bias):
                    x = logits.float()
                    total += (torch.logsumexp(x, dim=1) - x.gather(1, y[:, None]).squeeze(1)).sum()
                    continue
                loss, grad_logits = chunk_loss(logits, y)
                total += loss
                if need_hidden:
                    grad_hidden[start : start + chunk_rows] = torch.mm(grad_logits, w)
                if need_weight:
                    part = torch.mm(grad_logits.t(), h)
                    grad_weight = part.float() if grad_weight is None else grad_weight.add_(part)
                if need_bias:
                    part = grad_logits.sum(0, dtype=torch.float32)
                    grad_bias = part if grad_bias is None else grad_bias.add_(part)
            if need_weight and grad_weight is None:  # no target in this batch
                grad_weight = torch.zeros_like(weight)
            if need_bias and grad_bias is None:
                grad_bias = torch.zeros_like(bias)
        ctx.save_for_backward(
            grad_hidden, grad_weight, grad_bias, divisor if torch.is_tensor(divisor) else None
        )
        ctx.divisor = None if torch.is_tensor(divisor) else divisor
        return total / divisor

    @staticmethod
    def backward(ctx, grad_loss):
        *grads, divisor = ctx.saved_tensors
        scale = grad_loss / (divisor if divisor is not None else ctx.divisor)
        return *(None if g is None else g * scale.to(g.dtype) for g in grads), None, None, None, None, None


def target_cross_entropy(
    hidden: torch.Tensor,
    proj: nn.Linear,
    labels: torch.Tensor,
    divisor: torch.Tensor | int | None = None,
    compiled: bool = False,
) -> torch.Tensor:
    """Cross-entropy of `proj(hidden)` against `labels` ([targets, dim], [targets]): the mean, or the
    sum divided by `divisor` (a count or a device tensor). At most `TARGET_CHUNK_ELEMENTS` logits
    exist at a time; `compiled`: the softmax and its gradient in one compiled pass per chunk."""
    chunk_rows = max(1, TARGET_CHUNK_ELEMENTS // proj.out_features)
    if divisor is None:
        divisor = labels.numel()
    elif torch.is_tensor(divisor):
        divisor = divisor.to(device=hidden.device, dtype=torch.float32)
    return _TargetCrossEntropy.apply(
        hidden, proj.weight, proj.bias, labels, divisor, chunk_rows, compute_dtype(hidden), compiled
    )


def gather_targets(
    hidden: torch.Tensor, labels: torch.Tensor, target_index: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(hidden rows, labels) of the target positions: through `target_index` (flat positions from
    `prepare_batch`) with no host sync, else through a boolean index (which waits for the count)."""
    if target_index is None:
        targets = labels != IGNORE_INDEX
        return hidden[targets], labels[targets]
    return hidden.flatten(0, 1).index_select(0, target_index), labels.flatten().index_select(0, target_index)
