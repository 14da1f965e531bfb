"""Token classification: labels on each word's first subword (exact tensors), predictions back to
words, entity F1 against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xlm_hf.config.sections import TaskConfig
from xlm_hf.errors import DataError
from xlm_hf.tasks.tagging import TAGGING, TaggingCollator, predicted_tags, sentence_input, tag_ids
from xlm_hf.tasks.words import encode_words

LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def _config(**values) -> TaskConfig:
    return TaskConfig(
        type="token-classification", model_name_or_path="m", train="t", eval="e", languages=["en"], **values
    )


def test_first_subwords_carry_the_tags(sample_tokenizer):
    words = ["Anna", "Berg", "visited", "Hamburg", "."]
    rows = [{"words": words, "tags": ["B-PER", "I-PER", "O", "B-LOC", "O"], "lang": "en"}]
    ds = TAGGING.encode(rows, sample_tokenizer, _config(max_seq_length=64), LABELS, training=True)
    pieces = encode_words(sample_tokenizer, words, "en")
    ids = [1, *[i for p in pieces for i in p], 1]
    assert ds[0]["input_ids"] == ids
    expected, word_index = [-100], [-1]
    for index, (piece, tag) in enumerate(zip(pieces, [3, 4, 0, 1, 0], strict=True)):
        expected += [tag] + [-100] * (len(piece) - 1)
        word_index += [index] + [-1] * (len(piece) - 1)
    assert ds[0]["labels"] == expected + [-100] and ds[0]["word_index"] == word_index + [-1]
    assert ds[0]["langs"] == [sample_tokenizer.lang2id["en"]] * len(ids)
    assert any(len(p) > 1 for p in pieces)  # the test covers a word of several subwords


def test_words_without_subwords_or_room_are_skipped():
    out = sentence_input([[7, 8], [], [9], [10, 11]], [1, 0, 2, 3], lang_id=0, max_len=6, eos=1)
    assert out["input_ids"] == [1, 7, 8, 9, 1]  # [10, 11] does not fit before the closing </s>
    assert out["labels"] == [-100, 1, -100, 2, -100] and out["word_index"] == [-1, 0, -1, 2, -1]


def test_predictions_map_back_to_words_and_default_to_o():
    logits = np.zeros((5, len(LABELS)))
    logits[1, 3] = logits[2, 1] = logits[3, 2] = 5  # position 2 is a later subword: ignored
    tags = predicted_tags(logits, [-1, 0, -1, 2, -1], n_words=4, labels=LABELS)
    assert tags == ["B-PER", "O", "I-LOC", "O"]


def test_entity_f1_is_seqeval_s():
    from transformers.trainer_utils import EvalPrediction

    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "O"]]
    rows = [{"tags": g} for g in gold]
    # sentence 1: PER right, LOC missed; sentence 2: LOC right -> P = 2/2, R = 2/3, F1 = 0.8
    word_index = [[-1, 0, 1, 2, 3, -1], [-1, 0, 1, -1]]
    picks = [[3, 4, 0, 0], [1, 0]]
    logits = np.zeros((2, 6, len(LABELS)))
    for s, labels in enumerate(picks):
        for w, label in enumerate(labels):
            logits[s, w + 1, label] = 1
    dataset = {"row": [0, 1], "word_index": word_index, "n_words": [4, 2]}
    scores = TAGGING.score(EvalPrediction(logits, None), dataset, rows, LABELS, _config())
    assert scores == pytest.approx({"f1": 0.8, "precision": 1.0, "recall": 2 / 3})


def test_tags_by_name_and_unknown_tags_named():
    assert tag_ids({"tags": ["B-LOC", "O"]}, LABELS) == [1, 0]
    with pytest.raises(DataError, match="d.tsv:4: unknown tag 'B-XYZ'"):
        tag_ids({"tags": ["B-XYZ"], "where": "d.tsv:4"}, LABELS)
    assert TAGGING.labels(_config(), [{"tags": ["B-PER", "O", "I-PER", "B-LOC"]}]) == [
        "O",
        "B-LOC",
        "B-PER",
        "I-PER",
    ]


def test_collator_pads_labels_with_ignore():
    batch = TaggingCollator(pad_token_id=2)(
        [
            {"input_ids": [1, 7, 1], "langs": [0, 0, 0], "labels": [-100, 3, -100]},
            {"input_ids": [1, 1], "langs": [0, 0], "labels": [-100, -100]},
        ]
    )
    assert torch.equal(batch["labels"], torch.tensor([[-100, 3, -100], [-100, -100, -100]]))
    assert batch["input_ids"].tolist() == [[1, 7, 1], [1, 1, 2]]
