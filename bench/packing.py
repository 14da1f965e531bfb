"""Stream packing vs per-sentence padding: the share of positions that carry tokens.

Baseline: one sentence per row, padded to the longest in a batch of 32 (what a plain
`DataCollatorForLanguageModeling` over sentences does). Ours: XLM streams of 256 tokens.
Measured on the embedded sample, tokenised by a sample vocabulary learned in the same run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from bench.rows import make_row
from xlm_hf import SAMPLE_DIR
from xlm_hf.config.sections import VocabConfig
from xlm_hf.data.sources import pack_stream, packing_efficiency
from xlm_hf.text.pretokenize import xlm_encode
from xlm_hf.vocab import build_vocab


def run(quick: bool = False) -> list[dict]:
    from transformers import XLMTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        out = build_vocab(
            VocabConfig(
                languages=["en", "fr"],
                data_dir=str(SAMPLE_DIR),
                output_dir=f"{tmp}/v",
                vocab_size=3000,
                sentences_per_language=1000,
            )
        )
        tokenizer = XLMTokenizer.from_pretrained(str(out))
        rows = []
        for lang in ("en", "fr"):
            lines = Path(SAMPLE_DIR / "mono" / f"{lang}.txt").read_text(encoding="utf-8").splitlines()
            sentences = [xlm_encode(tokenizer, line, lang) for line in lines[: 100 if quick else None]]
            lengths = np.array([len(s) + 2 for s in sentences])  # </s> s </s>
            padded = sum(32 * lengths[i : i + 32].max() for i in range(0, len(lengths), 32))
            baseline = lengths.sum() / padded
            ours = packing_efficiency(pack_stream(sentences, 256))
            rows.append(
                make_row(
                    "packing",
                    f"non-pad share of positions, {lang} ({len(sentences)} sentences)",
                    "fraction",
                    ours,
                    baseline,
                    extra={
                        "baseline": "one sentence per row, padded per batch of 32",
                        "ours": "256-token streams",
                    },
                )
            )
    return rows
