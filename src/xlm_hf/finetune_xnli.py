"""XNLI fine-tuning and cross-lingual evaluation: ``python -m xlm_hf.finetune_xnli --config recipes/xnli/X.yaml``.

parse recipe → model (pretrained first if missing) → train rows → dev/test per language → Trainer
(every dev language evaluated each time; the best model on ``selected_by`` kept) → per-language
accuracy and confusion matrices → ``xnli_results.json`` + ``xnli_results.md``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xlm_hf import run_dir
from xlm_hf.config import (
    ConfigError,
    XnliTrainingArguments,
    check_training,
    load_sections,
    resolve_mixed_precision,
)
from xlm_hf.errors import one_line

logger = logging.getLogger(__name__)

XNLI_LANGUAGES = ["en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "th", "zh", "hi", "sw", "ur"]


@dataclass
class XnliConfig:
    """What to fine-tune, on which training data, evaluated on which languages."""

    model_name_or_path: str
    train: str  # file (TSV / JSONL / XNLI-MT), dir of multinli.train.<lang>.tsv, or hf:<name>
    eval: str  # DIR/{dev,test}/<lang>.tsv, an XNLI-1.0 dir or file, or hf:facebook/xnli
    languages: list[str] = field(default_factory=lambda: list(XNLI_LANGUAGES))
    mode: Literal["zero-shot", "translate-train", "translate-train-all"] = "zero-shot"
    train_language: str = "en"  # zero-shot: en; translate-train: the language trained on
    selected_by: Literal["train_language", "average"] = "train_language"
    test: Literal["auto", "yes", "no"] = "auto"  # auto: evaluate test when the source has it
    max_seq_length: int = 256
    max_train_examples: int | None = None
    pretrain_recipe: str | None = None  # run this pretraining first when model_name_or_path is missing
    # pretrained: the weights of model_name_or_path; random: only its config and tokenizer, with fresh
    # weights drawn from training.seed (the "no pretraining" baseline of a study, same architecture)
    init: Literal["pretrained", "random"] = "pretrained"
    # keep word, position and language embeddings as pretrained: the shared embedding space is what
    # carries English supervision to the other languages, and a small model's fine-tuning can move it
    freeze_embeddings: bool = False
    # the language id given in `langs` at evaluation: the evaluated language (the paper) or the
    # training language (a diagnostic: does the language embedding help or hurt transfer?)
    eval_language_ids: Literal["evaluated", "train_language"] = "evaluated"
    num_proc: int = 1
    # as the model section's: auto runs the fused GPU path on CUDA (fused_training), HF's forward
    # elsewhere; fused anywhere; hf never. compile: torch.compile its layer (auto: on CUDA)
    training_kernels: Literal["auto", "fused", "hf"] = "auto"
    compile: bool | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        single_file = Path(self.train).is_file() or Path(self.train).suffix in (".tsv", ".jsonl", ".json")
        if self.mode != "zero-shot" and single_file:
            raise ConfigError(
                f"xnli.train: {self.mode} needs one training set per language: a directory of "
                "multinli.train.<lang>.tsv files or hf:<name>, not a single file"
            )
        if not self.languages:
            raise ConfigError("xnli.languages: must list at least one language")
        if self.mode == "zero-shot" and self.train_language != "en":
            raise ConfigError("xnli.train_language: zero-shot trains on English (use mode: translate-train)")
        if self.mode != "translate-train-all" and self.train_language not in self.languages:
            raise ConfigError(f"xnli.train_language: {self.train_language!r} is not in xnli.languages")
        if self.max_seq_length < 8:
            raise ConfigError("xnli.max_seq_length: must be >= 8")
        if self.max_train_examples is not None and self.max_train_examples < 1:
            raise ConfigError("xnli.max_train_examples: must be >= 1")
        if self.eval_language_ids == "train_language" and self.mode == "translate-train-all":
            raise ConfigError("xnli.eval_language_ids: train_language needs one training language")
        if self.num_proc < 1:
            raise ConfigError("xnli.num_proc: must be >= 1")


@dataclass
class XnliRecipe:
    xnli: XnliConfig
    training: XnliTrainingArguments


def load_recipe(path: str | None, overrides: list[str] | dict[str, Any] = ()) -> XnliRecipe:
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
    from transformers import XLMForSequenceClassification, XLMTokenizer, set_seed

    from xlm_hf.checkpoints import raise_if_stopped, watch_for_signals
    from xlm_hf.data.xnli import LABELS, load_train_rows
    from xlm_hf.fused_training import LENGTH_BUCKET
    from xlm_hf.modeling import check_languages, use_training_kernels
    from xlm_hf.pretrain import resume_checkpoint
    from xlm_hf.trainer import keep_auto_kernels_off_sharded_parameters
    from xlm_hf.xnli_training import (
        ClassificationCollator,
        XnliTrainer,
        encode_rows,
        final_report,
        write_results,
    )

    config, args = recipe.xnli, recipe.training
    run_dir.check(recipe)  # before any work: output_dir is empty, this recipe's, or to be overwritten
    set_seed(args.seed)
    ensure_model(config)
    try:
        tokenizer = XLMTokenizer.from_pretrained(config.model_name_or_path)
        labels = {
            "num_labels": len(LABELS),
            "id2label": dict(enumerate(LABELS)),
            "label2id": {name: i for i, name in enumerate(LABELS)},
        }
        if config.init == "random":
            from transformers import XLMConfig

            model = XLMForSequenceClassification(
                XLMConfig.from_pretrained(config.model_name_or_path, **labels)
            )
        else:
            model = XLMForSequenceClassification.from_pretrained(config.model_name_or_path, **labels)
    except (
        OSError,
        ValueError,
        TypeError,
    ) as err:  # a broken directory (no vocab.json: TypeError), a bad hub id
        raise ConfigError(
            f"xnli.model_name_or_path: cannot load {config.model_name_or_path} ({one_line(err)})"
        ) from None
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
            rows = load_train_rows(config.train, language=lang)
        except (FileNotFoundError, ValueError) as err:
            if config.mode != "translate-train-all":
                raise ConfigError(f"xnli.train: {err}") from None
            logger.warning("translate-train-all: no training set for %s (%s)", lang, err)
            continue
        train_rows += [{**r, "lang": lang} for r in rows[: config.max_train_examples]]
    if not train_rows:
        raise ConfigError(f"xnli.train: no training examples in {config.train}")
    dev = _load_split(config, "dev")
    no_dev = [lang for lang in config.languages if lang not in dev]
    if no_dev:
        raise ConfigError(f"xnli.languages: no dev data for {no_dev} in {config.eval}")
    test = _load_split(config, "test") if config.test != "no" else {}
    if config.test == "yes" and not test:
        raise ConfigError(f"xnli.eval: no test split in {config.eval}")

    encode = {"tokenizer": tokenizer, "max_len": config.max_seq_length, "num_proc": config.num_proc}
    train_ds = encode_rows(train_rows, **encode)
    dev_ds = {lang: encode_rows([{**r, "lang": lang} for r in rows], **encode) for lang, rows in dev.items()}
    test_ds = {
        lang: encode_rows([{**r, "lang": lang} for r in rows], **encode) for lang, rows in test.items()
    }

    if config.eval_language_ids == "train_language":
        train_id = tokenizer.lang2id[langs[0]]
        dev_ds, test_ds = (
            {lang: ds.map(lambda ex: {"langs": [train_id] * len(ex["langs"])}) for lang, ds in split.items()}
            for split in (dev_ds, test_ds)
        )

    selected = config.train_language if config.selected_by == "train_language" and len(langs) == 1 else "avg"
    if selected != "avg" and selected not in dev_ds:
        raise ConfigError(f"xnli.selected_by: no dev set for {selected!r} in {config.eval}")
    args.metric_for_best_model = f"{selected}_accuracy"
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
    trainer.train(resume_from_checkpoint=resume_checkpoint(args))
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
    import sys

    from xlm_hf.cli import main as cli_main

    return cli_main(["finetune-xnli", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    raise SystemExit(main())
