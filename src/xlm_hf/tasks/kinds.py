"""What each task type does, behind one interface: read its files, name its labels, encode its
rows the XLM way, batch them, build its model, and score predictions per language.

`registry.kind(type)` returns the `Kind` of a ``task.type``; the modules that implement them
(`classification`, `tagging`, `qa`) are imported only when their type is asked for.
"""

from __future__ import annotations

from typing import Any

from xlm_hf.config.sections import TaskConfig


class Kind:
    """One task type. Rows are dicts; every row carries its ``lang``."""

    name = ""
    main_metric = ""  # the metric of the tables and of model selection
    model_class = ""  # the transformers class of the fine-tuned model
    roles: tuple[str, ...] = ()  # the table columns a file of this type has

    def read_file(self, path: str, config: TaskConfig) -> list[dict]:
        raise NotImplementedError

    def hub_rows(self, dataset: Any, config: TaskConfig, where: str) -> list[dict]:
        raise NotImplementedError

    def labels(self, config: TaskConfig, train_rows: list[dict]) -> list[str] | None:
        """Label (or tag) names in id order; None for a type without labels."""
        return None

    def encode(
        self,
        rows: list[dict],
        tokenizer: Any,
        config: TaskConfig,
        labels: list[str] | None,
        training: bool = False,
    ) -> Any:
        """The features of `rows` (a `datasets.Dataset`): the training set as it comes, an evaluation
        set sorted by length where the type allows (less padding per batch, the same scores)."""
        raise NotImplementedError

    def collator(self, tokenizer: Any, model: Any, fused: bool) -> Any:
        raise NotImplementedError

    def model_settings(self, labels: list[str] | None) -> dict[str, Any]:
        """Config values of the new model: its labels by name, in id order (for classifiers)."""
        labels = list(labels or ())
        return {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {n: i for i, n in enumerate(labels)},
        }

    def score(
        self, output: Any, dataset: Any, rows: list[dict], labels: list[str] | None, config: TaskConfig
    ) -> dict[str, Any]:
        """Metrics of one language from the evaluation loop's `output` (predictions, label ids)
        over the encoded `dataset` of `rows`; fractions in [0, 1]; `main_metric` among them."""
        raise NotImplementedError
