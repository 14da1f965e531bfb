"""How cross-lingual is an encoder? Translation retrieval on row-aligned XNLI sentences, and <unk> rates
(the retrieval itself is `xlm_hf.tasks.retrieval`'s).

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

from xlm_hf.tasks.retrieval import best_layer, layer_accuracies, sentence_vectors, unk_rate


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


def probe(model: Any, tokenizer: Any, sentences: dict[str, list[str]], pivot: str = "en") -> dict[str, Any]:
    """Retrieval between the pivot and every other language, both ways, at every layer.

    ``retrieval`` / ``retrieval_to_pivot``: top-1 pivot→xx / xx→pivot with the last layer;
    ``by_layer``: both directions for each layer (0 = embeddings); ``best_layer``: the layer
    whose mean of the two directions is highest, with its figures; ``unk_rate`` per language.
    """
    vectors = {lang: sentence_vectors(model, tokenizer, sents, lang) for lang, sents in sentences.items()}
    by_layer = {lang: layer_accuracies(vectors[pivot], vec) for lang, vec in vectors.items() if lang != pivot}
    return {
        "sentences": len(sentences[pivot]),
        "pivot": pivot,
        "retrieval": {lang: both["from_pivot"][-1] for lang, both in by_layer.items()},
        "retrieval_to_pivot": {lang: both["to_pivot"][-1] for lang, both in by_layer.items()},
        "by_layer": by_layer,
        "best_layer": {lang: best_layer(both) for lang, both in by_layer.items()},
        "unk_rate": {lang: unk_rate(tokenizer, sents, lang) for lang, sents in sentences.items()},
    }
