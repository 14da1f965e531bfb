"""The model an XNLI recipe fine-tunes: `XLMForSequenceClassification` of a pretrained directory
(or its architecture with fresh weights), on the training path the recipe asks for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xlm_hf.config.sections import XnliConfig
from xlm_hf.errors import ConfigError, one_line

KEY = "xnli.model_name_or_path"


def check_model_exists(config: XnliConfig) -> None:
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
            f"{KEY}: {config.model_name_or_path} is not an HF model directory; make it with `{hint}`"
        )
    # a hub id: from_pretrained resolves it (online)


def load_classifier(config: XnliConfig, key: str = KEY):
    """`XLMForSequenceClassification` of `model_name_or_path`: its weights (or fresh ones, ``init:
    random``) with a new classifier, initialised and preceded by dropout as the recipe says."""
    from transformers import XLMConfig, XLMForSequenceClassification

    from xlm_hf.model.loading import load_weights, torch_default_linear_init
    from xlm_hf.xnli.data import LABELS

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


def load_model_and_tokenizer(config: XnliConfig) -> tuple[Any, Any]:
    """The classifier and the model directory's tokenizer (with the recipe's pre-processing), checked
    against the recipe's languages and sequence length."""
    from xlm_hf.model.loading import check_languages
    from xlm_hf.text.pretokenize import use_preprocessing
    from xlm_hf.text.tokenizer_files import load_tokenizer
    from xlm_hf.xnli.datasets import train_languages

    check_model_exists(config)
    model = load_classifier(config)
    tokenizer = load_tokenizer(config.model_name_or_path, KEY)
    # hf or xlm: encode_rows applies it, and the fine-tuned model's tokenizer keeps the record
    use_preprocessing(tokenizer, config.preprocessing, "xnli.preprocessing")
    languages = sorted(set(config.languages) | set(train_languages(config)))
    check_languages(model.config, tokenizer, languages, KEY)
    if config.max_seq_length > model.config.max_position_embeddings:
        raise ConfigError(
            f"xnli.max_seq_length: {config.max_seq_length} is more than the "
            f"{model.config.max_position_embeddings} positions of {config.model_name_or_path}"
        )
    return model, tokenizer


def prepare_for_training(model: Any, config: XnliConfig, args: Any) -> Any:
    """The recipe's training path (`training_kernels`, `compile`) and frozen embeddings; on CUDA the
    fused path gets a batch worker and non-blocking copies."""
    from xlm_hf.model.heads import use_training_kernels

    model = use_training_kernels(model, config.training_kernels, config.compile)
    if model.training_path(args.device) == "fused" and args.device.type == "cuda":
        args.accelerator_config.non_blocking = True  # batches built beside the steps, copied without waiting
        args.dataloader_num_workers = max(args.dataloader_num_workers, 1)
    if config.freeze_embeddings:
        body = model.transformer
        for module in (body.embeddings, body.position_embeddings, getattr(body, "lang_embeddings", None)):
            if module is not None:
                module.requires_grad_(False)
    return model
