"""A task recipe's data, ready for the trainer: training rows in the training languages, dev and
test rows per evaluated language, encoded by the task's `Kind`; every missing file or language is
a `ConfigError` naming the recipe key, raised before anything is written."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xlm_hf.config.sections import TaskConfig
from xlm_hf.errors import ConfigError
from xlm_hf.tasks.files import expand
from xlm_hf.tasks.kinds import Kind

logger = logging.getLogger(__name__)

SPLITS = ("dev", "test")
#: our split names → the hub's
HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


@dataclass
class TaskData:
    train_languages: list[str]
    labels: list[str] | None
    train: Any  # datasets.Dataset of the training features
    dev: dict[str, Any] = field(default_factory=dict)  # language -> Dataset (sorted by length where it may)
    test: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, dict[str, list[dict]]] = field(default_factory=dict)  # split -> language -> rows


def train_languages(config: TaskConfig) -> list[str]:
    return list(config.languages) if config.mode == "translate-train-all" else [config.train_language]


def read_source(kind: Kind, source: str, config: TaskConfig, lang: str, split: str) -> list[dict]:
    """Rows of one file or hub split, each with its ``lang``; a missing file raises FileNotFoundError."""
    path = expand(source, lang=lang, split=split)
    if path.startswith("hf:"):
        from xlm_hf.data.inputs import hub_load_dataset

        name, _, hub_config = path.removeprefix("hf:").partition(":")
        dataset = hub_load_dataset(name, hub_config or None, split=HUB_SPLITS[split])
        rows = kind.hub_rows(dataset, config, f"{path} {HUB_SPLITS[split]}")
    else:
        if not Path(path).is_file():
            raise FileNotFoundError(f"no file {path}")
        rows = kind.read_file(path, config)
    return [{**row, "lang": lang} for row in rows]


def training_rows(kind: Kind, config: TaskConfig, langs: list[str]) -> list[dict]:
    """Every training source in every training language (`translate-train-all` skips a language
    without a training set, with a warning), at most `max_train_examples` per language."""
    if config.mode != "zero-shot" and not any(
        "{lang}" in s or s.startswith("hf:") for s in config.train_sources
    ):
        raise ConfigError(
            f"task.train: {config.mode} needs one training set per language: a {{lang}} template"
        )
    rows = []
    for lang in langs:
        try:
            found = [
                r for source in config.train_sources for r in read_source(kind, source, config, lang, "train")
            ]
        except FileNotFoundError as err:
            if config.mode != "translate-train-all":
                raise ConfigError(f"task.train: {err}") from None
            logger.warning("translate-train-all: no training set for %s (%s)", lang, err)
            continue
        rows += found[: config.max_train_examples]
    if not rows:
        raise ConfigError(f"task.train: no training examples in {', '.join(config.train_sources)}")
    return rows


def evaluation_rows(kind: Kind, config: TaskConfig, split: str) -> dict[str, list[dict]]:
    """``{language: rows}`` of `split`. Dev must exist for every language; test is read when the
    template has ``{split}`` and (``test: auto``) a file exists for some language."""
    if split == "test" and "{split}" not in config.eval and not config.eval.startswith("hf:"):
        if config.test == "yes":
            raise ConfigError("task.eval: test: yes needs a {split} template (dev and test files)")
        return {}
    out: dict[str, list[dict]] = {}
    missing = []
    for lang in config.languages:
        try:
            out[lang] = read_source(kind, config.eval, config, lang, split)
        except FileNotFoundError as err:
            missing.append(str(err))
    if split == "test" and config.test == "auto" and not out:
        logger.info("no test split at %s: reporting dev only", config.eval)
        return {}
    if missing:
        raise ConfigError(
            f"task.eval: {split}: {missing[0]}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    return out


@dataclass
class TaskRows:
    """A task's rows before encoding: read first, so the labels are known when the model is built."""

    train_languages: list[str]
    labels: list[str] | None
    train: list[dict]
    eval: dict[str, dict[str, list[dict]]]  # split -> language -> rows


def read_task_rows(kind: Kind, config: TaskConfig, reader: Any = None) -> TaskRows:
    """The recipe's training rows and dev / test rows per language, checked. `reader`: another way
    to read them (a preset's, `presets`), with the same two methods as `_FileReader`."""
    reader = reader or _FileReader(kind)
    langs = train_languages(config)
    try:
        train = reader.training_rows(config, langs) if config.type != "retrieval" else []
        rows = {
            split: reader.evaluation_rows(config, split)
            for split in SPLITS
            if split == "dev" or config.test != "no"
        }
    except ValueError as err:  # a hub source the loaders cannot read
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{config.SECTION}.eval: {err}") from None
    if config.test == "yes" and not rows.get("test"):
        raise ConfigError(f"{config.SECTION}.eval: no test split in {config.eval}")
    labels = kind.labels(config, train) if kind is not None else None
    cap = config.max_eval_examples
    rows = {
        split: {lang: r[:cap] for lang, r in per_lang.items()} for split, per_lang in rows.items() if per_lang
    }
    return TaskRows(langs, labels, train, rows)


def encode_task_data(kind: Kind, config: TaskConfig, tokenizer: Any, rows: TaskRows) -> TaskData:
    """The rows encoded by the task's kind (evaluation sets sorted by length where the type allows:
    less padding per batch, the same scores; see `Kind.encode`)."""
    encoded = {
        split: {lang: kind.encode(r, tokenizer, config, rows.labels) for lang, r in per_lang.items()}
        for split, per_lang in rows.eval.items()
    }
    if config.eval_language_ids == "train_language":  # every language scored with the training id
        train_id = tokenizer.lang2id[rows.train_languages[0]]
        encoded = {
            split: {
                lang: ds.map(lambda ex: {"langs": [train_id] * len(ex["langs"])})
                for lang, ds in per_lang.items()
            }
            for split, per_lang in encoded.items()
        }
    return TaskData(
        train_languages=rows.train_languages,
        labels=rows.labels,
        train=kind.encode(rows.train, tokenizer, config, rows.labels, training=True),
        dev=encoded.get("dev", {}),
        test=encoded.get("test", {}),
        rows=rows.eval,
    )


class _FileReader:
    def __init__(self, kind: Kind) -> None:
        self.kind = kind

    def training_rows(self, config: TaskConfig, langs: list[str]) -> list[dict]:
        return training_rows(self.kind, config, langs)

    def evaluation_rows(self, config: TaskConfig, split: str) -> dict[str, list[dict]]:
        return evaluation_rows(self.kind, config, split)


def selected_language(config: TaskConfig, data: TaskData) -> str:
    """The dev set that picks the best model: the training language's, or ``avg`` of all."""
    langs = data.train_languages
    selected = config.train_language if config.selected_by == "train_language" and len(langs) == 1 else "avg"
    if selected != "avg" and selected not in data.dev:
        raise ConfigError(f"{config.SECTION}.selected_by: no dev set for {selected!r} in {config.eval}")
    return selected
