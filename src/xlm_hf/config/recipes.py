"""The recipes of the training commands: their sections, loaded and checked together.

A recipe is the YAML file a command reads (`loader`), made into the section dataclasses of
`sections` and the `training` arguments of `training_args`, then checked across sections. The
commands, the study planner and ``prepare-data`` all load recipes here, so none of them imports
another command to read one. Loading needs transformers (the training arguments) but not torch's
training stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xlm_hf.config.loader import load_sections
from xlm_hf.config.sections import (
    DataConfig,
    ModelConfig,
    TaskConfig,
    VocabConfig,
    XnliConfig,
    check_pretraining_sections,
)
from xlm_hf.errors import ConfigError, require


@dataclass
class PretrainRecipe:
    data: DataConfig
    model: ModelConfig
    training: Any  # xlm_hf.config.training_args.PretrainingArguments
    vocab: VocabConfig | None = None


def load_pretrain_recipe(path: str | None, overrides: list[str] | dict[str, Any] = ()) -> PretrainRecipe:
    from xlm_hf.config.training_args import PretrainingArguments, check_training, resolve_mixed_precision

    sections = load_sections(
        path,
        list(overrides) if not isinstance(overrides, dict) else overrides,
        {"data": DataConfig, "model": ModelConfig, "training": PretrainingArguments, "vocab": VocabConfig},
        optional=("vocab",),
    )
    recipe = PretrainRecipe(**sections)
    check_pretraining_sections(recipe.data, recipe.model, recipe.vocab)
    args = recipe.training
    require(
        args.max_steps is not None and args.max_steps > 0,
        "training.max_steps",
        "pretraining streams are endless; set max_steps > 0",
    )
    check_training(args)
    require(
        not args.load_best_model_at_end,
        "training.load_best_model_at_end",
        "not supported for pretraining (keep the last model)",
    )
    resolve_mixed_precision(args)
    return recipe


@dataclass
class XnliRecipe:
    xnli: XnliConfig
    training: Any  # xlm_hf.config.training_args.XnliTrainingArguments


def load_xnli_recipe(path: str | None, overrides: list[str] | dict[str, Any] = ()) -> XnliRecipe:
    return _finetune_recipe(XnliRecipe, "xnli", XnliConfig, path, overrides)


@dataclass
class TaskRecipe:
    task: TaskConfig
    training: Any  # xlm_hf.config.training_args.XnliTrainingArguments (the fine-tuning defaults)


def load_task_recipe(path: str | None, overrides: list[str] | dict[str, Any] = ()) -> TaskRecipe:
    """A ``task`` recipe; ``task.name`` defaults to the recipe file's name (``recipes/tasks/panx.yaml``: panx)."""
    recipe = _finetune_recipe(TaskRecipe, "task", TaskConfig, path, overrides)
    if recipe.task.name is None:
        recipe.task.name = Path(path).stem if path else recipe.task.type
    return recipe


def _finetune_recipe(
    recipe_class: type, section: str, config_class: type, path: str | None, overrides: Any
) -> Any:
    from xlm_hf.config.training_args import XnliTrainingArguments, check_training, resolve_mixed_precision

    sections = load_sections(
        path,
        list(overrides) if not isinstance(overrides, dict) else overrides,
        {section: config_class, "training": XnliTrainingArguments},
    )
    recipe = recipe_class(**sections)
    args = recipe.training
    if args.load_best_model_at_end and args.eval_strategy != args.save_strategy:
        raise ConfigError("training.save_strategy: must equal eval_strategy to keep the best model")
    check_training(args)
    resolve_mixed_precision(args)
    return recipe
