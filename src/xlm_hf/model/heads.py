"""The model classes xlm-hf trains: HF's XLM classes with the toolkit's training paths.

`XLMWithTargetedLMHead` is `XLMWithLMHeadModel` with one change: given ``labels``, it projects
only the target positions to the vocabulary (as the original XLM does), instead of building the
[batch, seq, vocab] logits, and it can switch causal attention per batch (CLM steps in an MLM run).
The weights keep the standard layout, and `save_pretrained` records the plain HF class, so the
saved directory loads with `XLMWithLMHeadModel.from_pretrained` and no xlm-hf code.

HF's XLM computes attention by hand (no ``attn_implementation``); `set_attention` switches the
attention modules of one model instance to `torch.nn.functional.scaled_dot_product_attention`
(recipe ``model.attention: sdpa``). Same parameters and outputs; nothing in transformers is patched.

Which code runs a training step (recipe ``model.training_kernels``, `training_path`): on CPU
`cpu_kernels` (``xlm_hf``), on CUDA `fused_training` (``fused``: no host sync, fused attention, a
compiled layer), or HF's forward (``hf``). `FusedXLMForSequenceClassification` brings the fused
path to XNLI fine-tuning; it too saves as the plain HF class.
"""

from __future__ import annotations

import logging

import torch
from torch import nn
from torch.nn import functional as F
from transformers import XLMForSequenceClassification, XLMWithLMHeadModel
from transformers.cache_utils import EncoderDecoderCache
from transformers.modeling_outputs import MaskedLMOutput, SequenceClassifierOutput
from transformers.models.xlm.modeling_xlm import MultiHeadAttention

from xlm_hf.model import cpu_kernels, fused_training
from xlm_hf.text.special_tokens import IGNORE_INDEX

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

    def fused_hidden(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        langs: torch.Tensor | None,
        position_ids: torch.Tensor | None,
        causal: bool,
        padded: bool | None = None,
    ) -> torch.Tensor:
        """The encoder's last hidden state on the fused path (`fused_training.encode`), compiled
        where the recipe says."""
        compiled = self.compiles(input_ids.device)
        return fused_training.encode(
            self.transformer, input_ids, attention_mask, langs, position_ids, causal, padded, compiled
        )


class _SavedAsPlainHF:
    """`save_pretrained` records the HF class this one extends, so the directory loads without xlm-hf."""

    plain_hf_class = ""

    def save_pretrained(self, save_directory, *args, state_dict=None, **kwargs):  # type: ignore[override]
        if state_dict is not None:
            state_dict = without_tied_copies(self, state_dict)
        super().save_pretrained(save_directory, *args, state_dict=state_dict, **kwargs)
        # the subclass only changes how training steps are computed: record the plain HF class
        self.config.architectures = [self.plain_hf_class]
        self.config.save_pretrained(save_directory)


def without_tied_copies(model: nn.Module, state_dict: dict) -> dict:
    """`state_dict` without the tied weights' second names. `save_pretrained` drops a tied weight's
    alias only when both names share storage; a state dict gathered from shards (FSDP's full state
    dict) holds two equal copies instead, and the saved file would carry the output layer twice."""
    tied = getattr(model, "_tied_weights_keys", None)
    if not isinstance(tied, dict) or not getattr(model.config, "tie_word_embeddings", False):
        return state_dict
    copies = {
        target
        for target, source in tied.items()
        if target in state_dict
        and source in state_dict
        and torch.equal(state_dict[target], state_dict[source])
    }
    return {name: value for name, value in state_dict.items() if name not in copies}


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
            hidden = self.fused_hidden(input_ids, attention_mask, langs, position_ids, causal, padded)
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
    dropout off). Anything else (other inputs, returned attentions, regression) is HF's forward.

    ``config.summary_type: mean`` (recipe ``pooling: mean``) classifies the mean of the last hidden
    states over the real tokens only, on every path. HF's own ``mean`` divides by the padded length
    (XLM zeroes the states of padding), so it agrees with this one on unpadded inputs only: its
    prediction would change with the batch an input is padded in."""

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
        fused = not (
            input_ids is None
            or any(value is not None and value is not False for value in hf_inputs)
            or return_dict is False
            or not single_label
            or (labels is not None and labels.dtype not in (torch.long, torch.int))
            or self.training_path(input_ids.device) != "fused"
        )
        if self.config.summary_type != "mean" and not fused:
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
        if labels is not None and not single_label:
            raise ValueError("summary_type mean: only single-label classification is supported")
        extra = {}
        if fused:
            hidden = self.fused_hidden(
                input_ids, attention_mask, langs, position_ids, self.transformer.causal
            )
        else:
            out = self.transformer(
                input_ids,
                attention_mask=attention_mask,
                langs=langs,
                token_type_ids=token_type_ids,
                position_ids=position_ids,
                lengths=lengths,
                cache=cache,
                inputs_embeds=inputs_embeds,
                output_attentions=output_attentions,
                output_hidden_states=output_hidden_states,
                return_dict=True,
            )
            hidden, extra = (
                out.last_hidden_state,
                {"hidden_states": out.hidden_states, "attentions": out.attentions},
            )
        if self.config.summary_type == "mean":
            # a [batch, 1, dim] sequence: the summary's own mean over it is the identity, then its
            # dropout and projection as for first-token pooling
            real = real_positions(hidden, attention_mask, lengths, input_ids, self.transformer.pad_index)
            hidden = masked_mean(hidden, real).unsqueeze(1)
        logits = self.sequence_summary(hidden)
        loss = None
        if labels is not None:
            self.config.problem_type = "single_label_classification"  # as HF's forward records it
            loss = F.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        if return_dict is False:
            return tuple(v for v in (loss, logits) if v is not None)
        return SequenceClassifierOutput(loss=loss, logits=logits, **extra)


def real_positions(
    hidden: torch.Tensor,
    attention_mask: torch.Tensor | None,
    lengths: torch.Tensor | None,
    input_ids: torch.Tensor | None,
    pad_index: int,
) -> torch.Tensor:
    """[batch, length]: nonzero at the real tokens, found as `XLMModel` finds them: the attention
    mask, else the lengths, else the non-pad ids (else every position)."""
    if attention_mask is not None:
        return attention_mask
    bs, length = hidden.shape[:2]
    if lengths is None and input_ids is not None:
        lengths = (input_ids != pad_index).sum(dim=1)
    if lengths is None:
        return torch.ones(bs, length, device=hidden.device)
    return torch.arange(length, device=hidden.device) < lengths[:, None]


def masked_mean(hidden: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean of `hidden` [batch, length, dim] over the positions where `real` [batch, length] is
    nonzero (a row with none gives zeros, never NaN)."""
    weights = real.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)


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
