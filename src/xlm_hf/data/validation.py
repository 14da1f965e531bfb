"""Validation sets of pretraining: fixed, pre-collated batches per objective and language, and
the names their metrics are logged under. Light on purpose: the trainer imports it, and the GPU
check trains without the corpus stack (Moses, `datasets`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ValidationSet:
    """Pre-collated batches of one objective and language (or pair): identical at every evaluation."""

    objective: str
    name: str
    batches: list[dict]


def metric_names(objective: str) -> tuple[str, str]:
    """(perplexity, accuracy) metric names of `objective`: ``mlm_ppl``, ``mlm_acc``."""
    return f"{objective}_ppl", f"{objective}_acc"
