"""XLM models from recipes: a new `XLMConfig` tied to the tokenizer, or an existing HF XLM directory.

`XLMWithTargetedLMHead` is `XLMWithLMHeadModel` with one change: given ``labels``, it projects
only the target positions to the vocabulary (as the original XLM does), instead of building the
[batch, seq, vocab] logits, and it can switch causal attention per batch (CLM steps in an MLM run).
The weights keep the standard layout, and `save_pretrained` records the plain HF class, so the
saved directory loads with `XLMWithLMHeadModel.from_pretrained` and no xlm-hf code.

HF's XLM computes attention by hand (no ``attn_implementation``); `use_sdpa_attention` switches the
attention modules of one model instance to `torch.nn.functional.scaled_dot_product_attention`
(recipe ``model.attention: sdpa``). Same parameters and outputs; nothing in transformers is patched.

Which code runs a training step (recipe ``model.training_kernels``, `training_path`): on CPU
`cpu_kernels` (``xlm_hf``), on CUDA `fused_training` (``fused``: no host sync, fused attention, a
compiled layer), or HF's forward (``hf``). `FusedXLMForSequenceClassification` brings the fused
path to XNLI fine-tuning; it too saves as the plain HF class.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from transformers import XLMConfig, XLMForSequenceClassification, XLMWithLMHeadModel
from transformers.cache_utils import EncoderDecoderCache
from transformers.modeling_outputs import MaskedLMOutput, SequenceClassifierOutput
from transformers.models.xlm.modeling_xlm import MultiHeadAttention

from xlm_hf import cpu_kernels, fused_training
from xlm_hf.config import DataConfig, ModelConfig
from xlm_hf.errors import ConfigError, one_line
from xlm_hf.special_tokens import IGNORE_INDEX

logger = logging.getLogger(__name__)


class _TrainingPaths:
    """The recipe's ``training_kernels`` and ``compile`` on a model, and what they resolve to."""

    training_kernels = "auto"  # auto | xlm_hf | fused | hf
    compile_encoder: bool | str = "auto"  # recipe model.compile: true | false | auto (CUDA only)

    def training_path(self, device: torch.device | str) -> str:
        """The code that runs a training step on `device`: ``xlm_hf`` (`cpu_kernels`, tuned for
        CPUs), ``fused`` (`fused_training`) or ``hf``. ``auto``: xlm_hf on CPU, fused on CUDA, HF's
        elsewhere (MPS, XPU: not measured)."""
        if self.config.asm:  # the adaptive softmax is HF's alone
            return "hf"
        if self.training_kernels != "auto":
            return self.training_kernels
        return {"cpu": "xlm_hf", "cuda": "fused"}.get(torch.device(device).type, "hf")

    def compiles(self, device: torch.device | str) -> bool:
        """Whether the fused path runs its layers through ``torch.compile``."""
        if self.compile_encoder == "auto":
            return torch.device(device).type == "cuda"
        return bool(self.compile_encoder)


class _SavedAsPlainHF:
    """`save_pretrained` records the HF class this one extends, so the directory loads without xlm-hf."""

    plain_hf_class = ""

    def save_pretrained(self, save_directory, *args, **kwargs):  # type: ignore[override]
        super().save_pretrained(save_directory, *args, **kwargs)
        # the subclass only changes how training steps are computed: record the plain HF class
        self.config.architectures = [self.plain_hf_class]
        self.config.save_pretrained(save_directory)


