"""The preflight, on the device, before the timed runs."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import Any

from bench.gpu_training.runs import TINY
from bench.gpu_training.synthetic import model_config, stream_blocks, tlm_pairs
from xlm_hf.text.special_tokens import MASK, PAD


def preflight(device: str) -> dict[str, Any]:
    """Before the timed runs, on the device: the fused path's loss and gradients against HF's (fp32,
    dropout off, a tiny model: streams, causal, padded TLM; compiled too), whether its attention
    layouts reach the fused kernels meant for them, and the host syncs of one fused step."""
    import torch
    from torch.nn import functional as F

    from xlm_hf.data.collators import CausalCollator, MaskingCollator
    from xlm_hf.data.sources import tlm_example
    from xlm_hf.model.fused_training import prepare_batch
    from xlm_hf.model.heads import XLMWithTargetedLMHead

    config = model_config(TINY)
    config.dropout = config.attention_dropout = 0.0
    torch.manual_seed(0)
    with torch.device(device):
        model = XLMWithTargetedLMHead(config).train()
    gen = torch.Generator().manual_seed(0)
    masking = MaskingCollator(
        vocab_size=TINY.vocab, mask_token_id=MASK, pad_token_id=PAD, mlm_probability=0.3
    )
    rows = [{"input_ids": row, "langs": 0} for row in torch.from_numpy(stream_blocks(TINY, 4))]
    firsts, seconds = tlm_pairs(TINY, 4)
    batches = {
        "stream": (masking(rows, gen), False),
        "causal": (CausalCollator()(rows), True),
        "padded": (masking([tlm_example(a, b, 0, 0) for a, b in zip(firsts, seconds)], gen), False),
    }

    def step(kernels: str, compiled: bool, batch: dict, causal: bool):
        model.training_kernels, model.compile_encoder = kernels, compiled
        inputs = prepare_batch(batch, PAD, 512) if kernels == "fused" else batch
        inputs = {k: v.to(device) if torch.is_tensor(v) else v for k, v in inputs.items()}
        model.zero_grad(set_to_none=True)
        loss = model(**inputs, causal=causal, num_items_in_batch=torch.tensor(9, device=device)).loss
        loss.backward()
        return loss.detach(), torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    out: dict[str, Any] = {"device": device}
    checks = [(name, False) for name in batches] + [("stream", True), ("padded", True)]
    for name, compiled in checks:
        try:
            hf, ours = step("hf", False, *batches[name]), step("fused", compiled, *batches[name])
            out[f"{name}{' compiled' if compiled else ''}: loss, gradient rel. diff vs HF"] = [
                float((ours[0] - hf[0]).abs() / hf[0].abs()),
                float((ours[1] - hf[1]).norm() / hf[1].norm()),
            ]
        except Exception as err:  # a report, not a stop: the timed runs still run
            out[f"{name}{' compiled' if compiled else ''}"] = f"failed: {type(err).__name__}: {err}"[:300]
    if device != "cuda":
        return out
    from torch.nn.attention import SDPBackend, sdpa_kernel

    base = torch.randn(8, 256, 3, 8, 128, device=device, dtype=torch.bfloat16, requires_grad=True)
    q, k, v = base.permute(2, 0, 3, 1, 4).unbind(0)  # the layer's layout: views of one qkv product
    bias = torch.zeros(8, 1, 1, 256, device=device, dtype=torch.bfloat16)
    bias[..., 200:] = torch.finfo(torch.bfloat16).min
    kernels = {
        "flash, no mask": (SDPBackend.FLASH_ATTENTION, {}),
        "flash, is_causal": (SDPBackend.FLASH_ATTENTION, {"is_causal": True}),
        "memory-efficient, key-padding bias": (SDPBackend.EFFICIENT_ATTENTION, {"attn_mask": bias}),
    }
    for label, (backend, kwargs) in kernels.items():
        try:
            with sdpa_kernel([backend]):
                F.scaled_dot_product_attention(q, k, v, dropout_p=0.1, **kwargs).sum().backward()
            out[f"kernel {label}"] = "ok"
        except RuntimeError as err:
            out[f"kernel {label}"] = f"unavailable: {str(err).splitlines()[0][:200]}"
    step("fused", False, *batches["padded"])  # warmed up: handles and caches exist
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            step("fused", False, *batches["padded"])
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [f"{Path(w.filename).name}:{w.lineno}" for w in seen if "synchroniz" in str(w.message)]
    out["host syncs in one fused step (padded batch, eager)"] = Counter(syncs).most_common(8)
    return out
