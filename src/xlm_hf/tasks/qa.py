"""Extractive question answering (SQuAD v1.1 files: TyDiQA-GoldP, MLQA, XQuAD): the XLM way.

Inputs follow XLM as classification does: ``</s> question </s> context window </s>``, no
``token_type_ids``, ``langs`` the example's language on every position, the question cut to
``max_query_length`` subwords.

`XLMTokenizer` has no offsets, so the context is encoded word by word (`xlm_hf.tasks.words`): a
subword's place in the context is its word's character span, and answers are runs of whole words.

Long contexts are cut into overlapping windows over the context's *subwords*: a window holds
``max_seq_length - len(question) - 3`` of them and starts ``doc_stride`` subwords after the previous
one, as in the original BERT SQuAD code (HF's fast-tokenizer ``stride`` is the overlap instead).

Training targets are the first subword of the answer's first word and the last subword of its last
word in each window holding the whole answer; a window without it points both at position 0 (the
opening ``</s>``: "not in this window"). Predictions take, over every window of a question, the
best span of ``n_best`` start and end positions inside the context, at most ``max_answer_length``
*words* long (`words.word_spans`' words: punctuation marks and Han characters count one each), so
that the cap does not move with the vocabulary: with a small BPE vocabulary a 30-subword cap (HF's
unit) excludes answers a large one keeps. The answer is the context from its first word's start to
its last word's end.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from xlm_hf.config.sections import TaskConfig
from xlm_hf.data.collators import pad_examples
from xlm_hf.errors import DataError
from xlm_hf.tasks.files import read_squad
from xlm_hf.tasks.kinds import Kind
from xlm_hf.tasks.squad_metric import squad_scores
from xlm_hf.tasks.words import encode_words, word_spans

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

#: the SQuAD columns a hub dataset must have
HUB_COLUMNS = ("id", "question", "context", "answers")


# ----------------------------------------------------------------------------- words and answers


@dataclass
class ContextWords:
    """A context cut into words and encoded word by word."""

    spans: list[tuple[int, int]]  # each word's character span
    ids: list[int]  # the context's subwords, word after word
    word_of: list[int]  # the word of each subword
    first: list[int]  # each word's first subword (a word without subwords: the next word's)
    end: list[int]  # one past each word's last subword (a word without subwords: the previous word's)


def context_words(tokenizer: Any, context: str, lang: str, cache: dict | None = None) -> ContextWords:
    spans = word_spans(context)
    words = ContextWords(spans, [], [], [], [])
    for index, ids in enumerate(encode_words(tokenizer, [context[s:e] for s, e in spans], lang, cache)):
        words.first.append(len(words.ids))
        words.ids += ids
        words.word_of += [index] * len(ids)
        words.end.append(len(words.ids))
    return words


def answer_words(spans: list[tuple[int, int]], text: str, start: int) -> tuple[int, int] | None:
    """The first and last word that the answer's characters touch (None: it touches none, e.g. only
    spaces). An answer edge inside a word takes the whole word."""
    end = start + len(text)
    first = bisect.bisect_right([e for _, e in spans], start)  # first word ending after the start
    last = bisect.bisect_left([s for s, _ in spans], end) - 1  # last word starting before the end
    return (first, last) if first <= last else None


def words_text(context: str, spans: list[tuple[int, int]], first: int, last: int) -> str:
    """The context from word `first`'s start to word `last`'s end: what a predicted span reads."""
    return context[spans[first][0] : spans[last][1]]


def answer_subwords(words: ContextWords, text: str, start: int) -> tuple[int, int] | None:
    """The answer's first and last subword in the context (None: its words have no subwords)."""
    found = answer_words(words.spans, text, start)
    if found is None:
        return None
    first, last = words.first[found[0]], words.end[found[1]] - 1
    return (first, last) if first <= last else None


# ----------------------------------------------------------------------------- features


def window_starts(n: int, window: int, stride: int) -> list[int]:
    """Where the windows over `n` context subwords start (BERT's `doc_stride`): every `stride`
    subwords until one reaches the end; a step never exceeds the window, so no subword is skipped.

    >>> window_starts(10, window=6, stride=3)
    [0, 3, 6]
    """
    starts, start = [], 0
    while True:
        starts.append(start)
        length = min(n - start, window)
        if start + length >= n:
            return starts
        start += min(length, stride)


def context_room(max_seq_length: int, question_length: int) -> int:
    """Context subwords per window: the rest after the question and the three ``</s>``."""
    return max_seq_length - question_length - 3


