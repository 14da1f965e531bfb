"""An XNLI recipe's data, ready for the trainer: training rows in the training languages, dev and
test per evaluated language, encoded the XLM way (`xnli.inputs`); every missing file or language is
a `ConfigError` naming the recipe key, raised before anything is written."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from xlm_hf.config.sections import XnliConfig
from xlm_hf.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass
class XnliData:
    train_languages: list[str]
    train: Any  # datasets.Dataset
    dev: dict[str, Any] = field(default_factory=dict)  # language -> Dataset, sorted by length
    test: dict[str, Any] = field(default_factory=dict)


def train_languages(config: XnliConfig) -> list[str]:
    return list(config.languages) if config.mode == "translate-train-all" else [config.train_language]


def training_rows(config: XnliConfig, langs: list[str]) -> list[dict]:
    """Every training source in every training language (`translate-train-all` skips a language
    without a training set, with a warning), at most `max_train_examples` per language."""
    from xlm_hf.xnli.data import load_train_rows

    rows = []
    for lang in langs:
        try:
            found = [r for source in config.train_sources for r in load_train_rows(source, language=lang)]
        except (FileNotFoundError, ValueError) as err:
            if config.mode != "translate-train-all":
                raise ConfigError(f"xnli.train: {err}") from None
            logger.warning("translate-train-all: no training set for %s (%s)", lang, err)
            continue
        rows += [{**r, "lang": lang} for r in found[: config.max_train_examples]]
    if not rows:
        raise ConfigError(f"xnli.train: no training examples in {', '.join(config.train_sources)}")
    return rows


def evaluation_rows(config: XnliConfig, split: str) -> dict[str, list[dict]]:
    """``{language: rows}`` of `split` in `config.eval`; no test split is fine with ``test: auto``."""
    from xlm_hf.xnli.data import load_xnli_split

    try:
        return load_xnli_split(config.eval, split, config.languages)
    except FileNotFoundError as err:
        if split == "test" and config.test == "auto":
            logger.info("no test split in %s: reporting dev only", config.eval)
            return {}
        raise ConfigError(f"xnli.eval: {err}") from None
    except ValueError as err:
        raise ConfigError(f"xnli.eval: {err}") from None


def load_xnli_data(config: XnliConfig, tokenizer: Any) -> XnliData:
    """The recipe's training, dev and test sets, checked, then encoded (evaluation sets sorted by
    length: less padding per batch, the same accuracies)."""
    from xlm_hf.xnli.inputs import encode_rows

    langs = train_languages(config)
    rows = training_rows(config, langs)
    dev = evaluation_rows(config, "dev")
    no_dev = [lang for lang in config.languages if lang not in dev]
    if no_dev:
        raise ConfigError(f"xnli.languages: no dev data for {no_dev} in {config.eval}")
    test = evaluation_rows(config, "test") if config.test != "no" else {}
    if config.test == "yes" and not test:
        raise ConfigError(f"xnli.eval: no test split in {config.eval}")

    encode = {"tokenizer": tokenizer, "max_len": config.max_seq_length, "num_proc": config.num_proc}
    dev_ds, test_ds = (
        {
            lang: encode_rows([{**r, "lang": lang} for r in split_rows], **encode, sort_by_length=True)
            for lang, split_rows in split.items()
        }
        for split in (dev, test)
    )
    if config.eval_language_ids == "train_language":  # every language scored with the training id
        train_id = tokenizer.lang2id[langs[0]]
        dev_ds, test_ds = (
            {lang: ds.map(lambda ex: {"langs": [train_id] * len(ex["langs"])}) for lang, ds in split.items()}
            for split in (dev_ds, test_ds)
        )
    return XnliData(langs, encode_rows(rows, **encode), dev_ds, test_ds)


def selected_language(config: XnliConfig, data: XnliData) -> str:
    """The dev set that picks the best model: the training language's, or ``avg`` of all."""
    langs = data.train_languages
    selected = config.train_language if config.selected_by == "train_language" and len(langs) == 1 else "avg"
    if selected != "avg" and selected not in data.dev:
        raise ConfigError(f"xnli.selected_by: no dev set for {selected!r} in {config.eval}")
    return selected
