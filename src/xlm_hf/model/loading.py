"""Models from recipes: a new `XLMConfig` tied to the tokenizer, or the weights of an existing HF
XLM directory, with every mismatch (languages, vocabulary, positions, an unreadable weights file)
a one-line `ConfigError` naming the recipe key, found before any corpus is read."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn
from transformers import XLMConfig

from xlm_hf.config.sections import DataConfig, ModelConfig
from xlm_hf.errors import ConfigError, one_line
from xlm_hf.model.heads import XLMWithTargetedLMHead, set_attention

logger = logging.getLogger(__name__)


def torch_default_linear_init(module: nn.Module) -> nn.Module:
    """Draw every `nn.Linear` of `module` again as PyTorch draws it when it is built: weights
    kaiming-uniform, biases uniform, both within ±1/sqrt(fan_in). The original XLM leaves its
    Linear layers so (HF draws N(0, 0.02) weights and zero biases). A Linear whose weight is an
    embedding's (XLM's output layer, tied to the word embeddings) keeps it: only its bias is drawn.
    Randomness comes from the global generator (seeded by ``training.seed``)."""
    embedding_weights = {id(m.weight) for m in module.modules() if isinstance(m, nn.Embedding)}
    with torch.no_grad():
        for linear in (m for m in module.modules() if isinstance(m, nn.Linear)):
            if id(linear.weight) not in embedding_weights:
                linear.reset_parameters()
            elif linear.bias is not None:
                bound = linear.in_features**-0.5
                nn.init.uniform_(linear.bias, -bound, bound)
    return module


def build_config(model: ModelConfig, tokenizer) -> XLMConfig:
    """`XLMConfig` whose vocabulary, special ids and languages come from `tokenizer`."""
    lang2id = dict(tokenizer.lang2id or {})
    return XLMConfig(
        vocab_size=len(tokenizer),
        emb_dim=model.emb_dim,
        n_layers=model.n_layers,
        n_heads=model.n_heads,
        dropout=model.dropout,
        attention_dropout=model.attention_dropout,
        gelu_activation=model.gelu_activation,
        sinusoidal_embeddings=model.sinusoidal_embeddings,
        causal=model.causal,
        max_position_embeddings=model.max_position_embeddings,
        n_langs=max(1, len(lang2id)),
        use_lang_emb=model.use_lang_emb,
        lang2id=lang2id,
        id2lang={i: lang for lang, i in lang2id.items()},
        embed_init_std=model.emb_dim**-0.5,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.sep_token_id,
        bos_token_id=tokenizer.bos_token_id,
        unk_index=tokenizer.unk_token_id,
        mask_index=tokenizer.mask_token_id,
        mask_token_id=tokenizer.mask_token_id,
        lang_id=0,
    )


def check_languages(config: XLMConfig, tokenizer, languages: list[str], where: str) -> None:
    """The model, its tokenizer and the recipe must agree on language ids."""
    model_langs = dict(config.lang2id or {})
    tok_langs = dict(tokenizer.lang2id or {})
    if model_langs and tok_langs and model_langs != tok_langs:
        raise ConfigError(
            f"{where}: the model's lang2id {model_langs} differs from the tokenizer's {tok_langs}"
        )
    known = model_langs or tok_langs
    missing = [lang for lang in languages if lang not in known]
    if missing:
        raise ConfigError(f"{where}: languages {missing} are not in the model's lang2id {sorted(known)}")
    if getattr(config, "use_lang_emb", True) and config.n_langs > 1:
        beyond = [lang for lang in languages if known[lang] >= config.n_langs]
        if beyond:
            raise ConfigError(
                f"{where}: the model has {config.n_langs} language embeddings, too few for the ids of {beyond}"
            )
    if len(tokenizer) != config.vocab_size:
        raise ConfigError(
            f"{where}: the tokenizer has {len(tokenizer)} tokens but the model's vocabulary has {config.vocab_size}"
        )


def load_weights(cls, path: str, key: str, **kwargs):
    """``cls.from_pretrained(path)``, with a truncated or corrupt weights file (or a missing one)
    reported as one line naming `key` and the file, instead of a safetensors traceback.

    transformers' own load report (a table of new and unused weights, on every XNLI run) is
    replaced by one INFO line: a new classification head is expected, not a warning.
    """
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model, info = cls.from_pretrained(path, output_loading_info=True, **kwargs)
    except (OSError, ValueError, TypeError, RuntimeError) as err:
        reason = one_line(err)
    except Exception as err:  # safetensors' SafetensorError derives from Exception only
        if type(err).__name__ != "SafetensorError":
            raise
        reason = f"{one_line(err)}; the weights file is truncated or corrupt"
    else:
        new = sorted(info.get("missing_keys", ()))
        if new:
            logger.info("%s: %d new weights initialised (%s)", path, len(new), ", ".join(new))
        return model
    finally:
        hf_logging.set_verbosity(verbosity)
    raise ConfigError(f"{key}: cannot load {path} ({reason})")


def _check_model_dir(path: str) -> None:
    if Path(path).exists() and not (Path(path) / "config.json").exists():
        raise ConfigError(f"model.model_name_or_path: {path} has no config.json (not an HF model directory)")


def check_model_inputs(model: ModelConfig, data: DataConfig, tokenizer) -> None:
    """Before any corpus is read: the tokenizer knows every language of the recipe, and a model
    continued from `model_name_or_path` agrees with it and has positions for the sequence lengths."""
    tok_langs = dict(tokenizer.lang2id or {})
    unknown = [lang for lang in data.languages if lang not in tok_langs]
    if unknown:
        raise ConfigError(
            f"data.languages: {unknown} are not in the lang2id {sorted(tok_langs)} of the tokenizer "
            f"{tokenizer.name_or_path}"
        )
    if not model.model_name_or_path:
        return
    path = model.model_name_or_path
    _check_model_dir(path)
    try:
        config = XLMConfig.from_pretrained(path)
    except (OSError, ValueError) as err:  # an unreadable config.json, an unknown hub id
        raise ConfigError(f"model.model_name_or_path: cannot load {path} ({one_line(err)})") from None
    check_languages(config, tokenizer, data.languages, "model.model_name_or_path")
    lengths = {"data.max_seq_length": data.max_seq_length}
    if "tlm" in data.objectives:
        lengths["data.tlm_max_len"] = data.tlm_max_len + 2  # a TLM half: </s> sentence </s>
    for key, length in lengths.items():
        if length > config.max_position_embeddings:
            raise ConfigError(
                f"{key}: sequences of {length} tokens do not fit the {config.max_position_embeddings} "
                f"positions of {path}"
            )


def load_pretraining_model(model: ModelConfig, tokenizer, languages: list[str]) -> XLMWithTargetedLMHead:
    """A new model from the recipe, or the weights of `model_name_or_path` (languages checked)."""
    if model.model_name_or_path:
        path = model.model_name_or_path
        _check_model_dir(path)
        loaded = load_weights(XLMWithTargetedLMHead, path, "model.model_name_or_path")
        check_languages(loaded.config, tokenizer, languages, "model.model_name_or_path")
        loaded.config.mask_token_id = tokenizer.mask_token_id  # HF's XLMConfig default (0) is wrong
    else:
        config = build_config(model, tokenizer)
        check_languages(config, tokenizer, languages, "model")
        loaded = XLMWithTargetedLMHead(config)
        if model.init == "xlm":
            torch_default_linear_init(loaded)
    loaded.training_kernels, loaded.compile_encoder = model.training_kernels, model.compile
    return set_attention(loaded, model.attention)
