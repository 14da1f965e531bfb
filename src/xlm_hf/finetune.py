"""Fine-tuning on any cross-lingual task, every language evaluated: ``xlm-hf finetune --config
recipes/tasks/X.yaml`` (also ``python -m xlm_hf.finetune``).

recipe (a ``task`` section: `xlm_hf.config.sections.TaskConfig`) → tokenizer and model config,
checked (`tasks.model`; a missing model is an error naming the command that makes it) → rows
(`tasks.datasets`, read by the type's `Kind` or a preset's reader) → the model with the type's
head → encoded sets → `TaskTrainer` (every dev language evaluated each time; the best model on
``selected_by`` kept) → per-language scores → ``task_results.{json,md}``.
A ``retrieval`` task trains nothing: its probe runs instead (`tasks.retrieval`).
"""

from __future__ import annotations

from typing import Any

from xlm_hf.config.recipes import TaskRecipe, load_task_recipe
from xlm_hf.launch import run_command
from xlm_hf.training import run_dir

DESCRIPTION = "fine-tune on a cross-lingual task and evaluate every language"


#: the results files' name (``task_results.json``, ``.md``); ``finetune-xnli`` keeps ``xnli_results``
RESULTS = "task_results"


def run(recipe: TaskRecipe, recorded: Any = None, results: str = RESULTS) -> dict[str, Any]:
    """Fine-tune and evaluate; `recorded`: the recipe as its command read it (``run.json`` records
    it and a rerun is checked against it; an XNLI recipe's ``xnli`` section, say), else `recipe`;
    `results`: the results files' name."""
    from transformers import set_seed

    from xlm_hf.tasks.datasets import encode_task_data, read_task_rows, selected_language, train_languages
    from xlm_hf.tasks.model import load_checked_tokenizer, load_task_model, prepare_for_training
    from xlm_hf.tasks.presets import reader_for
    from xlm_hf.tasks.registry import kind
    from xlm_hf.tasks.trainer import build_task_trainer, final_report, write_results
    from xlm_hf.training.checkpoints import raise_if_stopped, resume_checkpoint, watch_for_signals

    config, args = recipe.task, recipe.training
    recorded = recorded or recipe
    run_dir.check(recorded)  # before any work: output_dir is empty, this recipe's, or to be overwritten
    if config.type == "retrieval":
        from xlm_hf.tasks.retrieval import run_retrieval

        return run_retrieval(config, args, results)
    checkpoint = resume_checkpoint(args)
    set_seed(args.seed)
    task = kind(config.type)
    tokenizer = load_checked_tokenizer(config, [*config.languages, *train_languages(config)])
    rows = read_task_rows(task, config, reader_for(config))  # every input checked before the first write
    model = prepare_for_training(load_task_model(task, config, rows.labels), config, args)
    data = encode_task_data(task, config, tokenizer, rows)
    selected = selected_language(config, data)
    args.metric_for_best_model, args.greater_is_better = f"{task.main_metric}.{selected}", True
    run_dir.record(recorded)

    trainer = build_task_trainer(model, args, tokenizer, data, task, config)
    stopper = watch_for_signals(trainer)
    try:
        trainer.train(resume_from_checkpoint=checkpoint)
    finally:
        stopper.restore()
    raise_if_stopped(stopper, args.output_dir)
    trainer.save_model(args.output_dir)

    scores = {
        "task": config.name,
        "type": config.type,
        "metric": task.main_metric,
        "train_languages": data.train_languages,
        "selected_by": f"dev.{selected}",
        "mode": config.mode,
        "model": config.model_name_or_path,
        "init": config.init,
        "train_examples": len(data.train),
        "labels": data.labels,
        **final_report(trainer, task, data, config),
    }
    return write_results(scores, args.output_dir, results, write=args.should_save)


def main(argv: list[str] | None = None) -> int:
    """``xlm-hf finetune --config RECIPE`` (also ``python -m xlm_hf.finetune``)."""
    return run_command("finetune", DESCRIPTION, argv, _command, resumable=True)


def _command(config: str, overrides: list[str]) -> None:
    recipe = load_task_recipe(config, overrides)
    results = run(recipe)
    if recipe.training.process_index != 0:  # one table, not one per data-parallel rank
        return
    print(results["table"])
    print(f"{RESULTS}.json and {RESULTS}.md in {recipe.training.output_dir}")


if __name__ == "__main__":
    raise SystemExit(main())
