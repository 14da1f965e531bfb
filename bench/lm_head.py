"""Target-only LM loss vs HF's full-logits loss: time per training step and the logits' size.

Baseline: `XLMWithLMHeadModel(labels=...)`, which projects every position to the vocabulary
([batch, seq, vocab] logits). Ours: `XLMWithTargetedLMHead`, which projects the ~15 % MLM targets
only, as the original XLM does. Same weights, same batch, same loss (checked here too).
"""

from __future__ import annotations

import time

import torch
from transformers import XLMConfig, XLMWithLMHeadModel

from xlm_hf.data.collators import MaskingCollator
from xlm_hf.modeling import XLMWithTargetedLMHead


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


def run(quick: bool = False) -> str:
    torch.manual_seed(0)
    rows = []
    sizes = [(25000, 256, 4, 128, 32)] if quick else [(25000, 256, 4, 128, 32), (95000, 256, 4, 128, 32)]
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
        repeats = 3 if quick else 6
        t_theirs = _step_seconds(theirs, inputs, lambda m, b: m(**b).loss, repeats)
        t_ours = _step_seconds(ours, inputs, lambda m, b: m(**b).loss, repeats)
        n_targets = int((batch["labels"] != -100).sum())
        mb_theirs = batch_size * seq * vocab * 4 / 2**20
        mb_ours = n_targets * vocab * 4 / 2**20
        rows.append(
            f"| {vocab // 1000}k | {batch_size}x{seq} | {t_theirs * 1000:.0f} | {t_ours * 1000:.0f} | "
            f"{t_theirs / t_ours:.2f}x | {mb_theirs:.0f} | {mb_ours:.0f} | {abs(loss_ours - loss_theirs):.1e} |"
        )
    header = (
        "LM head: HF full logits (baseline) vs target-only (xlm-hf), one AdamW training step on CPU\n"
        f"({torch.get_num_threads()} threads; emb 256, 4 layers; logits MB = fp32 size of the logits tensor)\n\n"
        "| vocab | batch | baseline ms | xlm-hf ms | speed-up | baseline logits MB | xlm-hf logits MB | |loss diff| |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    return "\n".join([header, *rows])
