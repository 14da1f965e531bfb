"""`fused_training`, the GPU training path, checked on CPU: HF's loss, logits and gradients (fp32,
dropout off) for packed streams, causal steps, padded TLM batches and XNLI classification; bucket
padding that changes nothing; no host sync in the forward, the backward or a whole trainer step;
the compiled layer (slow); the switches."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F
from transformers import TrainerCallback, XLMConfig, XLMForSequenceClassification

from tests.conftest import tiny_xlm_config
from tests.host_syncs import HostSyncs
from xlm_hf.config.loader import build_section
from xlm_hf.config.sections import ModelConfig
from xlm_hf.config.training_args import PretrainingArguments
from xlm_hf.data.collators import CausalCollator, MaskingCollator
from xlm_hf.data.mixture import MixtureBatches
from xlm_hf.data.sources import stream_source, tlm_example, tlm_source
from xlm_hf.errors import ConfigError
from xlm_hf.model import fused_training
from xlm_hf.model.fused_training import LENGTH_BUCKET, prepare_batch, target_cross_entropy
from xlm_hf.model.heads import FusedXLMForSequenceClassification, XLMWithTargetedLMHead, use_training_kernels
from xlm_hf.tasks.classification import ClassificationCollator
from xlm_hf.training.trainer import PretrainTrainer

VOCAB, PAD = 70, 2
LOSS_RTOL, GRAD_RTOL, GRAD_ATOL = 1e-5, 1e-5, 1e-6


def _config(dropout: float = 0.0, **changes) -> XLMConfig:
    return tiny_xlm_config(vocab_size=VOCAB, n_langs=3, dropout=dropout, attention_dropout=dropout, **changes)


def _lm(**changes) -> XLMWithTargetedLMHead:
    torch.manual_seed(0)
    return XLMWithTargetedLMHead(_config(**changes)).train()


def _batches() -> dict[str, tuple[dict, bool]]:
    """Collated batches as the mixture makes them: (batch, causal)."""
    gen = torch.Generator().manual_seed(3)
    masking = MaskingCollator(vocab_size=VOCAB, mlm_probability=0.3)
    blocks = torch.randint(14, VOCAB, (3, 24), generator=gen)
    stream = masking([{"input_ids": row, "langs": 1} for row in blocks], gen)
    clm = CausalCollator()([{"input_ids": row, "langs": 0} for row in blocks])
    sentences = [torch.randint(14, VOCAB, (n,), generator=gen).tolist() for n in (9, 4, 6, 7, 2, 5)]
    pairs = [tlm_example(a, b, 0, 2) for a, b in zip(sentences[:3], sentences[3:])]
    tlm = masking(pairs, gen)
    assert stream["attention_mask"].all() and not tlm["attention_mask"].all()
    return {"stream": (stream, False), "causal": (clm, True), "tlm": (tlm, False)}


def _loss_and_grads(model, kernels: str, batch: dict, causal: bool):
    model.training_kernels = kernels
    model.zero_grad(set_to_none=True)
    loss = model(**batch, causal=causal, num_items_in_batch=torch.tensor(11)).loss
    (2.5 * loss).backward()  # an upstream gradient other than 1 (DDP, loss scaling)
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _assert_same(ours, theirs) -> None:
    torch.testing.assert_close(ours[0], theirs[0], rtol=LOSS_RTOL, atol=0)
    assert ours[1].keys() == theirs[1].keys()
    for name in theirs[1]:
        torch.testing.assert_close(ours[1][name], theirs[1][name], rtol=GRAD_RTOL, atol=GRAD_ATOL, msg=name)


@pytest.mark.parametrize("name", ["stream", "causal", "tlm"])
@pytest.mark.parametrize("prepared", [False, True])
def test_same_loss_and_gradients_as_hf(name, prepared):
    model = _lm()
    batch, causal = _batches()[name]
    theirs = _loss_and_grads(model, "hf", batch, causal)
    ours = _loss_and_grads(model, "fused", prepare_batch(batch, PAD, 64) if prepared else batch, causal)
    _assert_same(ours, theirs)
    assert len(ours[1]) == len(list(model.parameters()))


def test_relu_model_and_pad_ids_without_attention_mask_as_hf():
    model = _lm(gelu_activation=False)
    batch, _ = _batches()["tlm"]
    batch = {k: v for k, v in batch.items() if k != "attention_mask"}  # lengths from the pad ids, as HF
    _assert_same(_loss_and_grads(model, "fused", batch, False), _loss_and_grads(model, "hf", batch, False))


def test_bucket_padding_leaves_loss_and_gradients_unchanged():
    model = _lm()
    batch, _ = _batches()["tlm"]
    prepared = prepare_batch(batch, PAD, max_length=64)
    assert batch["input_ids"].size(1) % LENGTH_BUCKET and prepared["input_ids"].size(1) == LENGTH_BUCKET
    _assert_same(
        _loss_and_grads(model, "fused", prepared, False), _loss_and_grads(model, "fused", batch, False)
    )


def test_prepare_batch_pads_to_the_bucket_and_indexes_the_targets():
    batch, _ = _batches()["tlm"]
    width = batch["input_ids"].size(1)
    assert width == 20
    out = prepare_batch(batch, PAD, max_length=64, bucket=8)
    assert out["padded"] is True and out["input_ids"].shape == (3, 24)
    torch.testing.assert_close(out["input_ids"][:, :width], batch["input_ids"])
    assert (out["input_ids"][:, width:] == PAD).all() and (out["labels"][:, width:] == -100).all()
    assert (out["attention_mask"][:, width:] == 0).all() and (out["position_ids"][:, width:] == 0).all()
    flat = out["labels"].flatten()
    assert out["target_index"].tolist() == [i for i, y in enumerate(flat.tolist()) if y != -100]
    # never beyond the model's positions, and an unpadded batch keeps its width
    assert prepare_batch(batch, PAD, max_length=width + 1, bucket=8)["input_ids"].size(1) == width + 1
    stream, _ = _batches()["stream"]
    unpadded = prepare_batch(stream, PAD, max_length=64)
    assert unpadded["padded"] is False and unpadded["input_ids"].shape == stream["input_ids"].shape


def test_target_cross_entropy_matches_cross_entropy_in_chunks(monkeypatch):
    monkeypatch.setattr(fused_training, "TARGET_CHUNK_ELEMENTS", 3 * 11)  # chunks of 3 rows
    gen = torch.Generator().manual_seed(0)
    proj = torch.nn.Linear(6, 11)
    hidden = torch.randn(10, 6, generator=gen, requires_grad=True)
    labels = torch.randint(0, 11, (10,), generator=gen)
    for divisor in (None, torch.tensor(25)):
        loss = target_cross_entropy(hidden, proj, labels, divisor)
        (3 * loss).backward()
        ours = [t.grad for t in (hidden, proj.weight, proj.bias)]
        hidden.grad = proj.weight.grad = proj.bias.grad = None
        reference = F.cross_entropy(proj(hidden), labels, reduction="sum") / (10 if divisor is None else 25)
        (3 * reference).backward()
        torch.testing.assert_close(loss, reference)
        for a, b in zip(ours, [hidden.grad, proj.weight.grad, proj.bias.grad], strict=True):
            torch.testing.assert_close(a, b)
        hidden.grad = proj.weight.grad = proj.bias.grad = None


# ----------------------------------------------------------------------------- XNLI classification


def _classifier() -> XLMForSequenceClassification:
    torch.manual_seed(0)
    return XLMForSequenceClassification(_config(num_labels=3, summary_first_dropout=0.0))


def _xnli_batch(bucket: int = 1) -> dict:
    gen = torch.Generator().manual_seed(5)
    examples = [
        {"input_ids": [1, *torch.randint(14, VOCAB, (n,), generator=gen).tolist(), 1], "langs": [i] * (n + 2)}
        for i, n in enumerate((11, 5, 8))
    ]
    for example, label in zip(examples, (2, 0, 1)):
        example["labels"] = label
    return ClassificationCollator(pad_token_id=PAD, length_bucket=bucket, max_length=64)(examples)


@pytest.mark.parametrize("bucket", [1, LENGTH_BUCKET])
def test_classification_gives_hf_logits_loss_and_gradients(bucket):
    hf = _classifier().train()
    ours = use_training_kernels(_classifier().train(), "fused", compile_encoder=False)
    assert isinstance(ours, FusedXLMForSequenceClassification)
    plain, bucketed = _xnli_batch(), _xnli_batch(bucket)
    assert bucketed["input_ids"].size(1) == (13 if bucket == 1 else LENGTH_BUCKET)
    out_hf, out_ours = hf(**plain), ours(**bucketed)
    torch.testing.assert_close(out_ours.logits, out_hf.logits, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out_ours.loss, out_hf.loss, rtol=LOSS_RTOL, atol=0)
    out_hf.loss.backward()
    out_ours.loss.backward()
    grads_ours = dict(ours.named_parameters())
    for name, p in hf.named_parameters():
        torch.testing.assert_close(grads_ours[name].grad, p.grad, rtol=GRAD_RTOL, atol=GRAD_ATOL, msg=name)
    with torch.no_grad():  # evaluation takes the same path
        torch.testing.assert_close(
            ours.eval()(**bucketed).logits, hf.eval()(**plain).logits, rtol=1e-5, atol=1e-6
        )


def test_classification_saves_as_plain_hf_and_leaves_other_inputs_to_hf(tmp_path):
    ours = use_training_kernels(_classifier(), "fused", compile_encoder=False)
    ours.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == [
        "XLMForSequenceClassification"
    ]
    assert type(XLMForSequenceClassification.from_pretrained(tmp_path)) is XLMForSequenceClassification
    batch = _xnli_batch()
    with HostSyncs() as syncs:
        ours(**batch, output_hidden_states=True)  # HF's forward: its `lengths.max().item()` shows
    assert "_local_scalar_dense" in syncs.ops


# ----------------------------------------------------------------------------- no host sync


def _step(model, batch: dict, causal: bool | None = None) -> None:
    extra = {} if causal is None else {"causal": causal, "num_items_in_batch": torch.tensor(9)}
    model(**batch, **extra).loss.backward()


@pytest.mark.parametrize("name", ["stream", "causal", "tlm"])
def test_no_host_sync_in_a_fused_step(name):
    model = _lm(dropout=0.1)
    model.training_kernels = "fused"
    batch, causal = _batches()[name]
    prepared = prepare_batch(batch, PAD, 64)
    with HostSyncs() as syncs:
        _step(model, prepared, causal)
    assert syncs.ops == []
    # the recorder does see syncs: HF's forward, and the fused path without the target index
    for kernels, inputs in (
        ("hf", batch),
        ("fused", {k: v for k, v in prepared.items() if k != "target_index"}),
    ):
        model.training_kernels = kernels
        with HostSyncs() as syncs:
            _step(model, inputs, causal)
        assert syncs.ops, kernels


def test_no_host_sync_in_a_fused_classification_step():
    model = use_training_kernels(_classifier().train(), "fused", compile_encoder=False)
    batch = _xnli_batch(LENGTH_BUCKET)
    with HostSyncs() as syncs:
        _step(model, batch)
    assert syncs.ops == []


class _RecordSyncs(TrainerCallback):
    """Records syncing operations from the start of each optimizer step to its end (the forward,
    the backward, clipping and the optimizer), and the batches' keys."""

    def __init__(self) -> None:
        self.recorder: HostSyncs | None = None
        self.per_step: list[list[str]] = []

    def on_step_begin(self, args, state, control, **kwargs):
        self.recorder = HostSyncs().__enter__()

    def on_step_end(self, args, state, control, **kwargs):
        self.recorder.__exit__(None, None, None)
        self.per_step.append(self.recorder.ops)