def example_features(
    row: dict, example_id: int, tokenizer: Any, config: TaskConfig, cache: dict, training: bool
) -> list[dict]:
    """The features (windows) of one question; in training, none when its answer maps to no subword.

    ``offsets`` holds, per position, the character span of its word in the context, or None for the
    question and the ``</s>``: what maps a predicted position back to text.
    """
    from xlm_hf.text.pretokenize import xlm_encode

    lang, eos = row["lang"], tokenizer.sep_token_id
    question = xlm_encode(tokenizer, row["question"], lang)[: config.max_query_length]
    words = context_words(tokenizer, row["context"], lang, cache)
    target = answer_subwords(words, row["answer_text"], row["answer_start"]) if training else None
    if training and target is None:
        return []
    window = context_room(config.max_seq_length, len(question))
    head = len(question) + 2  # the position of the window's first subword
    features = []
    for start in window_starts(len(words.ids), window, config.doc_stride):
        stop = min(start + window, len(words.ids))
        ids = [eos, *question, eos, *words.ids[start:stop], eos]
        feature = {
            "input_ids": ids,
            "langs": [tokenizer.lang2id[lang]] * len(ids),
            "offsets": [None] * head
            + [list(words.spans[words.word_of[i]]) for i in range(start, stop)]
            + [None],
            "example_id": example_id,
            "length": len(ids),
        }
        if target is not None:
            inside = start <= target[0] and target[1] < stop
            feature["start_positions"] = head + target[0] - start if inside else 0
            feature["end_positions"] = head + target[1] - start if inside else 0
        features.append(feature)
    return features


def _encode_batch(
    batch: dict[str, list],
    indices: list[int],
    tokenizer: Any,
    config: TaskConfig,
    training: bool,
    cache: dict,
) -> dict[str, list]:
    keys = ("input_ids", "langs", "offsets", "example_id", "length")
    keys += ("start_positions", "end_positions") if training else ()
    out: dict[str, list] = {key: [] for key in keys}
    for i, index in enumerate(indices):
        row = {key: values[i] for key, values in batch.items()}
        for feature in example_features(row, index, tokenizer, config, cache, training):
            for key in keys:
                out[key].append(feature[key])
    return out


def _feature_types(training: bool) -> Any:
    """The columns' types, given: a batch whose offsets are all None (a context whose words have no
    subwords) would otherwise get a null type that the next batch contradicts."""
    from datasets import Features, Sequence, Value

    types = {
        "input_ids": Sequence(Value("int64")),
        "langs": Sequence(Value("int64")),
        "offsets": Sequence(Sequence(Value("int64"))),
        "example_id": Value("int64"),
        "length": Value("int64"),
    }
    if training:
        types |= {"start_positions": Value("int64"), "end_positions": Value("int64")}
    return Features(types)


def encode_rows(
    rows: list[dict], tokenizer: Any, config: TaskConfig, training: bool, sort_by_length: bool = False
) -> Dataset:
    """Questions → features (``input_ids``, ``langs``, ``offsets``, ``example_id``: the row's index in
    `rows`, ``length``; in `training`, ``start_positions`` / ``end_positions``, and questions without
    an answer skipped, with a log line)."""
    from datasets import Dataset

    # (TaskConfig guarantees room for the context: max_query_length + 3 < max_seq_length)
    # the first answer only (training files have one); flat columns: an all-empty answers struct
    # has no Arrow type to infer
    ds = Dataset.from_list(
        [
            {
                "question": row["question"],
                "context": row["context"],
                "lang": row["lang"],
                "answer_text": (row["answers"]["text"] or [""])[0],
                "answer_start": (row["answers"]["answer_start"] or [-1])[0],
            }
            for row in rows
        ]
    )
    ds = ds.map(
        _encode_batch,
        batched=True,
        batch_size=64,
        with_indices=True,
        num_proc=config.num_proc if config.num_proc > 1 and len(ds) >= 1000 else None,
        remove_columns=ds.column_names,
        features=_feature_types(training),
        fn_kwargs={"tokenizer": tokenizer, "config": config, "training": training, "cache": {}},
        desc="encode questions",
    )
    if training:
        _log_skipped(rows, ds)
    return ds.sort("length") if sort_by_length else ds


def _log_skipped(rows: list[dict], features: Dataset) -> None:
    """Say how many training questions gave no features: without an answer, or with one whose words
    have no subwords (the pre-processing removed them)."""
    unanswered = sum(not row["answers"]["text"] for row in rows)
    unmapped = len(rows) - unanswered - len(set(features["example_id"]))
    if unanswered or unmapped:
        logger.info(
            "extractive QA: %d of %d training questions skipped (%d without an answer, %d whose answer "
            "has no subwords)",
            unanswered + unmapped,
            len(rows),
            unanswered,
            unmapped,
        )


# ----------------------------------------------------------------------------- batches


@dataclass
class QACollator:
    """Right-pads ``input_ids`` / ``langs`` (with ``attention_mask``) and stacks the positions when
    present. ``offsets`` / ``example_id`` / ``length`` stay out: the trainer keeps every column
    (``remove_unused_columns`` is off) and the model would refuse them."""

    pad_token_id: int = 2

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = pad_examples(
            [{"input_ids": e["input_ids"], "langs": e["langs"]} for e in examples], self.pad_token_id
        )
        for key in ("start_positions", "end_positions"):
            if key in examples[0]:
                batch[key] = torch.tensor([int(e[key]) for e in examples], dtype=torch.long)
        return batch


# ----------------------------------------------------------------------------- predictions


