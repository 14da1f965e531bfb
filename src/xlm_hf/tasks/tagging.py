"""Token classification (PAN-X / WikiANN named entities, or any ``token<TAB>tag`` data): the XLM way.

A sentence is ``</s> w1 w2 ... </s>`` with each word encoded alone (`words.encode_words`, the
language's pre-processing); a word's tag is the label of its first subword, the other subwords and
the specials are ignored (-100). Predictions come back per word from the first subwords; a word
the encoding left without a subword, or one past the sequence length, is predicted ``O``. Scored by
entity-level F1 with `seqeval` (its default, CoNLL-style chunking).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from xlm_hf.config.sections import TaskConfig
from xlm_hf.data.collators import pad_examples
from xlm_hf.errors import ConfigError, DataError
from xlm_hf.tasks.files import read_conll
from xlm_hf.tasks.kinds import Kind
from xlm_hf.tasks.words import encode_words
from xlm_hf.text.special_tokens import IGNORE_INDEX

logger = logging.getLogger(__name__)

OUTSIDE = "O"


def tag_ids(row: dict, labels: list[str]) -> list[int]:
    """The ids of a sentence's tags, by name; an unknown tag names its sentence's first line."""
    unknown = [tag for tag in row["tags"] if tag not in labels]
    if unknown:
        raise DataError(
            f"{row.get('where', 'a sentence')}: unknown tag {unknown[0]!r} (known: {', '.join(labels)})"
        )
    return [labels.index(tag) for tag in row["tags"]]


def sentence_input(pieces: list[list[int]], tags: list[int], lang_id: int, max_len: int, eos: int) -> dict:
    """``</s> subwords </s>`` with the tag on each word's first subword, -100 elsewhere, and the
    word index of each first subword (-1 elsewhere); words that do not fit are left out.

    >>> sentence_input([[7, 8], [], [9]], [1, 0, 2], lang_id=3, max_len=16, eos=1)["labels"]
    [-100, 1, -100, 2, -100]
    """
    ids, labels, word_index = [eos], [IGNORE_INDEX], [-1]
    for index, (word, tag) in enumerate(zip(pieces, tags, strict=True)):
        if not word:  # the pre-processing removed it: predicted O
            continue
        if len(ids) + len(word) + 1 > max_len:
            break
        ids += word
        labels += [tag] + [IGNORE_INDEX] * (len(word) - 1)
        word_index += [index] + [-1] * (len(word) - 1)
    ids.append(eos)
    labels.append(IGNORE_INDEX)
    word_index.append(-1)
    return {"input_ids": ids, "langs": [lang_id] * len(ids), "labels": labels, "word_index": word_index}


def predicted_tags(logits: np.ndarray, word_index: list[int], n_words: int, labels: list[str]) -> list[str]:
    """A sentence's tags from the logits of its first subwords; ``O`` for words without one."""
    tags = [OUTSIDE] * n_words
    best = np.asarray(logits)[: len(word_index)].argmax(-1)
    for position, index in enumerate(word_index):
        if index >= 0:
            tags[index] = labels[int(best[position])]
    return tags


@dataclass
class TaggingCollator:
    """Right-pads ``input_ids`` / ``langs`` and the per-token ``labels`` (with -100)."""

    pad_token_id: int = 2

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = pad_examples(examples, self.pad_token_id)
        labels = torch.full(batch["input_ids"].shape, IGNORE_INDEX, dtype=torch.long)
        for i, example in enumerate(examples):
            labels[i, : len(example["labels"])] = torch.as_tensor(example["labels"], dtype=torch.long)
        batch["labels"] = labels
        return batch


class Tagging(Kind):
    name = "token-classification"
    main_metric = "f1"
    model_class = "XLMForTokenClassification"

    def read_file(self, path: str, config: TaskConfig) -> list[dict]:
        return read_conll(path)

    def hub_rows(self, dataset: Any, config: TaskConfig, where: str) -> list[dict]:
        columns = dataset[:]
        words_key = next((k for k in ("tokens", "words") if k in columns), None)
        tags_key = next((k for k in ("ner_tags", "tags", "labels") if k in columns), None)
        if words_key is None or tags_key is None:
            raise DataError(f"{where}: no tokens / ner_tags columns (columns: {', '.join(columns)})")
        names = getattr(getattr(dataset.features[tags_key], "feature", None), "names", None)
        rows = []
        for index, (words, tags) in enumerate(zip(columns[words_key], columns[tags_key], strict=True)):
            tags = [names[t] if names is not None and isinstance(t, int) else str(t) for t in tags]
            rows.append({"words": list(words), "tags": tags, "where": f"{where} row {index}"})
        return rows

    def labels(self, config: TaskConfig, train_rows: list[dict]) -> list[str]:
        if config.labels is not None:
            return list(config.labels)
        found = {tag for row in train_rows for tag in row["tags"]}
        if len(found) < 2:
            raise ConfigError(f"task.labels: the training data have {len(found)} tag(s); give task.labels")
        return sorted(found, key=lambda tag: (tag != OUTSIDE, tag[2:], tag))  # O, then by entity type

    def encode(self, rows, tokenizer, config, labels, training=False):
        from datasets import Dataset

        cache: dict = {}
        features, cut = [], 0
        for index, row in enumerate(rows):
            pieces = encode_words(tokenizer, row["words"], row["lang"], cache)
            feature = sentence_input(
                pieces,
                tag_ids(row, labels),
                tokenizer.lang2id[row["lang"]],
                config.max_seq_length,
                tokenizer.sep_token_id,
            )
            cut += sum(1 for i in set(range(len(pieces))) - set(feature["word_index"]) if pieces[i])
            features.append(
                {**feature, "row": index, "n_words": len(row["words"]), "length": len(feature["input_ids"])}
            )
        if cut:
            logger.info("%d words beyond max_seq_length %d: predicted O", cut, config.max_seq_length)
        ds = Dataset.from_list(features)
        return ds if training else ds.sort("length")

    def collator(self, tokenizer: Any, model: Any, fused: bool) -> TaggingCollator:
        return TaggingCollator(pad_token_id=tokenizer.pad_token_id)

    def score(self, output, dataset, rows, labels, config) -> dict[str, Any]:
        from seqeval.metrics import f1_score, precision_score, recall_score

        gold, predicted = [], []
        for logits, feature_row, word_index, n_words in zip(
            output.predictions, dataset["row"], dataset["word_index"], dataset["n_words"], strict=True
        ):
            gold.append(rows[feature_row]["tags"])
            predicted.append(predicted_tags(logits, word_index, n_words, labels))
        return {
            "f1": float(f1_score(gold, predicted)),
            "precision": float(precision_score(gold, predicted)),
            "recall": float(recall_score(gold, predicted)),
        }


TAGGING = Tagging()
