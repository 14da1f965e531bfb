"""The task trainer: every dev language evaluated at each evaluation, and the results files.

Metrics follow the one scheme of the toolkit, ``eval_<metric>.<name>`` (``eval_accuracy.en``,
``eval_f1.avg``; pretraining logs ``eval_mlm_ppl.en``): `Trainer` needs the ``eval_`` prefix to
pick the best model, and the name after the dot is a language (or ``avg``, the mean of the task's
main metric over the languages).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from transformers import Trainer

from xlm_hf.atomic_files import write_json, write_text
from xlm_hf.markdown import table
from xlm_hf.training.checkpoints import CleanSaves
from xlm_hf.training.engines import EngineMixin

if TYPE_CHECKING:  # the GPU bench trains without `datasets` installed
    from datasets import Dataset

#: how a task's name appears in titles, where it is not the name itself
TITLES = {"xnli": "XNLI"}


def _mean_of_scorable(values: list[float]) -> float:
    """The mean over the languages that have a score: a language without gold answers (NaN) is
    left out, not counted as 0; NaN when none has one."""
    scored = [v for v in values if not np.isnan(v)]
    return float(np.mean(scored)) if scored else float("nan")


def accuracy_metrics(eval_pred) -> dict[str, float]:
    predictions = np.asarray(eval_pred.predictions).argmax(-1)
    return {"accuracy": float((predictions == np.asarray(eval_pred.label_ids)).mean())}


class TaskTrainer(EngineMixin, CleanSaves, Trainer):
    """Evaluates every dev language at each evaluation and adds the average of the main metric
    (``eval_<main>.avg``). `scorer(language, evaluation output)` gives a language's metrics where
    predictions need more than labels to score (entities, answer spans); by default, accuracy."""

    def __init__(
        self,
        *args,
        scorer: Callable[[str, Any], dict[str, Any]] | None = None,
        main_metric: str = "accuracy",
        **kwargs,
    ):
        if scorer is None:
            kwargs.setdefault("compute_metrics", accuracy_metrics)
        super().__init__(*args, **kwargs)
        self.scorer, self.main_metric = scorer, main_metric

    def evaluate(
        self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"
    ) -> dict[str, float]:
        """``eval_<metric>.<lang>`` for every language's dev set, ``eval_<main>.avg``, logged once."""
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
            if self.scorer is not None:
                scores = self.scorer(lang, output)
                metrics.update(
                    {
                        f"{metric_key_prefix}_{k}.{lang}": v
                        for k, v in scores.items()
                        if isinstance(v, float | int)
                    }
                )
        main = [metrics[f"{metric_key_prefix}_{self.main_metric}.{lang}"] for lang in datasets]
        metrics[f"{metric_key_prefix}_{self.main_metric}.avg"] = _mean_of_scorable(main)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def build_task_trainer(
    model: Any, args: Any, tokenizer: Any, data: Any, kind: Any, config: Any
) -> TaskTrainer:
    """The trainer over `data` (`tasks.datasets.TaskData`): the kind's collator (on the fused path,
    batches padded to a few bucketed lengths: few compiled shapes) and scorer; sharded parameters
    keep HF's forward."""
    from xlm_hf.tasks.model import is_fused
    from xlm_hf.training.trainer import keep_auto_kernels_off_sharded_parameters

    scorer = None
    if kind.main_metric != "accuracy":  # accuracy needs only the labels: `accuracy_metrics`

        def scorer(lang: str, output: Any) -> dict[str, Any]:
            return kind.score(output, data.dev[lang], data.rows["dev"][lang], data.labels, config)

    trainer = TaskTrainer(
        model=model,
        args=args,
        train_dataset=data.train,
        eval_dataset=data.dev,
        data_collator=kind.collator(tokenizer, model, is_fused(model, args)),
        processing_class=tokenizer,
        scorer=scorer,
        main_metric=kind.main_metric,
    )
    keep_auto_kernels_off_sharded_parameters(trainer, f"{config.SECTION}.training_kernels")
    return trainer


def final_report(trainer: Trainer, kind: Any, data: Any, config: Any) -> dict[str, Any]:
    """Per split: the main metric per language (+ avg), every metric per language, and for
    classifiers the confusion matrices (rows: gold label, in the order of ``labels``)."""
    out: dict[str, Any] = {"metrics": {}}
    for split in ("dev", "test"):
        per_lang: dict[str, Dataset] = getattr(data, split)
        if not per_lang:
            continue
        main: dict[str, float] = {}
        for lang, ds in per_lang.items():
            prediction = trainer.predict(ds, metric_key_prefix=f"{split}_{lang}")
            scores = kind.score(prediction, ds, data.rows[split][lang], data.labels, config)
            main[lang] = scores[kind.main_metric]
            if "confusion_matrix" in scores:
                out.setdefault("confusion_matrices", {}).setdefault(split, {})[lang] = scores.pop(
                    "confusion_matrix"
                )
            out["metrics"].setdefault(split, {})[lang] = scores
        main["avg"] = _mean_of_scorable(list(main.values()))
        out[split] = main
    return out


def markdown_table(results: dict[str, Any]) -> str:
    """The per-language table of the main metric (percent), one row per split."""
    splits = [s for s in ("dev", "test") if s in results]
    cols = [lang for lang in results[splits[0]] if lang != "avg"] + ["avg"] if splits else ["avg"]
    rows = [[split, *(f"{100 * results[split].get(c, float('nan')):.1f}" for c in cols)] for split in splits]
    name = TITLES.get(results["task"], results["task"])
    if results.get("type") == "retrieval":
        title = (
            f"{name} top-1 {results['metric']} (%), both ways with {results['pivot']}, "
            f"layer {results['layer']} (no training)"
        )
    else:
        title = (
            f"{name} {results['metric']} (%), {results.get('mode', '')} — trained on "
            f"{', '.join(results['train_languages'])}, model selected by {results['selected_by']}"
        )
    return "\n".join([title, "", *table(["split", *cols], rows)]) + "\n"


def write_results(results: dict[str, Any], output_dir: str, stem: str, write: bool = True) -> dict[str, Any]:
    """``<stem>.json`` and ``<stem>.md`` (atomically, when `write`: the main process); returns the
    results with the table, on every rank."""
    text = markdown_table(results)
    if write:
        write_json(Path(output_dir) / f"{stem}.json", results)
        write_text(Path(output_dir) / f"{stem}.md", text)
    return {**results, "table": text}
