"""XNLI fine-tuning and cross-lingual evaluation: ``xlm-hf finetune-xnli --config recipes/xnli/X.yaml``
(also ``python -m xlm_hf.finetune_xnli``).

The ``xnli`` section is the ``pair-classification`` task with XNLI's data forms and labels
(`xlm_hf.tasks.presets.xnli_task`); `finetune.run` runs it: model and tokenizer checked, rows
read, every dev language evaluated each time, the best model on ``selected_by`` kept,
per-language accuracy and confusion matrices → ``xnli_results.json`` + ``xnli_results.md``.
"""

from __future__ import annotations

from typing import Any

from xlm_hf.config.recipes import TaskRecipe, XnliRecipe, load_xnli_recipe
from xlm_hf.launch import run_command

DESCRIPTION = "fine-tune on XNLI and evaluate every language"


def run(recipe: XnliRecipe) -> dict[str, Any]:
    from xlm_hf import finetune
    from xlm_hf.tasks.presets import xnli_task

    task = TaskRecipe(task=xnli_task(recipe.xnli), training=recipe.training)
    return finetune.run(task, recorded=recipe, results="xnli_results")


def main(argv: list[str] | None = None) -> int:
    """``xlm-hf finetune-xnli --config RECIPE`` (also ``python -m xlm_hf.finetune_xnli``)."""
    return run_command("finetune-xnli", DESCRIPTION, argv, _command, resumable=True)


def _command(config: str, overrides: list[str]) -> None:
    recipe = load_xnli_recipe(config, overrides)
    results = run(recipe)
    if recipe.training.process_index != 0:  # one table, not one per data-parallel rank
        return
    print(results["table"])
    print(f"xnli_results.json and xnli_results.md in {recipe.training.output_dir}")


if __name__ == "__main__":
    raise SystemExit(main())
