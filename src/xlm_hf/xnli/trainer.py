"""The XNLI trainer: every dev language evaluated at each evaluation, and the results files.

Metrics follow the one scheme of the toolkit, ``eval_<metric>.<name>`` (``eval_accuracy.en``,
``eval_accuracy.avg``; pretraining logs ``eval_mlm_ppl.en``): `Trainer` needs the ``eval_`` prefix
to pick the best model, and the name after the dot is a language or a pair.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from transformers import Trainer

from xlm_hf.atomic_files import write_json, write_text
from xlm_hf.markdown import table

if TYPE_CHECKING:  # the GPU bench trains without `datasets` installed
    from datasets import Dataset


def accuracy_metrics(eval_pred) -> dict[str, float]:
    predictions = np.asarray(eval_pred.predictions).argmax(-1)
    return {"accuracy": float((predictions == np.asarray(eval_pred.label_ids)).mean())}


class XnliTrainer(Trainer):
    """Evaluates every dev language at each evaluation and adds their average (``eval_accuracy.avg``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("compute_metrics", accuracy_metrics)
        super().__init__(*args, **kwargs)

    def evaluate(
        self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"
    ) -> dict[str, float]:
        """``eval_<metric>.<lang>`` for every language's dev set, ``eval_accuracy.avg``, logged once."""
        datasets = eval_dataset if eval_dataset is not None else self.eval_dataset
        if not isinstance(datasets, dict):
            return super().evaluate(datasets, ignore_keys, metric_key_prefix)
        metrics: dict[str, float] = {}
        for lang, ds in datasets.items():
            output = self.evaluation_loop(
                self.get_eval_dataloader(ds),
                description=f"evaluate {lang}",
                ignore_keys=ignore_keys,
                metric_key_prefix=metric_key_prefix,
            )
            metrics.update({f"{key}.{lang}": value for key, value in output.metrics.items()})
        accuracies = [metrics[f"{metric_key_prefix}_accuracy.{lang}"] for lang in datasets]
        metrics[f"{metric_key_prefix}_accuracy.avg"] = float(np.mean(accuracies))
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def build_xnli_trainer(model: Any, args: Any, tokenizer: Any, data: Any) -> XnliTrainer:
    """The trainer over `data` (`xnli.datasets.XnliData`): on the fused path, batches padded to a
    few bucketed lengths (few compiled shapes); sharded parameters keep HF's forward."""
    from xlm_hf.model.fused_training import LENGTH_BUCKET
    from xlm_hf.training.trainer import keep_auto_kernels_off_sharded_parameters
    from xlm_hf.xnli.inputs import ClassificationCollator

    fused = model.training_path(args.device) == "fused"
    trainer = XnliTrainer(
        model=model,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.dev,
        data_collator=ClassificationCollator(
            pad_token_id=tokenizer.pad_token_id,
            length_bucket=LENGTH_BUCKET if fused else 1,
            max_length=model.config.max_position_embeddings,
        ),
        processing_class=tokenizer,
    )
    keep_auto_kernels_off_sharded_parameters(trainer)
    return trainer


def final_report(trainer: Trainer, splits: dict[str, dict[str, Dataset]]) -> dict[str, Any]:
    """Accuracy per language (+ avg) and confusion matrices for each split, scored by the `evaluate` metric."""
    from xlm_hf.xnli.metric import load_xnli_metric

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
    cols = [lang for lang in results[splits[0]] if lang != "avg"] + ["avg"] if splits else ["avg"]
    rows = [[split, *(f"{100 * results[split].get(c, float('nan')):.1f}" for c in cols)] for split in splits]
    title = (
        f"XNLI accuracy (%), {results.get('mode', '')} — trained on {', '.join(results['train_languages'])}, "
        f"model selected by {results['selected_by']}"
    )
    return "\n".join([title, "", *table(["split", *cols], rows)]) + "\n"


def write_results(results: dict[str, Any], output_dir: str, write: bool = True) -> dict[str, Any]:
    """``xnli_results.json`` and ``xnli_results.md`` (atomically, when `write`: the main process);
    returns the results with the table, on every rank."""
    table = markdown_table(results)
    if not write:
        return {**results, "table": table}
    write_json(Path(output_dir) / "xnli_results.json", results)
    write_text(Path(output_dir) / "xnli_results.md", table)
    return {**results, "table": table}
