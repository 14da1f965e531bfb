"""Shared fixtures: the real-data folder beside the project, and tiny hermetic assets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("XLM_HF_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` (real multilingual data); the test is skipped when the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real-data folder {SHARED_DATA} is absent (tests that need it run only beside it)")
    return SHARED_DATA


SAMPLE_LANGUAGES = ["de", "en", "es", "fr"]


def learn_sample_vocab(out: Path) -> Path:
    """A tokenizer learned from the embedded sample, 10 % of each language held out, into `out`."""
    from xlm_hf import SAMPLE_DIR
    from xlm_hf.config import VocabConfig
    from xlm_hf.vocab import build_vocab

    config = VocabConfig(
        languages=SAMPLE_LANGUAGES,
        data_dir=str(SAMPLE_DIR),
        output_dir=str(out),
        vocab_size=3000,
        sentences_per_language=2000,
        valid_fraction=0.1,
    )
    return build_vocab(config)


@pytest.fixture(scope="session")
def sample_vocab_dir(tmp_path_factory) -> Path:
    """The sample tokenizer (see `learn_sample_vocab`), learned once per test session."""
    return learn_sample_vocab(tmp_path_factory.mktemp("vocab") / "sample")


@pytest.fixture(scope="session")
def sample_tokenizer(sample_vocab_dir):
    from transformers import XLMTokenizer

    return XLMTokenizer.from_pretrained(str(sample_vocab_dir))


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    """A private tokenisation cache, so tests never see each other's (or the user's) entries."""
    return tmp_path / "cache"
