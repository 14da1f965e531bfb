"""Target-only LM loss vs HF's full-logits loss: time per training step and the logits' size.

Baseline: `XLMWithLMHeadModel(labels=...)`, which projects every position to the vocabulary
([batch, seq, vocab] logits). Ours: `XLMWithTargetedLMHead`, which projects the ~15 % MLM targets
only, as the original XLM does. Same weights, same batch, same loss (checked here too).
"""

from __future__ import annotations

import time

import torch
from transformers import XLMConfig, XLMWithLMHeadModel

from bench.rows import make_row
from xlm_hf.data.collators import MaskingCollator
from xlm_hf.model.heads import XLMWithTargetedLMHead
from xlm_hf.text.special_tokens import IGNORE_INDEX


def _step_seconds(model, batch, forward, repeats: int) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        loss = forward(model, batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[len(times[1:]) // 2]  # median, first step (allocation) excluded


def run(quick: bool = False) -> list[dict]:
    torch.manual_seed(0)
    rows = []
    # 95k: see bench.pretraining (the 512-dim model, whole training steps)
    sizes = [(25000, 256, 4, 128, 16 if quick else 32)]
    for vocab, dim, layers, seq, batch_size in sizes:
        config = XLMConfig(
            vocab_size=vocab,
            emb_dim=dim,
            n_layers=layers,
            n_heads=8,
            n_langs=15,
            max_position_embeddings=512,
            dropout=0.0,
            attention_dropout=0.0,
        )
        ours = XLMWithTargetedLMHead(config)
        theirs = XLMWithLMHeadModel(config)
        theirs.load_state_dict(ours.state_dict())
        ids = torch.randint(14, vocab, (batch_size, seq))
        batch = MaskingCollator(vocab_size=vocab)(
            [{"input_ids": r, "langs": 0} for r in ids], torch.Generator().manual_seed(0)
        )
        inputs = {k: batch[k] for k in ("input_ids", "langs", "labels")}
        with torch.no_grad():
            loss_ours = ours(**inputs).loss.item()
            loss_theirs = theirs(**inputs).loss.item()
        repeats = 2 if quick else 3
        t_theirs, t_ours = [], []
        for _ in range(2):  # alternate: background load hits both alike
            t_theirs.append(_step_seconds(theirs, inputs, lambda m, b: m(**b).loss, repeats))
            t_ours.append(_step_seconds(ours, inputs, lambda m, b: m(**b).loss, repeats))
        n_targets = int((batch["labels"] != IGNORE_INDEX).sum())
        label = f"vocab {vocab // 1000}k, emb {dim}, {layers} layers, batch {batch_size}x{seq}"
        extra = {"threads": torch.get_num_threads(), "loss_diff": abs(loss_ours - loss_theirs)}
        rows.append(
            make_row(
                "lm_head",
                f"AdamW step time, {label}",
                "ms",
                1000 * min(t_ours),
                1000 * min(t_theirs),
                extra=extra,
            )
        )
        rows.append(
            make_row(
                "lm_head",
                f"logits size (fp32), {label}",
                "MB",
                n_targets * vocab * 4 / 2**20,
                batch_size * seq * vocab * 4 / 2**20,
                extra={"targets": n_targets},
            )
        )
    return rows
