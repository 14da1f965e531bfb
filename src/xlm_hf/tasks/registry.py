"""The `Kind` of each ``task.type``, imported only when that type is asked for."""

from __future__ import annotations

from xlm_hf.tasks.kinds import Kind


def kind(task_type: str) -> Kind:
    if task_type == "classification":
        from xlm_hf.tasks.classification import SINGLE

        return SINGLE
    if task_type == "pair-classification":
        from xlm_hf.tasks.classification import PAIR

        return PAIR
    if task_type == "token-classification":
        from xlm_hf.tasks.tagging import TAGGING

        return TAGGING
    if task_type == "extractive-qa":
        from xlm_hf.tasks.qa import QA

        return QA
    raise ValueError(f"no fine-tuning for task type {task_type!r}")
