"""Shared fixtures: the real-data folder beside the project, and tiny hermetic assets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

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
    from xlm_hf.config.sections import VocabConfig
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


def tiny_xlm_config(**overrides):
    """The tiny `XLMConfig` the model tests share (vocab 64, emb 32, 2 layers, 4 heads, no dropout);
    `overrides` change single fields (``vocab_size=70``, ``causal=True``...)."""
    from transformers import XLMConfig

    values = dict(
        vocab_size=64,
        emb_dim=32,
        n_layers=2,
        n_heads=4,
        n_langs=2,
        max_position_embeddings=64,
        dropout=0.0,
        attention_dropout=0.0,
        mask_token_id=5,
    )
    return XLMConfig(**{**values, **overrides})


def sample_xnli_recipe(tmp: Path, model: Path, training: dict, **xnli) -> Path:
    """An XNLI recipe on the sample's English pairs and en/fr dev (sequences of 64) for `model`,
    with `training` as its training section; `xnli` updates that section. Written to ``tmp/xnli.yaml``."""
    from xlm_hf import SAMPLE_DIR

    recipe = {
        "xnli": {
            "model_name_or_path": str(model),
            "train": str(SAMPLE_DIR / "nli-en" / "sample.train.tsv"),
            "eval": str(SAMPLE_DIR / "xnli"),
            "languages": ["en", "fr"],
            "max_seq_length": 64,
            **xnli,
        },
        "training": training,
    }
    path = tmp / "xnli.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def tiny_recipe(tmp: Path, **sections) -> Path:
    """A tiny en-fr MLM+TLM recipe on the sample, written to ``tmp/recipe.yaml``; `sections` update it."""
    from xlm_hf import SAMPLE_DIR

    recipe = {
        "vocab": {
            "languages": ["en", "fr"],
            "data_dir": str(SAMPLE_DIR),
            "output_dir": str(tmp / "vocab"),
            "vocab_size": 1500,
            "sentences_per_language": 600,
        },
        "data": {
            "languages": ["en", "fr"],
            "objectives": ["mlm", "tlm"],
            "data_dir": str(SAMPLE_DIR),
            "max_seq_length": 32,
            "valid_size": 0.1,
            "tlm_max_len": 40,
            "cache_dir": str(tmp / "cache"),
        },
        "model": {
            "tokenizer": str(tmp / "vocab"),
            "emb_dim": 64,
            "n_layers": 2,
            "n_heads": 4,
            "max_position_embeddings": 96,
            "dropout": 0.0,
            "attention_dropout": 0.0,
        },
        "training": {
            "output_dir": str(tmp / "out"),
            "max_steps": 40,
            "per_device_train_batch_size": 8,
            "learning_rate": 3e-3,
            "warmup_steps": 5,
            "eval_steps": 20,
            "save_steps": 20,
            "logging_steps": 10,
            "seed": 0,
            "disable_tqdm": True,
        },
    }
    for name, values in sections.items():
        recipe[name].update(values)
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, sample_tokenizer) -> Path:
    """An untrained de/en/es/fr XLM with its tokenizer (enough to reach the data checks)."""
    from xlm_hf.config.sections import ModelConfig
    from xlm_hf.model.heads import XLMWithTargetedLMHead
    from xlm_hf.model.loading import build_config

    out = tmp_path_factory.mktemp("tiny") / "model"
    config = build_config(
        ModelConfig(emb_dim=16, n_layers=1, n_heads=2, max_position_embeddings=64), sample_tokenizer
    )
    XLMWithTargetedLMHead(config).save_pretrained(out)
    sample_tokenizer.save_pretrained(out)
    return out


def write(path: Path, text: str | bytes) -> Path:
    """Write `text` (bytes as they are, str as UTF-8) to `path`, creating its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path
