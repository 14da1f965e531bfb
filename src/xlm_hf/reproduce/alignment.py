"""How cross-lingual is an encoder? Translation retrieval on row-aligned XNLI sentences, and <unk> rates.

XNLI's 15 dev files are translations of each other row by row, so the distinct premises of
English and of language xx are two lists of the same sentences. Each sentence is encoded on its
own (``</s> S </s>``, ``langs`` = its language), mean-pooled over its tokens, and each English
sentence retrieves its nearest xx sentence by cosine similarity. Top-1 accuracy is the share
that finds their own translation: about 1/N for an encoder that knows nothing, high for one whose
languages share a space. It needs no fine-tuning, so it measures what pretraining alone gave;
the <unk> share per language checks that the vocabulary covers every script before anything is
blamed on the model.
"""

from __future__ import annotations

from typing import Any

import torch

from xlm_hf.data.collators import pad_examples
from xlm_hf.text import xlm_encode


def distinct_premises(dev: dict[str, list[dict[str, Any]]], limit: int) -> dict[str, list[str]]:
    """Per language, the premises of rows whose English premise is new, in order (up to `limit`).

    Rows are aligned across languages, so the same row indices give every language the same
    sentences, in the same order.
    """
    sizes = {lang: len(rows) for lang, rows in dev.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"XNLI dev sets are not row-aligned translations: rows per language {sizes}")
    seen: set[str] = set()
    rows: list[int] = []
    for i, row in enumerate(dev["en"]):
        if row["premise"] not in seen:
            seen.add(row["premise"])
            rows.append(i)
        if len(rows) == limit:
            break
    return {lang: [dev_rows[i]["premise"] for i in rows] for lang, dev_rows in dev.items()}


@torch.no_grad()
def sentence_vectors(
    model: Any, tokenizer: Any, sentences: list[str], lang: str, max_len: int = 128, batch_size: int = 64
) -> torch.Tensor:
    """Mean of the last hidden states over each sentence's tokens (padding excluded), L2-normalised."""
    model.eval()
    max_len = min(max_len, model.config.max_position_embeddings)
    eos, lang_id = tokenizer.sep_token_id, tokenizer.lang2id[lang]
    examples = [
        {"input_ids": [eos, *xlm_encode(tokenizer, s, lang)[: max_len - 2], eos], "langs": lang_id}
        for s in sentences
    ]
    out = []
    for start in range(0, len(examples), batch_size):
        batch = pad_examples(examples[start : start + batch_size], tokenizer.pad_token_id)
        hidden = model(
            input_ids=batch["input_ids"], langs=batch["langs"], attention_mask=batch["attention_mask"]
        )[0]
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        out.append(torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1))
    return torch.cat(out)


def retrieval_accuracy(source: torch.Tensor, target: torch.Tensor) -> float:
    """Share of rows i of `source` whose most similar row of `target` is row i."""
    return float((source @ target.T).argmax(dim=1).eq(torch.arange(len(source))).float().mean())


def unk_rate(tokenizer: Any, sentences: list[str], lang: str) -> float:
    ids = [i for s in sentences for i in xlm_encode(tokenizer, s, lang)]
    return sum(i == tokenizer.unk_token_id for i in ids) / max(len(ids), 1)


def probe(model: Any, tokenizer: Any, premises: dict[str, list[str]], pivot: str = "en") -> dict[str, Any]:
    """``{"retrieval": {xx: top-1 pivot→xx}, "unk_rate": {lang: share}, "sentences": N}``."""
    vectors = {lang: sentence_vectors(model, tokenizer, sents, lang) for lang, sents in premises.items()}
    return {
        "sentences": len(premises[pivot]),
        "retrieval": {
            lang: retrieval_accuracy(vectors[pivot], vec) for lang, vec in vectors.items() if lang != pivot
        },
        "unk_rate": {lang: unk_rate(tokenizer, sents, lang) for lang, sents in premises.items()},
    }
