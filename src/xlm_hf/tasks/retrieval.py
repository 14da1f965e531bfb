"""Sentence retrieval (Tatoeba, BUCC-style): how close an encoder puts translations, with no training.

Each sentence is encoded on its own (``</s> S </s>``, ``langs`` = its language), mean-pooled over
its tokens at every layer and L2-normalised; each sentence of one side retrieves its nearest
neighbour (cosine) on the other side. Top-1 accuracy is the share that finds their own
translation: about 1/N for an encoder that knows nothing. Both directions are measured at every
layer (0 = the embeddings); the task reports the best layer (the highest mean of the two
directions) beside the last one, or the recipe's ``task.layer``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from xlm_hf.data.collators import pad_examples
from xlm_hf.text.pretokenize import xlm_encode

logger = logging.getLogger(__name__)


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


def layer_accuracies(pivot: torch.Tensor, other: torch.Tensor) -> dict[str, list[float]]:
    """Top-1 at every layer, pivot → other (``from_pivot``) and other → pivot (``to_pivot``), from
    two ``[layers, n, dim]`` stacks of row-aligned sentences."""
    return {
        "from_pivot": [retrieval_accuracy(p, v) for p, v in zip(pivot, other, strict=True)],
        "to_pivot": [retrieval_accuracy(v, p) for p, v in zip(pivot, other, strict=True)],
    }


def best_layer(both: dict[str, list[float]]) -> dict[str, Any]:
    """The layer whose mean of the two directions is highest, with its figures."""
    means = [(a + b) / 2 for a, b in zip(both["from_pivot"], both["to_pivot"], strict=True)]
    layer = max(range(len(means)), key=means.__getitem__)
    return {"layer": layer, "from_pivot": both["from_pivot"][layer], "to_pivot": both["to_pivot"][layer]}


def language_scores(both: dict[str, list[float]], layer: int | None) -> dict[str, Any]:
    """A language's figures: at the recipe's layer, else at the best one; the last layer beside it.
    ``accuracy``, the task's main metric, is the mean of the two directions at that layer."""
    chosen = (
        best_layer(both)
        if layer is None
        else {
            "layer": layer,
            "from_pivot": both["from_pivot"][layer],
            "to_pivot": both["to_pivot"][layer],
        }
    )
    return {
        "accuracy": (chosen["from_pivot"] + chosen["to_pivot"]) / 2,
        "layer": chosen["layer"],
        "to_pivot": chosen["to_pivot"],
        "from_pivot": chosen["from_pivot"],
        "last_layer_to_pivot": both["to_pivot"][-1],
        "last_layer_from_pivot": both["from_pivot"][-1],
    }


def run_retrieval(config: Any, args: Any, results_name: str = "task_results") -> dict[str, Any]:
    """The probe of a ``retrieval`` task over every language: its results files, its table."""
    from transformers import XLMConfig, XLMModel, set_seed

    from xlm_hf.errors import ConfigError
    from xlm_hf.model.loading import load_weights
    from xlm_hf.tasks.files import expand, read_aligned
    from xlm_hf.tasks.model import load_checked_tokenizer, model_key
    from xlm_hf.tasks.trainer import write_results

    pivot = config.train_language
    others = [lang for lang in config.languages if lang != pivot]
    tokenizer = load_checked_tokenizer(config, [*config.languages, pivot])
    pairs = {}
    for lang in others:
        files = [expand(config.eval, lang=lang, side=side) for side in (lang, pivot)]
        missing = [f for f in files if not Path(f).is_file()]
        if missing:
            raise ConfigError(f"task.eval: no file {missing[0]}")
        pairs[lang] = read_aligned(*files)[: config.max_eval_examples]
    set_seed(args.seed)
    if config.init == "random":
        model = XLMModel(XLMConfig.from_pretrained(config.model_name_or_path))
    else:
        model = load_weights(XLMModel, config.model_name_or_path, model_key(config))
    if config.layer is not None and config.layer > model.config.n_layers:
        raise ConfigError(f"task.layer: the model has layers 0-{model.config.n_layers}")
    scores, sizes = {}, {}
    for lang, rows in pairs.items():
        logger.info("retrieval %s-%s: %d pairs", lang, pivot, len(rows))
        source = sentence_vectors(model, tokenizer, [r["source"] for r in rows], lang, config.max_seq_length)
        target = sentence_vectors(model, tokenizer, [r["target"] for r in rows], pivot, config.max_seq_length)
        scores[lang] = {**language_scores(layer_accuracies(target, source), config.layer), "pairs": len(rows)}
        sizes[lang] = len(rows)
    main = {lang: s["accuracy"] for lang, s in scores.items()}
    results = {
        "task": config.name,
        "type": "retrieval",
        "metric": "accuracy",
        "train_languages": [],
        "selected_by": "-",
        "mode": "no training",
        "model": config.model_name_or_path,
        "init": config.init,
        "pivot": pivot,
        "layer": config.layer if config.layer is not None else "best",
        "dev": {**main, "avg": sum(main.values()) / len(main)},
        "metrics": {"dev": scores},
    }
    return write_results(results, args.output_dir, results_name, write=args.should_save)
