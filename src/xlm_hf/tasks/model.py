"""The model a task fine-tunes: the task type's HF head (`XLMForSequenceClassification`,
`XLMForTokenClassification`, `XLMForQuestionAnsweringSimple`) on a pretrained directory (or its
architecture with fresh weights), on the training path the recipe asks for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xlm_hf.config.sections import TaskConfig
from xlm_hf.errors import ConfigError, one_line
from xlm_hf.tasks.kinds import Kind

#: the new layers of each head class, by attribute name
HEADS = ("sequence_summary", "classifier", "qa_outputs")


def model_key(config: TaskConfig) -> str:
    return f"{config.SECTION}.model_name_or_path"


def check_model_exists(config: TaskConfig) -> None:
    """A missing local model is a one-line error naming the command that makes it (fine-tuning
    never pretrains: ``make finetune-xnli`` runs ``make pretrain`` first, a study plans both)."""
    path = Path(config.model_name_or_path)
    if (path / "config.json").exists():
        return
    if path.exists() or "/" not in config.model_name_or_path or config.pretrain_recipe is not None:
        hint = f"xlm-hf pretrain --config {config.pretrain_recipe or 'RECIPE'}"
        if config.pretrain_recipe:
            hint += f" training.output_dir={config.model_name_or_path}"
        raise ConfigError(
            f"{model_key(config)}: {config.model_name_or_path} is not an HF model directory; make it with `{hint}`"
        )
    # a hub id: from_pretrained resolves it (online)


def load_task_model(kind: Kind, config: TaskConfig, labels: list[str] | None) -> Any:
    """The task's HF model on `model_name_or_path`: its weights (or fresh ones, ``init: random``)
    with a new head, initialised and preceded by dropout as the recipe says."""
    import transformers
    from transformers import XLMConfig

    from xlm_hf.model.loading import load_weights, torch_default_linear_init

    key = model_key(config)
    cls = getattr(transformers, kind.model_class)
    settings: dict[str, Any] = kind.model_settings(labels)
    if kind.model_class == "XLMForSequenceClassification":
        settings["summary_type"] = config.pooling  # saved with the model: loading pools the same way
        if config.classifier_dropout is not None:
            settings["summary_first_dropout"] = config.classifier_dropout
    if config.init == "random":
        try:
            model = cls(XLMConfig.from_pretrained(config.model_name_or_path, **settings))
        except (OSError, ValueError) as err:
            raise ConfigError(f"{key}: cannot load {config.model_name_or_path} ({one_line(err)})") from None
    else:
        model = load_weights(cls, config.model_name_or_path, key, **settings)
    if config.linear_init == "xlm":
        head = next(getattr(model, name) for name in HEADS if hasattr(model, name))
        torch_default_linear_init(model if config.init == "random" else head)
    return model


def load_checked_tokenizer(config: TaskConfig, languages: list[str]) -> Any:
    """The model directory's tokenizer (with the recipe's pre-processing), checked against the
    model's config, the recipe's languages and its sequence length: before any data is read."""
    from transformers import XLMConfig

    from xlm_hf.model.loading import check_languages
    from xlm_hf.text.pretokenize import use_preprocessing
    from xlm_hf.text.tokenizer_files import load_tokenizer

    key = model_key(config)
    check_model_exists(config)
    try:
        model_config = XLMConfig.from_pretrained(config.model_name_or_path)
    except (OSError, ValueError) as err:
        raise ConfigError(f"{key}: cannot load {config.model_name_or_path} ({one_line(err)})") from None
    tokenizer = load_tokenizer(config.model_name_or_path, key)
    # hf or xlm: encoding applies it, and the fine-tuned model's tokenizer keeps the record
    use_preprocessing(tokenizer, config.preprocessing, f"{config.SECTION}.preprocessing")
    check_languages(model_config, tokenizer, sorted(set(languages)), key)
    if config.max_seq_length > model_config.max_position_embeddings:
        raise ConfigError(
            f"{config.SECTION}.max_seq_length: {config.max_seq_length} is more than the "
            f"{model_config.max_position_embeddings} positions of {config.model_name_or_path}"
        )
    return tokenizer


def prepare_for_training(model: Any, config: TaskConfig, args: Any) -> Any:
    """The recipe's training path (`training_kernels`, `compile`: sequence classifiers have the fused
    path) and frozen embeddings; on CUDA the fused path gets a batch worker and non-blocking copies."""
    from transformers import XLMForSequenceClassification

    from xlm_hf.model.heads import use_training_kernels

    if isinstance(model, XLMForSequenceClassification):
        model = use_training_kernels(model, config.training_kernels, config.compile)
        if model.training_path(args.device) == "fused" and args.device.type == "cuda":
            args.accelerator_config.non_blocking = (
                True  # batches built beside the steps, copied without waiting
            )
            args.dataloader_num_workers = max(args.dataloader_num_workers, 1)
    if config.freeze_embeddings:
        body = model.transformer
        for module in (body.embeddings, body.position_embeddings, getattr(body, "lang_embeddings", None)):
            if module is not None:
                module.requires_grad_(False)
    return model


def is_fused(model: Any, args: Any) -> bool:
    return getattr(model, "training_path", lambda device: "hf")(args.device) == "fused"
