"""Evaluation metrics that ship with xlm-hf, so that scoring never needs the hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Directory of the ``evaluate`` module script (``xnli_accuracy/xnli_accuracy.py``).
XNLI_ACCURACY_DIR = Path(__file__).resolve().parent / "xnli_accuracy"


def load_xnli_metric(**kwargs: Any) -> Any:
    """``evaluate.load`` of the bundled XNLI accuracy metric, by absolute path.

    A path (rather than a hub name) makes ``evaluate`` use the local script, so loading works
    with no network and with ``HF_HUB_OFFLINE``/``HF_EVALUATE_OFFLINE`` set or unset. Predictions
    are kept in memory unless several processes share the metric: accumulating them in Arrow files
    under the cache only pays off for distributed evaluation.
    """
    import evaluate

    kwargs.setdefault("keep_in_memory", kwargs.get("num_process", 1) == 1)
    return evaluate.load(str(XNLI_ACCURACY_DIR), **kwargs)
