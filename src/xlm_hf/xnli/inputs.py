"""XNLI inputs the XLM way: premise and hypothesis as one sequence, padded batches.

Inputs follow XLM: ``</s> A </s> B </s>`` (``</s>`` also opens the sequence), continuous positions,
no ``token_type_ids`` (HF's `XLMModel` would add *word* embeddings of them), and ``langs`` set to
the example's language: the training language while training, the evaluated one at evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from xlm_hf.data.collators import pad_examples
from xlm_hf.model.fused_training import bucket_length, pad_to_length
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


def _encode_batch(batch: dict[str, list], tokenizer: Any, max_len: int) -> dict[str, list]:
    from xlm_hf.text.pretokenize import xlm_encode

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
