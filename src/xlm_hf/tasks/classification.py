"""Sentence and sentence-pair classification (sentiment, PAWS-X, XNLI): the XLM way.

Inputs follow XLM: ``</s> A </s>`` or ``</s> A </s> B </s>`` (``</s>`` also opens the sequence),
continuous positions, no ``token_type_ids`` (HF's `XLMModel` would add *word* embeddings of them),
and ``langs`` set to the example's language: the training language while training, the evaluated
one at evaluation. Labels are mapped by name; accuracy and the confusion matrix come from the
bundled `evaluate` metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from xlm_hf.config.sections import TaskConfig
from xlm_hf.data.collators import pad_examples
from xlm_hf.errors import ConfigError, DataError
from xlm_hf.model.fused_training import LENGTH_BUCKET, bucket_length, pad_to_length
from xlm_hf.tasks.files import read_table
from xlm_hf.tasks.kinds import Kind
from xlm_hf.text.special_tokens import EOS

if TYPE_CHECKING:  # imported where used: the GPU bench trains without `datasets` and Moses installed
    from datasets import Dataset


def pair_input(
    a: list[int], b: list[int], lang_id: int, max_len: int, eos: int = EOS
) -> dict[str, list[int]]:
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


def single_input(a: list[int], lang_id: int, max_len: int, eos: int = EOS) -> dict[str, list[int]]:
    """``</s> A </s>`` truncated to `max_len`."""
    ids = [eos, *a[: max_len - 2], eos]
    return {"input_ids": ids, "langs": [lang_id] * len(ids)}


def _encode_batch(batch: dict[str, list], tokenizer: Any, max_len: int) -> dict[str, list]:
    from xlm_hf.text.pretokenize import xlm_encode

    out: dict[str, list] = {"input_ids": [], "langs": [], "labels": [], "length": []}
    pairs = batch.get("text_pair") or [None] * len(batch["text"])
    for text, text_pair, label, lang in zip(batch["text"], pairs, batch["label"], batch["lang"]):
        a = xlm_encode(tokenizer, text, lang)
        if text_pair is None:
            example = single_input(a, tokenizer.lang2id[lang], max_len, eos=tokenizer.sep_token_id)
        else:
            b = xlm_encode(tokenizer, text_pair, lang)
            example = pair_input(a, b, tokenizer.lang2id[lang], max_len, eos=tokenizer.sep_token_id)
        out["input_ids"].append(example["input_ids"])
        out["langs"].append(example["langs"])
        out["labels"].append(label)
        out["length"].append(len(example["input_ids"]))
    return out


def encode_rows(
    rows: list[dict], tokenizer: Any, max_len: int, num_proc: int = 1, sort_by_length: bool = False
) -> Dataset:
    """Rows with text (/ text_pair) / label (an id) / lang → ``input_ids``, ``langs``, ``labels``, ``length``.

    Evaluation sets are sorted by length (`sort_by_length`): batches of similar lengths carry
    little padding, which makes a 15-language evaluation several times cheaper; accuracy and
    confusion matrices do not depend on the order. (`train_sampling_strategy: group_by_length`
    does the same for training, using the ``length`` column.)
    """
    from datasets import Dataset

    keys = ("text", "text_pair", "label", "lang") if "text_pair" in rows[0] else ("text", "label", "lang")
    ds = Dataset.from_list([{k: row[k] for k in keys} for row in rows])
    ds = ds.map(
        _encode_batch,
        batched=True,
        batch_size=256,
        num_proc=num_proc if num_proc > 1 and len(ds) >= 1000 else None,
        remove_columns=ds.column_names,
        fn_kwargs={"tokenizer": tokenizer, "max_len": max_len},
        desc="tokenise",
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


class Classification(Kind):
    """``classification`` (one text) and ``pair-classification`` (two)."""

    main_metric = "accuracy"
    model_class = "XLMForSequenceClassification"

    def __init__(self, name: str, roles: tuple[str, ...]) -> None:
        self.name, self.roles = name, roles

    def read_file(self, path: str, config: TaskConfig) -> list[dict]:
        return read_table(path, self.roles, config.columns)

    def hub_rows(self, dataset: Any, config: TaskConfig, where: str) -> list[dict]:
        columns = dataset[:]  # column-wise: one Arrow conversion
        names = {role: _hub_column(list(columns), role, config, where) for role in self.roles}
        label_names = getattr(dataset.features.get(names["label"]), "names", None)
        rows = []
        for index in range(len(columns[names["label"]])):
            row = {role: columns[names[role]][index] for role in self.roles}
            value = row["label"]
            if label_names is not None and isinstance(value, int):
                if value < 0:  # unlabeled
                    continue
                value = label_names[value]
            rows.append({**row, "label": str(value), "where": f"{where} row {index}"})
        return rows

    def labels(self, config: TaskConfig, train_rows: list[dict]) -> list[str]:
        if config.labels is not None:
            return list(config.labels)
        found = sorted({str(row["label"]).strip() for row in train_rows})
        if len(found) < 2:
            raise ConfigError(f"task.labels: the training data have {len(found)} label(s); give task.labels")
        return found

    def encode(self, rows, tokenizer, config, labels, training=False):
        return encode_rows(
            [{**row, "label": label_index(row, labels)} for row in rows],
            tokenizer,
            config.max_seq_length,
            config.num_proc,
            sort_by_length=not training,
        )

    def collator(self, tokenizer: Any, model: Any, fused: bool) -> ClassificationCollator:
        return ClassificationCollator(
            pad_token_id=tokenizer.pad_token_id,
            length_bucket=LENGTH_BUCKET if fused else 1,  # few compiled shapes on the fused path
            max_length=model.config.max_position_embeddings,
        )

    def score(self, output, dataset, rows, labels, config) -> dict[str, Any]:
        from xlm_hf.xnli.metric import load_xnli_metric

        scores = load_xnli_metric().compute(
            predictions=np.asarray(output.predictions).argmax(-1),
            references=output.label_ids,
            num_labels=len(labels),
        )
        return {"accuracy": scores["accuracy"], "confusion_matrix": scores["confusion_matrix"]}


def label_index(row: dict, labels: list[str]) -> int:
    """The id of a row's label: ids stay (the XNLI loaders map names already), names are looked up."""
    value = row["label"]
    if isinstance(value, int):
        return value
    name = str(value).strip()
    if name not in labels:
        raise DataError(
            f"{row.get('where', 'a row')}: unknown label {value!r} (expected {', '.join(labels)})"
        )
    return labels.index(name)


def _hub_column(available: list[str], role: str, config: TaskConfig, where: str) -> str:
    from xlm_hf.tasks.files import DEFAULT_COLUMNS

    names = (config.columns[role],) if role in config.columns else DEFAULT_COLUMNS[role]
    found = next((n for n in names if n in available), None)
    if found is None:
        raise DataError(
            f"{where}: no column for the {role} ({'/'.join(names)}; columns: {', '.join(available)})"
        )
    return found


SINGLE = Classification("classification", ("text", "label"))
PAIR = Classification("pair-classification", ("text", "text_pair", "label"))
