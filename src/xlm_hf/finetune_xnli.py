"""XNLI fine-tuning and cross-lingual evaluation: ``python -m xlm_hf.finetune_xnli --config recipes/xnli/X.yaml``.

parse recipe → model (pretrained first if missing) → train rows → dev/test per language → Trainer
(every dev language evaluated each time; the best model on ``selected_by`` kept) → per-language
accuracy and confusion matrices → ``xnli_results.json`` + ``xnli_results.md``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xlm_hf import run_dir
from xlm_hf.config import XnliConfig
from xlm_hf.errors import ConfigError, one_line
from xlm_hf.launch import run_command
from xlm_hf.recipe_loader import load_sections

logger = logging.getLogger(__name__)

DESCRIPTION = "fine-tune on XNLI and evaluate every language"


@dataclass
class XnliRecipe:
    xnli: XnliConfig
    training: Any  # xlm_hf.training_args.XnliTrainingArguments


def load_recipe(path: str | None, overrides: list[str] | dict[str, Any] = ()) -> XnliRecipe:
    from xlm_hf.training_args import XnliTrainingArguments, check_training, resolve_mixed_precision

    sections = load_sections(
        path,
        list(overrides) if not isinstance(overrides, dict) else overrides,
        {"xnli": XnliConfig, "training": XnliTrainingArguments},
    )
    recipe = XnliRecipe(**sections)
    args = recipe.training
    if args.load_best_model_at_end and args.eval_strategy != args.save_strategy:
        raise ConfigError("training.save_strategy: must equal eval_strategy to keep the best model")
    check_training(args)
    resolve_mixed_precision(args)
    return recipe


def train_languages(config: XnliConfig) -> list[str]:
    return list(config.languages) if config.mode == "translate-train-all" else [config.train_language]


def ensure_model(config: XnliConfig) -> None:
    """Pretrain with `pretrain_recipe` when the model directory is missing (``make finetune-xnli`` alone)."""
    if (Path(config.model_name_or_path) / "config.json").exists():
        return
    if config.pretrain_recipe is None:
        if Path(config.model_name_or_path).exists() or "/" not in config.model_name_or_path:
            raise ConfigError(
                f"xnli.model_name_or_path: {config.model_name_or_path} is not an HF model directory"
            )
        return  # a hub id: from_pretrained resolves it (online)
    from xlm_hf import pretrain

    logger.info("no model at %s: running %s first", config.model_name_or_path, config.pretrain_recipe)
    recipe = pretrain.load_recipe(config.pretrain_recipe, {"training.output_dir": config.model_name_or_path})
    pretrain.run(recipe)


def run(recipe: XnliRecipe) -> dict[str, Any]:
    from transformers import set_seed

    from xlm_hf.checkpoints import raise_if_stopped, resume_checkpoint, watch_for_signals
    from xlm_hf.data.xnli import load_train_rows
    from xlm_hf.fused_training import LENGTH_BUCKET
    from xlm_hf.modeling import check_languages, use_training_kernels
    from xlm_hf.text import use_preprocessing
    from xlm_hf.tokenizer_files import load_tokenizer
    from xlm_hf.trainer import keep_auto_kernels_off_sharded_parameters
    from xlm_hf.xnli_inputs import ClassificationCollator, encode_rows
    from xlm_hf.xnli_trainer import XnliTrainer, final_report, write_results

    config, args = recipe.xnli, recipe.training
    run_dir.check(recipe)  # before any work: output_dir is empty, this recipe's, or to be overwritten
    checkpoint = resume_checkpoint(args)
    set_seed(args.seed)
    ensure_model(config)
    key = "xnli.model_name_or_path"
    model = load_classifier(config, key)
    tokenizer = load_tokenizer(config.model_name_or_path, key)
    # hf or xlm: encode_rows applies it, and the fine-tuned model's tokenizer keeps the record
    use_preprocessing(tokenizer, config.preprocessing, "xnli.preprocessing")
    langs = train_languages(config)
    check_languages(
        model.config, tokenizer, sorted(set(config.languages) | set(langs)), "xnli.model_name_or_path"
    )
    if config.max_seq_length > model.config.max_position_embeddings:
        raise ConfigError(
            f"xnli.max_seq_length: {config.max_seq_length} is more than the "
            f"{model.config.max_position_embeddings} positions of {config.model_name_or_path}"
        )

    model = use_training_kernels(model, config.training_kernels, config.compile)
    fused = model.training_path(args.device) == "fused"
    if fused and args.device.type == "cuda":  # batches built beside the steps, copied without waiting
        args.accelerator_config.non_blocking = True
        args.dataloader_num_workers = max(args.dataloader_num_workers, 1)
    if config.freeze_embeddings:
        body = model.transformer
        for module in (body.embeddings, body.position_embeddings, getattr(body, "lang_embeddings", None)):
            if module is not None:
                module.requires_grad_(False)
    train_rows = []
    for lang in langs:
        try:
            rows = [r for source in config.train_sources for r in load_train_rows(source, language=lang)]
        except (FileNotFoundError, ValueError) as err:
            if config.mode != "translate-train-all":
                raise ConfigError(f"xnli.train: {err}") from None
            logger.warning("translate-train-all: no training set for %s (%s)", lang, err)
            continue
        train_rows += [{**r, "lang": lang} for r in rows[: config.max_train_examples]]
    if not train_rows:
        raise ConfigError(f"xnli.train: no training examples in {', '.join(config.train_sources)}")
    dev = _load_split(config, "dev")
    no_dev = [lang for lang in config.languages if lang not in dev]
    if no_dev:
        raise ConfigError(f"xnli.languages: no dev data for {no_dev} in {config.eval}")
    test = _load_split(config, "test") if config.test != "no" else {}
    if config.test == "yes" and not test:
        raise ConfigError(f"xnli.eval: no test split in {config.eval}")

    encode = {"tokenizer": tokenizer, "max_len": config.max_seq_length, "num_proc": config.num_proc}
    train_ds = encode_rows(train_rows, **encode)
    # evaluation sets sorted by length: less padding per batch, the same accuracies
    dev_ds, test_ds = (
        {
            lang: encode_rows([{**r, "lang": lang} for r in rows], **encode, sort_by_length=True)
            for lang, rows in split.items()
        }
        for split in (dev, test)
    )

    if config.eval_language_ids == "train_language":
        train_id = tokenizer.lang2id[langs[0]]
        dev_ds, test_ds = (
            {lang: ds.map(lambda ex: {"langs": [train_id] * len(ex["langs"])}) for lang, ds in split.items()}
            for split in (dev_ds, test_ds)
        )

    selected = config.train_language if config.selected_by == "train_language" and len(langs) == 1 else "avg"
    if selected != "avg" and selected not in dev_ds:
        raise ConfigError(f"xnli.selected_by: no dev set for {selected!r} in {config.eval}")
    args.metric_for_best_model = f"accuracy.{selected}"  # eval_accuracy.<lang> (see xnli_trainer)
    args.greater_is_better = True
    run_dir.record(recipe)
    trainer = XnliTrainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=dev_ds,
        data_collator=ClassificationCollator(
            pad_token_id=tokenizer.pad_token_id,
            length_bucket=LENGTH_BUCKET if fused else 1,  # few compiled shapes on the fused path
            max_length=model.config.max_position_embeddings,
        ),
        processing_class=tokenizer,
    )
    keep_auto_kernels_off_sharded_parameters(trainer)
    stopper = watch_for_signals(trainer)
    trainer.train(resume_from_checkpoint=checkpoint)
    raise_if_stopped(stopper, args.output_dir)
    trainer.save_model(args.output_dir)

    results = final_report(trainer, {"dev": dev_ds, "test": test_ds})
    results = {
        "train_languages": langs,
        "selected_by": f"dev.{selected}",
        "mode": config.mode,
        "model": config.model_name_or_path,
        "init": config.init,
        "train_examples": len(train_ds),
        **results,
    }
    return write_results(results, args.output_dir, write=args.should_save)


def load_classifier(config: XnliConfig, key: str):
    """`XLMForSequenceClassification` of `model_name_or_path`: its weights (or fresh ones, ``init:
    random``) with a new classifier, initialised and preceded by dropout as the recipe says."""
    from transformers import XLMConfig, XLMForSequenceClassification

    from xlm_hf.data.xnli import LABELS
    from xlm_hf.modeling import load_weights, torch_default_linear_init

    settings: dict[str, Any] = {
        "num_labels": len(LABELS),
        "id2label": dict(enumerate(LABELS)),
        "label2id": {name: i for i, name in enumerate(LABELS)},
    }
    if config.classifier_dropout is not None:
        settings["summary_first_dropout"] = config.classifier_dropout
    if config.init == "random":
        try:
            model = XLMForSequenceClassification(
                XLMConfig.from_pretrained(config.model_name_or_path, **settings)
            )
        except (OSError, ValueError) as err:
            raise ConfigError(f"{key}: cannot load {config.model_name_or_path} ({one_line(err)})") from None
    else:
        model = load_weights(XLMForSequenceClassification, config.model_name_or_path, key, **settings)
    if config.linear_init == "xlm":
        torch_default_linear_init(model if config.init == "random" else model.sequence_summary)
    return model


def _load_split(config: XnliConfig, split: str) -> dict[str, list[dict]]:
    from xlm_hf.data.xnli import load_xnli_split

    try:
        return load_xnli_split(config.eval, split, config.languages)
    except FileNotFoundError as err:
        if split == "test" and config.test == "auto":
            logger.info("no test split in %s: reporting dev only", config.eval)
            return {}
        raise ConfigError(f"xnli.eval: {err}") from None
    except ValueError as err:
        raise ConfigError(f"xnli.eval: {err}") from None


def main(argv: list[str] | None = None) -> int:
    """``xlm-hf finetune-xnli --config RECIPE`` (also ``python -m xlm_hf.finetune_xnli``)."""
    return run_command("finetune-xnli", DESCRIPTION, argv, _command, resumable=True)


def _command(config: str, overrides: list[str]) -> None:
    recipe = load_recipe(config, overrides)
    results = run(recipe)
    print(results["table"])
    print(f"xnli_results.json and xnli_results.md in {recipe.training.output_dir}")


if __name__ == "__main__":
    raise SystemExit(main())