def _trainer(tmp_path, kernels: str, steps: int, dropout: float = 0.1, **args) -> PretrainTrainer:
    rng = np.random.default_rng(0)
    masking = MaskingCollator(vocab_size=VOCAB)
    sources = [
        stream_source("mlm", "en", 0, rng.integers(14, VOCAB, (24, 16)), 4, masking),
        stream_source("clm", "fr", 1, rng.integers(14, VOCAB, (12, 16)), 4, CausalCollator()),
        tlm_source(
            "en-fr",
            (0, 1),
            [list(rng.integers(14, VOCAB, n)) for n in rng.integers(3, 9, 16)],
            [list(rng.integers(14, VOCAB, n)) for n in rng.integers(3, 9, 16)],
            4,
            None,
            masking,
        ),
    ]
    model = _lm(dropout=dropout)
    model.training_kernels, model.compile_encoder = kernels, False
    arguments = {
        "output_dir": str(tmp_path),
        "max_steps": steps,
        "learning_rate": 1e-3,
        "warmup_steps": 2,
        "max_grad_norm": 1.0,
        "eval_strategy": "no",
        "save_strategy": "no",
        "logging_steps": steps,
        "disable_tqdm": True,
        "use_cpu": True,
        "seed": 0,
        **args,
    }
    mixture = MixtureBatches(
        sources, 0.7, seed=0, accumulation=arguments.get("gradient_accumulation_steps", 1)
    )
    return PretrainTrainer(model=model, args=PretrainingArguments(**arguments), mixture=mixture)


