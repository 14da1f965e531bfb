"""Retrieval: accuracy both ways at every layer, the best layer, the figures a language reports."""

from __future__ import annotations

import pytest
import torch

from xlm_hf.tasks.retrieval import best_layer, language_scores, layer_accuracies


def test_every_layer_both_ways_and_the_best():
    eye = torch.eye(3)
    swapped = eye[[1, 0, 2]]
    pivot = torch.stack([eye, eye])  # layer 0, layer 1
    other = torch.stack([swapped, eye])  # layer 0 confuses rows 0 and 1
    both = layer_accuracies(pivot, other)
    assert both == {"from_pivot": [pytest.approx(1 / 3), 1.0], "to_pivot": [pytest.approx(1 / 3), 1.0]}
    assert best_layer(both)["layer"] == 1
    scores = language_scores(both, layer=None)
    assert scores["accuracy"] == 1.0 and scores["layer"] == 1 and scores["last_layer_to_pivot"] == 1.0
    assert language_scores(both, layer=0)["accuracy"] == pytest.approx(1 / 3)