class XLMWithTargetedLMHead(_TrainingPaths, _SavedAsPlainHF, XLMWithLMHeadModel):
    """`XLMWithLMHeadModel` whose loss and logits cover the target positions only.

    With ``labels``, ``logits`` has shape [n_targets, vocab] in row-major order of the targets;
    a training step on `cpu_kernels`'s or `fused_training`'s path returns the loss only.
    Without labels it behaves exactly like the parent (full logits), so pipelines work on it too.
    Given ``num_items_in_batch`` (the targets of a whole optimizer step: every accumulated
    micro-batch on every rank, counted by `Trainer`), the loss is the target sum divided by it, so
    gradient accumulation and data parallelism give the gradient of one big batch. ``padded`` and
    ``target_index`` (from `fused_training.prepare_batch`) spare the fused path its host syncs.
    """

    accepts_loss_kwargs = True  # Trainer then counts targets across micro-batches and ranks
    plain_hf_class = "XLMWithLMHeadModel"

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        langs: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        causal: bool | None = None,
        num_items_in_batch: torch.Tensor | int | None = None,
        padded: bool | None = None,
        target_index: torch.Tensor | None = None,
    ) -> MaskedLMOutput:
        if labels is None and causal is None:
            return super().forward(
                input_ids, attention_mask=attention_mask, langs=langs, position_ids=position_ids
            )
        causal = self.transformer.causal if causal is None else bool(causal)
        path = self.step_path(input_ids) if labels is not None else "hf"
        if path == "xlm_hf":
            sdpa = isinstance(self.transformer.attentions[0], SdpaMultiHeadAttention)
            tied_weights = self.pred_layer.proj.weight is self.transformer.embeddings.weight
            tied = cpu_kernels.TiedGradient() if tied_weights else None
            hidden = cpu_kernels.encode(
                self.transformer, input_ids, attention_mask, langs, position_ids, causal, sdpa, tied
            )
            targets = labels != IGNORE_INDEX
            loss = cpu_kernels.target_cross_entropy(
                hidden[targets], self.pred_layer.proj, labels[targets], num_items_in_batch, tied
            )
            return MaskedLMOutput(loss=loss)  # no logits: they were never kept
        if path == "fused":
            hidden = fused_training.encode(
                self.transformer,
                input_ids,
                attention_mask,
                langs,
                position_ids,
                causal,
                padded,
                self.compiles(input_ids.device),
            )
            rows, targets = fused_training.gather_targets(hidden, labels, target_index)
            loss = fused_training.target_cross_entropy(
                rows, self.pred_layer.proj, targets, num_items_in_batch, self.compiles(input_ids.device)
            )
            return MaskedLMOutput(loss=loss)  # no logits: they were never kept
        previous = self.transformer.causal
        self.transformer.causal = causal
        try:
            hidden = self.transformer(
                input_ids, attention_mask=attention_mask, langs=langs, position_ids=position_ids
            ).last_hidden_state
        finally:
            self.transformer.causal = previous
        if labels is None:
            return MaskedLMOutput(logits=self.pred_layer.proj(hidden))
        targets = labels != IGNORE_INDEX
        logits = self.pred_layer.proj(hidden[targets])
        if num_items_in_batch is None:
            loss = nn.functional.cross_entropy(logits.float(), labels[targets])
        else:  # a rank may hold no target of the step: its sum is 0, never NaN
            loss = nn.functional.cross_entropy(logits.float(), labels[targets], reduction="sum")
            loss = loss / num_items_in_batch
        return MaskedLMOutput(loss=loss, logits=logits)

    def step_path(self, input_ids: torch.Tensor) -> str:
        """`training_path` for this forward: a training step with gradients takes it, evaluation
        takes HF's; `cpu_kernels` also leaves autocast (`bf16`/`fp16`) to HF's forward."""
        if not (self.training and torch.is_grad_enabled()):
            return "hf"
        path = self.training_path(input_ids.device)
        if path == "xlm_hf" and torch.is_autocast_enabled(input_ids.device.type):
            return "hf"
        return path


