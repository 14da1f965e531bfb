"""What the real-data tests share: the 15 XNLI languages and one vocabulary learned on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from xlm_hf.config.sections import VocabConfig
from xlm_hf.vocab import build_vocab

XNLI15 = ["ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]


@pytest.fixture(scope="session")
def vocab15(shared_data, tmp_path_factory) -> Path:
    """A 16k vocabulary on ../shared/data/mono, 2 % of each language held out (vocab15/heldout)."""
    config = VocabConfig(
        languages=XNLI15,
        data_dir=str(shared_data),
        output_dir=str(tmp_path_factory.mktemp("v") / "v15"),
        use_parallel=False,
        vocab_size=16000,
        sentences_per_language=3000,
        valid_fraction=0.02,
        num_proc=2,
    )
    return build_vocab(config)