def window_words(offsets: list) -> np.ndarray:
    """The number of each position's word within its window (-1 outside the context): a word's
    subwords share its span, and the next word has another.

    >>> window_words([None, [0, 3], [4, 7], [4, 7], [8, 9], None]).tolist()
    [-1, 0, 1, 1, 2, -1]
    """
    word, count, previous = np.full(len(offsets), -1, dtype=np.int64), -1, None
    for position, span in enumerate(offsets):
        if span is not None:
            count += span != previous
            word[position], previous = count, span
    return word


def best_span(
    start_logits: Any, end_logits: Any, offsets: list, n_best: int, max_answer_length: int
) -> tuple[float, int, int] | None:
    """``(score, start, end)`` of one window's best span: among the `n_best` best starts and ends
    inside the context (the question, the ``</s>`` and the padding are never answers), start <= end,
    at most `max_answer_length` words, the highest start + end logit. None: no context here."""
    context = np.asarray([i for i, span in enumerate(offsets) if span is not None], dtype=np.int64)
    if context.size == 0:
        return None
    word = window_words(offsets)
    start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)
    starts = context[np.argsort(-start_logits[context], kind="stable")[:n_best]]
    ends = context[np.argsort(-end_logits[context], kind="stable")[:n_best]]
    best = None
    for i in starts:
        for j in ends:
            # context positions are contiguous, so i <= j keeps the span inside the context
            if i <= j and word[j] - word[i] < max_answer_length:
                score = float(start_logits[i] + end_logits[j])
                if best is None or score > best[0]:
                    best = (score, int(i), int(j))
    return best


def predict_answers(output: Any, dataset: Any, rows: list[dict], config: TaskConfig) -> list[str]:
    """The predicted text of every row: the best span over all of its windows ("" when none)."""
    start_logits, end_logits = output.predictions[0], output.predictions[1]
    columns = dataset.select_columns(["example_id", "offsets"])[:]
    best: dict[int, tuple[float, int, list]] = {}
    for k, (example_id, offsets) in enumerate(zip(columns["example_id"], columns["offsets"], strict=True)):
        found = best_span(start_logits[k], end_logits[k], offsets, config.n_best, config.max_answer_length)
        if found is not None and (example_id not in best or found[0] > best[example_id][0]):
            best[example_id] = (found[0], offsets[found[1]][0], offsets[found[2]][1])
    return [rows[i]["context"][best[i][1] : best[i][2]] if i in best else "" for i in range(len(rows))]


# ----------------------------------------------------------------------------- the kind


class ExtractiveQA(Kind):
    """``extractive-qa``: SQuAD v1.1 files or hub datasets; F1 and exact match per language."""

    name = "extractive-qa"
    main_metric = "f1"
    model_class = "XLMForQuestionAnsweringSimple"

    def read_file(self, path: str, config: TaskConfig) -> list[dict]:
        return read_squad(path)

    def hub_rows(self, dataset: Any, config: TaskConfig, where: str) -> list[dict]:
        columns = dataset[:]  # column-wise: one Arrow conversion
        missing = [name for name in HUB_COLUMNS if name not in columns]
        if missing:
            raise DataError(
                f"{where}: no column {missing[0]!r} (SQuAD columns: {', '.join(HUB_COLUMNS)}; "
                f"found: {', '.join(columns)})"
            )
        return [
            _hub_row(index, *values, where)
            for index, values in enumerate(zip(*(columns[name] for name in HUB_COLUMNS), strict=True))
        ]

    def encode(self, rows, tokenizer, config, labels, training=False):
        return encode_rows(rows, tokenizer, config, training, sort_by_length=not training)

    def collator(self, tokenizer: Any, model: Any, fused: bool) -> QACollator:
        return QACollator(pad_token_id=tokenizer.pad_token_id)  # QA has no fused path

    def model_settings(self, labels: list[str] | None) -> dict[str, Any]:
        return {"num_labels": 2}  # the head's two outputs: start and end logits

    def score(self, output, dataset, rows, labels, config) -> dict[str, Any]:
        """F1 / exact match (fractions) with the language's normalisation (`squad_metric`), and how
        many questions were scorable (had a gold answer)."""
        predictions = predict_answers(output, dataset, rows, config)
        lang = rows[0]["lang"] if rows else None
        return squad_scores(predictions, [row["answers"]["text"] for row in rows], lang)


def _hub_row(index: int, qid: Any, question: str, context: str, answers: dict, where: str) -> dict:
    """A hub row as `read_squad` gives a file's, its answers checked against the context."""
    here = f"{where} row {index}"
    texts, starts = [], []
    for text, start in zip(answers["text"], answers["answer_start"], strict=True):
        if not text:
            continue
        if context[start : start + len(text)] != text:
            raise DataError(
                f"{here} ({qid}): answer {text!r} is not the context's text at answer_start {start}"
            )
        texts.append(text)
        starts.append(int(start))
    return {
        "id": str(qid),
        "question": question,
        "context": context,
        "answers": {"text": texts, "answer_start": starts},
        "where": here,
    }


QA = ExtractiveQA()
