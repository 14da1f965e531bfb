"""XLM's smoothed sampling: p_i ∝ (n_i / N)^alpha — for languages when learning a vocabulary, for
(objective, language) sources when pretraining. alpha < 1 raises the share of small languages.
numpy only, so ``xlm-hf vocab`` does not load torch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def smoothed_probabilities(counts: Sequence[int], alpha: float | str) -> np.ndarray:
    """p_i ∝ (n_i / N)^alpha (zero counts get zero), or uniform when `alpha` is ``"uniform"``."""
    counts = np.asarray(counts, dtype=np.float64)
    if alpha == "uniform":
        return np.full(len(counts), 1.0 / len(counts))
    weights = np.where(counts > 0, (counts / counts.sum()) ** float(alpha), 0.0)
    return weights / weights.sum()