def test_a_fused_trainer_step_has_no_host_sync(tmp_path):
    trainer = _trainer(tmp_path, "fused", steps=6)
    batch = next(iter(trainer.get_train_dataloader()))
    assert isinstance(batch["padded"], bool) and "target_index" in batch  # prepared by the loader
    recorder = _RecordSyncs()
    trainer.add_callback(recorder)
    trainer.train()
    assert len(recorder.per_step) == 6 and recorder.per_step == [[]] * 6
    hf = _trainer(tmp_path / "hf", "hf", steps=2)  # the recorder sees HF's `lengths.max().item()`
    hf.add_callback(recorder := _RecordSyncs())
    hf.train()
    assert all("_local_scalar_dense" in ops for ops in recorder.per_step)


def test_fused_accumulation_and_a_worker_process_give_the_one_batch_losses(tmp_path):
    """2 accumulation steps of 2 rows train on the rows and masks of one batch of 4; batches built
    in a worker process are the same batches. Dropout off, so the losses are comparable."""

    def losses(**args):
        trainer = _trainer(tmp_path / str(len(args)), "fused", steps=5, dropout=0.0, logging_steps=1, **args)
        trainer.train()
        return [e["loss"] for e in trainer.state.log_history if "loss" in e]

    one = losses()
    accumulated = losses(per_device_train_batch_size=2, gradient_accumulation_steps=2)
    assert accumulated == pytest.approx(one, rel=1e-5)
    assert losses(dataloader_num_workers=1) == one


