"""XNLI fine-tuning and cross-lingual evaluation: ``xlm-hf finetune-xnli --config recipes/xnli/X.yaml``
(also ``python -m xlm_hf.finetune_xnli``).

recipe → model and tokenizer (`xnli.model`; a missing model is an error naming the command that
makes it) → training, dev and test sets (`xnli.datasets`) → `XnliTrainer` (every dev language
evaluated each time; the best model on ``selected_by`` kept) → per-language accuracy and confusion
matrices → ``xnli_results.json`` + ``xnli_results.md``.
"""

from __future__ import annotations

from typing import Any

from xlm_hf.config.recipes import XnliRecipe, load_xnli_recipe
from xlm_hf.launch import run_command
from xlm_hf.training import run_dir

DESCRIPTION = "fine-tune on XNLI and evaluate every language"


def run(recipe: XnliRecipe) -> dict[str, Any]:
    from transformers import set_seed

    from xlm_hf.training.checkpoints import raise_if_stopped, resume_checkpoint, watch_for_signals
    from xlm_hf.xnli.datasets import load_xnli_data, selected_language
    from xlm_hf.xnli.model import load_model_and_tokenizer, prepare_for_training
    from xlm_hf.xnli.trainer import build_xnli_trainer, final_report, write_results

    config, args = recipe.xnli, recipe.training
    run_dir.check(recipe)  # before any work: output_dir is empty, this recipe's, or to be overwritten
    checkpoint = resume_checkpoint(args)
    set_seed(args.seed)
    model, tokenizer = load_model_and_tokenizer(config)
    data = load_xnli_data(config, tokenizer)  # every input checked before the first write
    model = prepare_for_training(model, config, args)
    selected = selected_language(config, data)
    args.metric_for_best_model, args.greater_is_better = f"accuracy.{selected}", True
    run_dir.record(recipe)

    trainer = build_xnli_trainer(model, args, tokenizer, data)
    stopper = watch_for_signals(trainer)
    trainer.train(resume_from_checkpoint=checkpoint)
    raise_if_stopped(stopper, args.output_dir)
    trainer.save_model(args.output_dir)

    results = {
        "train_languages": data.train_languages,
        "selected_by": f"dev.{selected}",
        "mode": config.mode,
        "model": config.model_name_or_path,
        "init": config.init,
        "train_examples": len(data.train),
        **final_report(trainer, {"dev": data.dev, "test": data.test}),
    }
    return write_results(results, args.output_dir, write=args.should_save)


def main(argv: list[str] | None = None) -> int:
    """``xlm-hf finetune-xnli --config RECIPE`` (also ``python -m xlm_hf.finetune_xnli``)."""
    return run_command("finetune-xnli", DESCRIPTION, argv, _command, resumable=True)


def _command(config: str, overrides: list[str]) -> None:
    recipe = load_xnli_recipe(config, overrides)
    results = run(recipe)
    print(results["table"])
    print(f"xnli_results.json and xnli_results.md in {recipe.training.output_dir}")


if __name__ == "__main__":
    raise SystemExit(main())
