"""XNLI as a preset of ``pair-classification``: the ``xnli`` section of an XNLI recipe becomes a
task whose rows come from XNLI's own loaders (per-language TSV directories, XNLI-1.0, XNLI-MT,
MultiNLI TSV or JSONL, the hub's ``facebook/xnli``), with XNLI's three labels. ``xlm-hf
finetune-xnli`` and ``xlm-hf finetune`` with ``task.preset: xnli`` run exactly this."""

from __future__ import annotations

import dataclasses
import logging

from xlm_hf.config.sections import FinetuneConfig, TaskConfig, XnliConfig
from xlm_hf.errors import ConfigError

logger = logging.getLogger(__name__)


def xnli_task(config: XnliConfig) -> TaskConfig:
    """The task an ``xnli`` section describes; its errors keep naming the ``xnli`` keys."""
    from xlm_hf.xnli.data import LABELS

    shared = {f.name: getattr(config, f.name) for f in dataclasses.fields(FinetuneConfig)}
    task = TaskConfig(**shared, type="pair-classification", name="xnli", preset="xnli", labels=list(LABELS))
    task.SECTION = config.SECTION  # type: ignore[misc]  (an instance's own: messages say xnli.*)
    return task


def _pair(row: dict, lang: str) -> dict:
    return {"text": row["premise"], "text_pair": row["hypothesis"], "label": row["label"], "lang": lang}


class XnliReader:
    """Rows of the XNLI data forms, as the ``pair-classification`` kind reads them."""

    def training_rows(self, config: TaskConfig, langs: list[str]) -> list[dict]:
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
            rows += [_pair(r, lang) for r in found[: config.max_train_examples]]
        if not rows:
            raise ConfigError(f"xnli.train: no training examples in {', '.join(config.train_sources)}")
        return rows

    def evaluation_rows(self, config: TaskConfig, split: str) -> dict[str, list[dict]]:
        from xlm_hf.xnli.data import load_xnli_split

        try:
            found = load_xnli_split(config.eval, split, config.languages)
        except FileNotFoundError as err:
            if split == "test" and config.test == "auto":
                logger.info("no test split in %s: reporting dev only", config.eval)
                return {}
            raise ConfigError(f"xnli.eval: {err}") from None
        except ValueError as err:
            raise ConfigError(f"xnli.eval: {err}") from None
        if split == "dev":
            no_dev = [lang for lang in config.languages if lang not in found]
            if no_dev:
                raise ConfigError(f"xnli.languages: no dev data for {no_dev} in {config.eval}")
        return {lang: [_pair(r, lang) for r in rows] for lang, rows in found.items()}


def reader_for(config: TaskConfig):
    """The preset's reader, or None for the task type's own files."""
    return XnliReader() if config.preset == "xnli" else None
