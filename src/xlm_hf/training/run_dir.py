"""One output directory, one run: refuse to mix a new run into a directory that holds another.

A run is defined by its recipe *settings*: every field of the data / model / vocab / xnli
sections (but ``num_proc``, ``cache_dir`` and ``xnli.pretrain_recipe``, which do not change results) and the training
fields that change what is learned (:data:`TRAINING_KEYS`). How long it trains, how often it logs,
evaluates or saves, and whether it resumes may change between runs of the same directory.

``run.json`` records those settings when training starts. Before any work, :func:`check` lets a
run into ``training.output_dir`` when the directory is missing or empty, when its ``run.json``
records the same settings (continue, or resume with ``training.resume_from_checkpoint``), or
when ``training.overwrite_output_dir`` is true. Otherwise it stops with one line naming the first
setting that differs. A non-empty directory without ``run.json`` (made by something else, or by an
older xlm-hf) is refused too, unless the run resumes from it or overwrites it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from xlm_hf.atomic_files import check_can_write, write_text
from xlm_hf.errors import ConfigError
from xlm_hf.training.checkpoints import resume_requested

logger = logging.getLogger(__name__)

RUN_FILE = "run.json"
#: The training fields that define a run (the optimisation), compared by `check`.
TRAINING_KEYS = (
    "seed",
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "warmup_ratio",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "max_grad_norm",
    "optim",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "bf16",
    "fp16",
)
_NOT_SETTINGS = ("num_proc", "cache_dir", "pretrain_recipe")


def settings(recipe: Any) -> dict[str, Any]:
    """``{"section.key": value}`` of everything that defines the run of `recipe` (JSON values)."""
    out: dict[str, Any] = {}
    for section in dataclasses.fields(recipe):
        values = getattr(recipe, section.name)
        if values is None:
            continue
        if section.name == "training":
            items = {key: getattr(values, key) for key in TRAINING_KEYS if hasattr(values, key)}
        else:
            items = {k: v for k, v in dataclasses.asdict(values).items() if k not in _NOT_SETTINGS}
        for key, value in items.items():
            out[f"{section.name}.{key}"] = json.loads(json.dumps(value, default=str))
    return out


def check(recipe: Any) -> None:
    """Refuse (ConfigError) an output directory holding a different run; see the module docstring."""
    args = recipe.training
    out = Path(args.output_dir)
    check_can_write(out, "training.output_dir")
    # source-tokenizer: a hub tokenizer fetched into output_dir before training (pretrain.tokenizer_dir)
    if not out.is_dir() or not [p for p in out.iterdir() if p.name != "source-tokenizer"]:
        if out.exists() and not out.is_dir():
            raise ConfigError(f"training.output_dir: {out} exists and is not a directory")
        return
    if getattr(args, "overwrite_output_dir", False):
        logger.warning("%s holds files of an earlier run: overwriting them (overwrite_output_dir)", out)
        return
    resume = resume_requested(args)
    recorded = _read(out / RUN_FILE)
    if recorded is None:
        if resume:
            return
        raise ConfigError(
            f"training.output_dir: {out} is not empty and holds no {RUN_FILE} (not a run of this "
            "recipe); choose another output_dir, or set training.overwrite_output_dir=true"
        )
    mine = settings(recipe)
    for key in sorted(set(recorded) & set(mine)):  # a field added or dropped by an upgrade is no change
        if recorded.get(key) != mine.get(key):
            raise ConfigError(
                f"training.output_dir: {out} holds a different run ({key} is {recorded.get(key)!r} there, "
                f"{mine.get(key)!r} here); choose another output_dir, or set training.overwrite_output_dir=true"
            )


def record(recipe: Any) -> None:
    """Write ``run.json`` (the main process only) as training starts."""
    args = recipe.training
    if not args.should_save:
        return
    values = settings(recipe)
    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]
    payload = {"fingerprint": digest, "settings": values}
    write_text(Path(args.output_dir) / RUN_FILE, json.dumps(payload, indent=1, sort_keys=True) + "\n")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))["settings"]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(
            f"training.output_dir: {path} is unreadable ({err}); remove it or overwrite"
        ) from None