# ----------------------------------------------------------------------------- switches


def test_training_path_and_compile_resolve_per_device():
    model = _lm()
    assert ModelConfig().training_kernels == "auto" and ModelConfig().compile == "auto"
    assert [model.training_path(d) for d in ("cpu", "cuda", "mps")] == ["xlm_hf", "fused", "hf"]
    assert (model.compiles("cpu"), model.compiles("cuda")) == (False, True)
    model.compile_encoder = True
    assert model.compiles("cpu")
    model.training_kernels = "fused"
    assert model.training_path("cpu") == "fused"
    model.config.asm = True
    assert model.training_path("cuda") == "hf"
    assert (
        build_section(ModelConfig, {"training_kernels": "fused", "compile": False}, "model").compile is False
    )
    with pytest.raises(ConfigError, match="model.compile"):
        build_section(ModelConfig, {"compile": "sometimes"}, "model")


@pytest.mark.slow
def test_the_compiled_layer_gives_the_eager_loss_and_gradients_on_cpu():
    """``torch.compile`` on CPU (inductor's C++ backend): the same loss and gradients as the eager
    fused path for a stream and for two TLM lengths: one graph for the stream, one for both lengths."""
    torch._dynamo.reset()
    model = _lm()
    batch, _ = _batches()["tlm"]
    longer = prepare_batch(batch, PAD, 64, bucket=48)
    for inputs in (prepare_batch(batch, PAD, 64), longer, prepare_batch(_batches()["stream"][0], PAD, 64)):
        model.compile_encoder = False
        eager = _loss_and_grads(model, "fused", inputs, False)
        model.compile_encoder = True
        compiled = _loss_and_grads(model, "fused", inputs, False)
        torch.testing.assert_close(compiled[0], eager[0], rtol=1e-5, atol=0)
        for name in eager[1]:
            torch.testing.assert_close(compiled[1][name], eager[1][name], rtol=1e-4, atol=1e-6, msg=name)
    # one graph for the stream's layer, one for both TLM lengths, one for the output layer's chunks
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 3


@pytest.mark.slow
def test_the_compiled_output_layer_gives_the_eager_loss_and_gradients_on_cpu(monkeypatch):
    """The one-pass softmax gradient (compiled) against the eager in-place one, for fp32 and bf16
    logits, and through `target_cross_entropy` in chunks of 4 and 2 rows (one graph for both)."""
    torch._dynamo.reset()
    gen = torch.Generator().manual_seed(0)
    compiled = fused_training.chunk_loss_function(True)
    for dtype in (torch.float32, torch.bfloat16):
        logits = (4 * torch.randn(7, 50, generator=gen)).to(dtype)
        labels = torch.randint(0, 50, (7,), generator=gen)
        total, grad = fused_training.softmax_cross_entropy_grad(logits.clone(), labels)
        reference = F.cross_entropy(logits.float(), labels, reduction="sum")
        torch.testing.assert_close(total, reference)
        expected = torch.softmax(logits.float(), 1) - F.one_hot(labels, 50)
        torch.testing.assert_close(grad, expected.to(dtype))
        total_compiled, grad_compiled = compiled(logits, labels)
        torch.testing.assert_close(total_compiled, total)
        torch.testing.assert_close(
            grad_compiled, grad, rtol=0.02 if dtype == torch.bfloat16 else 1e-5, atol=1e-6
        )
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    monkeypatch.setattr(fused_training, "_compiled_chunk_loss", None)
    monkeypatch.setattr(fused_training, "TARGET_CHUNK_ELEMENTS", 4 * 11)  # chunks of 4, 4, 2 rows
    proj = torch.nn.Linear(6, 11)
    hidden = torch.randn(10, 6, generator=gen, requires_grad=True)
    labels = torch.randint(0, 11, (10,), generator=gen)
    results = []
    for flag in (False, True):
        loss = target_cross_entropy(hidden, proj, labels, torch.tensor(25), compiled=flag)
        loss.backward()
        results.append([loss.detach(), *(t.grad for t in (hidden, proj.weight, proj.bias))])
        hidden.grad = proj.weight.grad = proj.bias.grad = None
    for eager, ours in zip(*results, strict=True):
        torch.testing.assert_close(ours, eager)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1
