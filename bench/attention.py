"""Training-step switches, one forward + backward each: ``model.attention: sdpa`` against
xlm_hf's own attention (both in the `cpu_kernels` path that CPU runs take), and
``model.training_kernels: xlm_hf`` against ``hf`` (HF's XLM forward, the same loss on targets).

The pretraining model of `bench.pretraining` (emb 512, 6 layers, 8 heads, batch 8 x 256, vocab 8k,
target-only loss), the same weights and batch, the two variants alternating (medians of 4 rounds
after a warm-up round). With attention dropout, PyTorch's CPU flash kernel does not apply and
scaled_dot_product_attention falls back to plain math, so both dropout settings are shown.
"""

from __future__ import annotations

import time

import torch
from transformers import XLMConfig

from bench.rows import make_row
from xlm_hf.model.heads import XLMWithTargetedLMHead, set_attention
from xlm_hf.text.special_tokens import IGNORE_INDEX


def _step(model, inputs) -> tuple[float, float]:
    model.zero_grad(set_to_none=True)
    wall, cpu = time.perf_counter(), time.process_time()
    model(**inputs).loss.backward()
    return time.perf_counter() - wall, time.process_time() - cpu


def _median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _compare(config: XLMConfig, inputs: dict, labels: torch.Tensor, variants: dict, rounds: int) -> dict:
    """Median wall / CPU seconds of a training step per variant (name -> (attention, kernels)),
    the variants alternating, and the loss of each without dropout (the same function)."""
    model = XLMWithTargetedLMHead(config)

    def use(name: str):
        attention, kernels = variants[name]
        model.training_kernels = kernels
        return set_attention(model, attention)

    with torch.no_grad():
        model.eval()
        losses = {name: use(name)(**inputs, labels=labels).loss.item() for name in variants}
    model.train()
    names = list(variants)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for i in range(rounds):
        for name in names if i % 2 else names[::-1]:
            result = _step(use(name), {**inputs, "labels": labels})
            if i:  # the first round allocates
                times[name].append(result)
    return {"times": times, "losses": losses}


def run(quick: bool = False) -> list[dict]:
    torch.manual_seed(0)
    batch, seq, vocab = (4, 256, 8000) if quick else (8, 256, 8000)
    ids = torch.randint(14, vocab, (batch, seq))
    labels = torch.full_like(ids, IGNORE_INDEX)
    targets = torch.rand(ids.shape) < 0.15
    labels[targets] = ids[targets]
    inputs = {"input_ids": ids, "langs": torch.zeros_like(ids), "attention_mask": torch.ones_like(ids)}
    comparisons = [  # (figure, attention dropout, ours, baseline); a variant: (attention, kernels)
        ("sdpa vs xlm_hf attention, attention dropout 0", 0.0, ("sdpa", "auto"), ("eager", "auto")),
        ("sdpa vs xlm_hf attention, attention dropout 0.1", 0.1, ("sdpa", "auto"), ("eager", "auto")),
        ("training_kernels xlm_hf vs hf, dropout 0.1", 0.1, ("eager", "xlm_hf"), ("eager", "hf")),
    ]
    rows = []
    for figure, attention_dropout, ours, baseline in comparisons:
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
        result = _compare(config, inputs, labels, {"ours": ours, "baseline": baseline}, 3 if quick else 5)
        times = result["times"]
        wall = {name: _median([t[0] for t in values]) for name, values in times.items()}
        cpu = {name: _median([t[1] for t in values]) for name, values in times.items()}
        # back-to-back pairs: each round's ours / baseline, which slow changes of the load cancel in
        paired = _median([o[0] / b[0] for o, b in zip(times["ours"], times["baseline"])])
        rows.append(
            make_row(
                "attention",
                f"fwd+bwd step, {figure}",
                "ms",
                1000 * wall["ours"],
                1000 * wall["baseline"],
                extra={
                    "paired_ratio": round(paired, 3),
                    "cpu_seconds": {k: round(v, 3) for k, v in cpu.items()},
                    "cpu_ratio": round(cpu["ours"] / cpu["baseline"], 3),
                    "loss_diff": abs(result["losses"]["ours"] - result["losses"]["baseline"]),
                    "batch": f"{batch}x{seq}",
                    "threads": torch.get_num_threads(),
                },
            )
        )
    return rows
