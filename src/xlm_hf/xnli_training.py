"""XNLI inputs, per-language evaluation during training, and the results files.

Inputs follow XLM: ``</s> A </s> B </s>`` (``</s>`` also opens the sequence), continuous positions,
no ``token_type_ids`` (HF's `XLMModel` would add *word* embeddings of them), and ``langs`` set to
the example's language: the training language while training, the evaluated one at evaluation.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from transformers import Trainer

from xlm_hf.data.collators import pad_examples
from xlm_hf.fused_training import bucket_length, pad_to_length

if TYPE_CHECKING:  # imported where used: the GPU bench trains without `datasets` and Moses installed
    from datasets import Dataset


def pair_input(a: list[int], b: list[int], lang_id: int, max_len: int, eos: int = 1) -> dict[str, list[int]]:
    """``</s> A </s> B </s>`` truncated longest-first so that the whole fits `max_len`.

    >>> pair_input([7, 8, 9], [10], lang_id=4, max_len=6)
    {'input_ids': [1, 7, 8, 1, 10, 1], 'langs': [4, 4, 4, 4, 4, 4]}
    """
    a, b = list(a), list(b)
    while len(a) + len(b) + 3 > max_len:
        if len(a) >= len(b):
            a.pop()
        else:
            b.pop()
    ids = [eos, *a, eos, *b, eos]
    return {"input_ids": ids, "langs": [lang_id] * len(ids)}


def _encode_batch(batch: dict[str, list], tokenizer: Any, max_len: int) -> dict[str, list]:
    from xlm_hf.text import xlm_encode

    out: dict[str, list] = {"input_ids": [], "langs": [], "labels": [], "length": []}
    for premise, hypothesis, label, lang in zip(
        batch["premise"], batch["hypothesis"], batch["label"], batch["lang"]
    ):
        a, b = xlm_encode(tokenizer, premise, lang), xlm_encode(tokenizer, hypothesis, lang)
        example = pair_input(a, b, tokenizer.lang2id[lang], max_len, eos=tokenizer.sep_token_id)
        out["input_ids"].append(example["input_ids"])
        out["langs"].append(example["langs"])
        out["labels"].append(label)
        out["length"].append(len(example["input_ids"]))
    return out


def encode_rows(
    rows: list[dict], tokenizer: Any, max_len: int, num_proc: int = 1, sort_by_length: bool = False
) -> Dataset:
    """Rows with premise / hypothesis / label / lang → ``input_ids``, ``langs``, ``labels``, ``length``.

    Evaluation sets are sorted by length (`sort_by_length`): batches of similar lengths carry
    little padding, which makes the 15-language evaluation several times cheaper; accuracy and
    confusion matrices do not depend on the order. (`train_sampling_strategy: group_by_length`
    does the same for training, using the ``length`` column.)
    """
    from datasets import Dataset

    ds = Dataset.from_list(rows)
    ds = ds.map(
        _encode_batch,
        batched=True,
        batch_size=256,
        num_proc=num_proc if num_proc > 1 and len(ds) >= 1000 else None,
        remove_columns=ds.column_names,
        fn_kwargs={"tokenizer": tokenizer, "max_len": max_len},
        desc="tokenise XNLI",
    )
    return ds.sort("length") if sort_by_length else ds


@dataclass
class ClassificationCollator:
    """Right-pads ``input_ids`` / ``langs`` and stacks ``labels``; with `length_bucket`, pads the
    length up to a multiple of it (at most `max_length`): the fused GPU path compiles few shapes.

    >>> ClassificationCollator()([{"input_ids": [1, 7, 1], "langs": [4, 4, 4], "labels": 2},
    ...                           {"input_ids": [1, 1], "langs": [0, 0], "labels": 0}])["input_ids"].tolist()
    [[1, 7, 1], [1, 1, 2]]
    """

    pad_token_id: int = 2
    length_bucket: int = 1
    max_length: int | None = None

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = pad_examples(examples, self.pad_token_id)
        if self.length_bucket > 1:
            length = bucket_length(batch["input_ids"].size(1), self.length_bucket, self.max_length)
            batch = pad_to_length(batch, length, self.pad_token_id)
        batch["labels"] = torch.tensor([int(e["labels"]) for e in examples], dtype=torch.long)
        return batch


def accuracy_metrics(eval_pred) -> dict[str, float]:
    predictions = np.asarray(eval_pred.predictions).argmax(-1)
    return {"accuracy": float((predictions == np.asarray(eval_pred.label_ids)).mean())}


class XnliTrainer(Trainer):
    """Evaluates every dev language at each evaluation and adds their average (``eval_avg_accuracy``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("compute_metrics", accuracy_metrics)
        super().__init__(*args, **kwargs)

    def evaluate(
        self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"
    ) -> dict[str, float]:
        datasets = eval_dataset if eval_dataset is not None else self.eval_dataset
        if not isinstance(datasets, dict):
            return super().evaluate(datasets, ignore_keys, metric_key_prefix)
        metrics: dict[str, float] = {}
        for lang, ds in datasets.items():
            metrics.update(super().evaluate(ds, ignore_keys, f"{metric_key_prefix}_{lang}"))
        accuracies = [metrics[f"{metric_key_prefix}_{lang}_accuracy"] for lang in datasets]
        metrics[f"{metric_key_prefix}_avg_accuracy"] = float(np.mean(accuracies))
        self.log({f"{metric_key_prefix}_avg_accuracy": metrics[f"{metric_key_prefix}_avg_accuracy"]})
        return metrics


def final_report(trainer: Trainer, splits: dict[str, dict[str, Dataset]]) -> dict[str, Any]:
    """Accuracy per language (+ avg) and confusion matrices for each split, scored by the `evaluate` metric."""
    from xlm_hf.metrics import load_xnli_metric

    metric = load_xnli_metric()
    out: dict[str, Any] = {"confusion_matrices": {}}
    for split, per_lang in splits.items():
        if not per_lang:
            continue
        table: dict[str, float] = {}
        for lang, ds in per_lang.items():
            prediction = trainer.predict(ds, metric_key_prefix=f"{split}_{lang}")
            scores = metric.compute(
                predictions=prediction.predictions.argmax(-1), references=prediction.label_ids
            )
            table[lang] = scores["accuracy"]
            out["confusion_matrices"].setdefault(split, {})[lang] = scores["confusion_matrix"]
        table["avg"] = float(np.mean(list(table.values())))
        out[split] = table
    return out


def markdown_table(results: dict[str, Any]) -> str:
    """The per-language accuracy table (percent), one row per split."""
    splits = [s for s in ("dev", "test") if s in results]
    langs = [lang for lang in results[splits[0]] if lang != "avg"] if splits else []
    header = "| split | " + " | ".join(langs + ["avg"]) + " |"
    rule = "|---|" + "---|" * (len(langs) + 1)
    rows = [
        f"| {split} | "
        + " | ".join(f"{100 * results[split].get(lang, float('nan')):.1f}" for lang in langs + ["avg"])
        + " |"
        for split in splits
    ]
    title = (
        f"XNLI accuracy (%), {results.get('mode', '')} — trained on {', '.join(results['train_languages'])}, "
        f"model selected by {results['selected_by']}"
    )
    return "\n".join([title, "", header, rule, *rows]) + "\n"


def write_results(results: dict[str, Any], output_dir: str, write: bool = True) -> dict[str, Any]:
    """``xnli_results.json`` and ``xnli_results.md`` (atomically, when `write`: the main process);
    returns the results with the table, on every rank."""
    table = markdown_table(results)
    if not write:
        return {**results, "table": table}
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("xnli_results.json", json.dumps(results, indent=2) + "\n"),
        ("xnli_results.md", table),
    ):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)
    return {**results, "table": table}