class FusedXLMForSequenceClassification(_TrainingPaths, _SavedAsPlainHF, XLMForSequenceClassification):
    """`XLMForSequenceClassification` whose forward runs `fused_training` where it applies: the
    fused training path (``training_kernels`` ``fused``, or ``auto`` on CUDA), single-label
    classification from ``input_ids``, in training and evaluation alike (the same function, with
    dropout off). Anything else (other inputs, returned attentions, regression) is HF's forward."""

    plain_hf_class = "XLMForSequenceClassification"

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        langs=None,
        token_type_ids=None,
        position_ids=None,
        lengths=None,
        cache=None,
        inputs_embeds=None,
        labels=None,
        output_attentions=None,
        output_hidden_states=None,
        return_dict=None,
        **kwargs,
    ):
        hf_inputs = (token_type_ids, lengths, cache, inputs_embeds, output_attentions, output_hidden_states)
        single_label = (
            self.config.problem_type in (None, "single_label_classification") and self.num_labels > 1
        )
        if (
            input_ids is None
            or any(value is not None and value is not False for value in hf_inputs)
            or return_dict is False
            or not single_label
            or (labels is not None and labels.dtype not in (torch.long, torch.int))
            or self.training_path(input_ids.device) != "fused"
        ):
            return super().forward(
                input_ids,
                attention_mask,
                langs,
                token_type_ids,
                position_ids,
                lengths,
                cache,
                inputs_embeds,
                labels,
                output_attentions,
                output_hidden_states,
                return_dict,
                **kwargs,
            )
        hidden = fused_training.encode(
            self.transformer,
            input_ids,
            attention_mask,
            langs,
            position_ids,
            self.transformer.causal,
            compiled=self.compiles(input_ids.device),
        )
        logits = self.sequence_summary(hidden)
        loss = None
        if labels is not None:
            self.config.problem_type = "single_label_classification"  # as HF's forward records it
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return SequenceClassifierOutput(loss=loss, logits=logits)


def use_training_kernels(
    model: XLMForSequenceClassification, kernels: str = "auto", compile_encoder: bool | str = "auto"
) -> FusedXLMForSequenceClassification:
    """Give an HF classification model the fused path, in place (only its class changes: same
    parameters, same state dict, and it saves as `XLMForSequenceClassification`)."""
    model.__class__ = FusedXLMForSequenceClassification
    model.training_kernels, model.compile_encoder = kernels, compile_encoder
    return model


class SdpaMultiHeadAttention(MultiHeadAttention):
    """XLM self-attention through `scaled_dot_product_attention` (fused kernel, no [q, k] scores kept).

    Used for self-attention without returned weights; anything else (cross-attention, returned
    attention weights, a cache that already holds keys) takes the parent's path. In training the
    per-forward key/value cache that `XLMModel` creates is not filled: nothing reads it, and filling
    it copies every layer's keys and values.
    """

    def forward(self, input, mask, kv=None, cache=None, output_attentions=False, **kwargs):
        if kv is not None or output_attentions or (cache is not None and cache.get_seq_length() > 0):
            return super().forward(
                input, mask, kv=kv, cache=cache, output_attentions=output_attentions, **kwargs
            )
        bs, qlen, _ = input.size()
        q, k, v = (
            lin(input).view(bs, qlen, self.n_heads, self.head_dim).transpose(1, 2)
            for lin in (self.q_lin, self.k_lin, self.v_lin)
        )
        if cache is not None and not self.training:
            layers = cache.self_attention_cache if isinstance(cache, EncoderDecoderCache) else cache
            k, v = layers.update(k, v, self.layer_id, kwargs=kwargs)
        # mask: [bs, klen] (padding) or [bs, klen, klen] (causal); True where attention is allowed.
        # Without an explicit mask the fused (flash) kernels apply: a causal mask is `is_causal`
        # (right padding only ever follows a query's keys), a padding mask with no padding is none.
        causal = mask.dim() == 3 and k.size(2) == qlen
        allowed = None
        if not causal and not bool(mask.all()):
            allowed = (mask != 0).view((bs, 1, qlen, -1) if mask.dim() == 3 else (bs, 1, 1, -1))
        context = nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0, is_causal=causal
        )
        context = context.transpose(1, 2).reshape(bs, qlen, self.n_heads * self.head_dim)
        return (self.out_lin(context),)


ATTENTION_CLASSES = {"eager": MultiHeadAttention, "sdpa": SdpaMultiHeadAttention}


def set_attention(model: nn.Module, attention: str) -> nn.Module:
    """Switch every XLM attention module of `model` to ``eager`` (HF's) or ``sdpa``, in place.

    Only the modules' class changes (same parameters, same state dict), so saving and loading
    are unaffected and the saved model is plain HF.
    """
    cls = ATTENTION_CLASSES[attention]
    for module in model.modules():
        if isinstance(module, MultiHeadAttention):
            module.__class__ = cls
    return model


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
