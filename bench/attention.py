"""Attention kernel: ``model.attention: sdpa`` vs HF's XLM attention (``eager``), one training step.

The pretraining model of `bench.pretraining` (emb 512, 6 layers, 8 heads, batch 8 x 256, vocab 8k,
target-only loss): forward + backward with the same weights and batch, the two attention
implementations alternating (medians of 4 rounds after a warm-up round). With attention dropout,
PyTorch's CPU flash kernel does not apply and scaled_dot_product_attention falls back to its
plain math, so both dropout settings are shown.
"""

from __future__ import annotations

import time

import torch
from transformers import XLMConfig

from bench.rows import make_row
from xlm_hf.modeling import XLMWithTargetedLMHead, set_attention


def _step(model, inputs) -> tuple[float, float]:
    model.zero_grad(set_to_none=True)
    wall, cpu = time.perf_counter(), time.process_time()
    model(**inputs).loss.backward()
    return time.perf_counter() - wall, time.process_time() - cpu


def _median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def run(quick: bool = False) -> list[dict]:
    torch.manual_seed(0)
    batch, seq, vocab = (4, 256, 8000) if quick else (8, 256, 8000)
    ids = torch.randint(14, vocab, (batch, seq))
    labels = torch.full_like(ids, -100)
    targets = torch.rand(ids.shape) < 0.15
    labels[targets] = ids[targets]
    inputs = {"input_ids": ids, "langs": torch.zeros_like(ids), "attention_mask": torch.ones_like(ids)}
    rows = []
    for attention_dropout in (0.0, 0.1):
        config = XLMConfig(
            vocab_size=vocab,
            emb_dim=512,
            n_layers=6,
            n_heads=8,
            n_langs=4,
            max_position_embeddings=512,
            dropout=0.1,
            attention_dropout=attention_dropout,
        )
        model = XLMWithTargetedLMHead(config)
        with torch.no_grad():  # same function: compare the losses without dropout
            model.eval()
            losses = {
                a: set_attention(model, a)(**inputs, labels=labels).loss.item() for a in ("eager", "sdpa")
            }
        model.train()
        times: dict[str, list[tuple[float, float]]] = {"eager": [], "sdpa": []}
        for i in range(3 if quick else 5):
            for name in ("eager", "sdpa") if i % 2 else ("sdpa", "eager"):
                set_attention(model, name)
                result = _step(model, {**inputs, "labels": labels})
                if i:  # the first round allocates
                    times[name].append(result)
        wall = {name: _median([t[0] for t in values]) for name, values in times.items()}
        cpu = {name: _median([t[1] for t in values]) for name, values in times.items()}
        # back-to-back pairs: each round's sdpa / eager, which slow changes of the load cancel in
        paired = _median([s[0] / e[0] for s, e in zip(times["sdpa"], times["eager"])])
        rows.append(
            make_row(
                "attention",
                f"fwd+bwd step, sdpa vs eager attention, attention dropout {attention_dropout:g}",
                "ms",
                1000 * wall["sdpa"],
                1000 * wall["eager"],
                extra={
                    "paired_ratio": round(paired, 3),
                    "cpu_seconds": {k: round(v, 3) for k, v in cpu.items()},
                    "cpu_ratio": round(cpu["sdpa"] / cpu["eager"], 3),
                    "loss_diff": abs(losses["sdpa"] - losses["eager"]),
                    "batch": f"{batch}x{seq}",
                    "threads": torch.get_num_threads(),
                },
            )
        )
    return rows
