"""How cross-lingual is an encoder? Translation retrieval on row-aligned XNLI sentences, and <unk> rates.

XNLI's 15 dev files are translations of each other row by row, so the distinct premises of
English and of language xx are two lists of the same sentences (the twin study uses its held-out
lines and their cipher instead). Each sentence is encoded on its own (``</s> S </s>``, ``langs``
= its language), mean-pooled over its tokens at every layer, and each English sentence retrieves
its nearest xx sentence by cosine similarity (and each xx sentence its English one). Top-1 accuracy is the share
that finds their own translation: about 1/N for an encoder that knows nothing, high for one whose
languages share a space. It needs no fine-tuning, so it measures what pretraining alone gave;
the <unk> share per language checks that the vocabulary covers every script before anything is
blamed on the model.
"""

from __future__ import annotations

from typing import Any

import torch

from xlm_hf.data.collators import pad_examples
from xlm_hf.text.pretokenize import xlm_encode


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
    """Per layer (embeddings first, last layer last), the mean of the hidden states over each
    sentence's tokens (padding excluded), L2-normalised: ``[n_layers + 1, len(sentences), dim]``."""
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
            input_ids=batch["input_ids"],
            langs=batch["langs"],
            attention_mask=batch["attention_mask"],
            output_hidden_states=True,
        ).hidden_states
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden[0].dtype)
        layers = torch.stack([(h * mask).sum(1) / mask.sum(1) for h in hidden])
        out.append(torch.nn.functional.normalize(layers, dim=-1))
    return torch.cat(out, dim=1)


def retrieval_accuracy(source: torch.Tensor, target: torch.Tensor) -> float:
    """Share of rows i of `source` whose most similar row of `target` is row i."""
    return float((source @ target.T).argmax(dim=1).eq(torch.arange(len(source))).float().mean())


def unk_rate(tokenizer: Any, sentences: list[str], lang: str) -> float:
    ids = [i for s in sentences for i in xlm_encode(tokenizer, s, lang)]
    return sum(i == tokenizer.unk_token_id for i in ids) / max(len(ids), 1)


def probe(model: Any, tokenizer: Any, sentences: dict[str, list[str]], pivot: str = "en") -> dict[str, Any]:
    """Retrieval between the pivot and every other language, both ways, at every layer.

    ``retrieval`` / ``retrieval_to_pivot``: top-1 pivot→xx / xx→pivot with the last layer;
    ``by_layer``: both directions for each layer (0 = embeddings); ``best_layer``: the layer
    whose mean of the two directions is highest, with its figures; ``unk_rate`` per language.
    """
    vectors = {lang: sentence_vectors(model, tokenizer, sents, lang) for lang, sents in sentences.items()}
    by_layer = {
        lang: {
            "from_pivot": [retrieval_accuracy(p, v) for p, v in zip(vectors[pivot], vec, strict=True)],
            "to_pivot": [retrieval_accuracy(v, p) for p, v in zip(vectors[pivot], vec, strict=True)],
        }
        for lang, vec in vectors.items()
        if lang != pivot
    }
    best = {}
    for lang, both in by_layer.items():
        means = [(a + b) / 2 for a, b in zip(both["from_pivot"], both["to_pivot"], strict=True)]
        layer = max(range(len(means)), key=means.__getitem__)
        best[lang] = {
            "layer": layer,
            "from_pivot": both["from_pivot"][layer],
            "to_pivot": both["to_pivot"][layer],
        }
    return {
        "sentences": len(sentences[pivot]),
        "pivot": pivot,
        "retrieval": {lang: both["from_pivot"][-1] for lang, both in by_layer.items()},
        "retrieval_to_pivot": {lang: both["to_pivot"][-1] for lang, both in by_layer.items()},
        "by_layer": by_layer,
        "best_layer": best,
        "unk_rate": {lang: unk_rate(tokenizer, sents, lang) for lang, sents in sentences.items()},
    }
