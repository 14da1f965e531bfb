"""The model: config tied to the tokenizer, target-only loss equal to HF's, CLM that cannot peek."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import XLMWithLMHeadModel

from tests.conftest import tiny_xlm_config
from xlm_hf.config.sections import ModelConfig
from xlm_hf.errors import ConfigError
from xlm_hf.model.heads import XLMWithTargetedLMHead
from xlm_hf.model.loading import build_config, load_pretraining_model

TINY = ModelConfig(
    emb_dim=32, n_layers=2, n_heads=4, max_position_embeddings=64, dropout=0.0, attention_dropout=0.0
)


def _tiny_model(n_langs: int = 2, causal: bool = False) -> XLMWithTargetedLMHead:
    torch.manual_seed(0)
    config = tiny_xlm_config(vocab_size=60, n_langs=n_langs, causal=causal)
    return XLMWithTargetedLMHead(config).eval()


def test_config_comes_from_the_tokenizer(sample_tokenizer):
    config = build_config(TINY, sample_tokenizer)
    assert config.vocab_size == len(sample_tokenizer)
    assert (config.pad_token_id, config.eos_token_id, config.mask_token_id, config.mask_index) == (2, 1, 5, 5)
    assert config.n_langs == 4 and config.lang2id == sample_tokenizer.lang2id
    assert config.id2lang == {0: "de", 1: "en", 2: "es", 3: "fr"}


def test_target_only_loss_equals_hf_loss():
    model = _tiny_model()
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(14, 60, (3, 20), generator=gen)
    ids[2, 15:] = 2
    labels = torch.full_like(ids, -100)
    targets = torch.rand(ids.shape, generator=gen) < 0.3
    targets[2, 15:] = False
    labels[targets] = ids[targets]
    langs = torch.randint(0, 2, ids.shape, generator=gen)
    ours = model(input_ids=ids, langs=langs, labels=labels)
    theirs = XLMWithLMHeadModel.forward(model, input_ids=ids, langs=langs, labels=labels)
    assert ours.loss.item() == pytest.approx(theirs.loss.item(), abs=1e-5)
    assert ours.logits.shape == (int(targets.sum()), 60)  # never [batch, seq, vocab]
    torch.testing.assert_close(ours.logits, theirs.logits[targets], atol=1e-5, rtol=1e-5)


def test_clm_cannot_see_the_next_token():
    model = _tiny_model()
    ids = torch.randint(14, 60, (2, 12), generator=torch.Generator().manual_seed(1))
    changed = ids.clone()
    changed[:, 6] = (changed[:, 6] + 1 - 14) % 46 + 14
    full = model(input_ids=ids, causal=True).logits
    other = model(input_ids=changed, causal=True).logits
    torch.testing.assert_close(full[:, :6], other[:, :6])
    assert not torch.allclose(full[:, 6:], other[:, 6:])
    # a non-causal step in the same model does see the change everywhere
    assert not torch.allclose(
        model(input_ids=ids, causal=False).logits[:, :6], model(input_ids=changed, causal=False).logits[:, :6]
    )
    assert model.transformer.causal is False  # switched back after the step


def test_clm_loss_is_against_the_next_token():
    from xlm_hf.data.collators import CausalCollator

    model = _tiny_model()
    ids = torch.randint(14, 60, (2, 10), generator=torch.Generator().manual_seed(2))
    batch = CausalCollator()([{"input_ids": row, "langs": 0} for row in ids])
    loss = model(input_ids=batch["input_ids"], langs=batch["langs"], labels=batch["labels"], causal=True).loss
    logits = model(input_ids=ids, langs=torch.zeros_like(ids), causal=True).logits
    expected = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 60), ids[:, 1:].reshape(-1))
    assert loss.item() == pytest.approx(expected.item(), abs=1e-5)


def test_saved_model_is_plain_hf(tmp_path):
    model = _tiny_model()
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["XLMWithLMHeadModel"]
    reloaded = XLMWithLMHeadModel.from_pretrained(tmp_path)
    torch.testing.assert_close(reloaded.pred_layer.proj.weight, model.pred_layer.proj.weight)


def test_continue_from_a_model_checks_languages(tmp_path, sample_tokenizer):
    model = load_pretraining_model(TINY, sample_tokenizer, ["en", "fr"])
    model.save_pretrained(tmp_path)
    again = load_pretraining_model(
        ModelConfig(model_name_or_path=str(tmp_path)), sample_tokenizer, ["de", "en"]
    )
    assert again.config.lang2id == sample_tokenizer.lang2id
    with pytest.raises(ConfigError, match=r"model.model_name_or_path: languages \['zh'\]"):
        load_pretraining_model(ModelConfig(model_name_or_path=str(tmp_path)), sample_tokenizer, ["en", "zh"])
    (tmp_path / "tokenizer-only").mkdir()
    with pytest.raises(ConfigError, match="has no config.json"):
        load_pretraining_model(
            ModelConfig(model_name_or_path=str(tmp_path / "tokenizer-only")), sample_tokenizer, ["en"]
        )


# ----------------------------------------------------------------------------- model.attention: sdpa


def _batches():
    """MLM batches with and without padding, a TLM batch with restarting positions, and a CLM batch."""
    from xlm_hf.data.collators import CausalCollator, MaskingCollator
    from xlm_hf.data.sources import tlm_example

    gen = torch.Generator().manual_seed(3)
    rows = [torch.randint(14, 60, (n,), generator=gen) for n in (20, 13, 20)]
    mlm = MaskingCollator(vocab_size=60, mlm_probability=0.3)(
        [{"input_ids": r, "langs": i % 2} for i, r in enumerate(rows)], gen
    )
    pairs = [tlm_example(r[:6].tolist(), r[6:11].tolist(), 0, 1) for r in rows]
    tlm = MaskingCollator(vocab_size=60, mlm_probability=0.3)(pairs, gen)
    clm = CausalCollator()([{"input_ids": r, "langs": 0} for r in rows])
    unpadded = MaskingCollator(vocab_size=60, mlm_probability=0.3)(
        [{"input_ids": r, "langs": 0} for r in (rows[0], rows[2])], gen
    )
    assert unpadded["attention_mask"].all()  # the path without an explicit mask
    return [(mlm, False), (tlm, False), (clm, True), (unpadded, False)]


@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_attention_gives_the_eager_loss_and_gradients(causal):
    from xlm_hf.model.heads import SdpaMultiHeadAttention, set_attention

    model = _tiny_model(causal=causal).train()  # dropout 0: training mode, same function
    for batch, clm in _batches():
        inputs = {k: v for k, v in batch.items() if k != "causal"}
        results = {}
        for attention in ("eager", "sdpa"):
            set_attention(model, attention)
            model.zero_grad()
            loss = model(**inputs, causal=clm or causal).loss
            loss.backward()
            results[attention] = (
                loss.item(),
                [p.grad.clone() for p in model.parameters() if p.grad is not None],
            )
        assert isinstance(model.transformer.attentions[0], SdpaMultiHeadAttention)
        assert results["sdpa"][0] == pytest.approx(results["eager"][0], abs=1e-5)
        for grad_sdpa, grad_eager in zip(results["sdpa"][1], results["eager"][1]):
            torch.testing.assert_close(grad_sdpa, grad_eager, atol=1e-5, rtol=1e-4)


def test_sdpa_is_a_recipe_switch_and_saves_a_plain_model(tmp_path, sample_tokenizer):
    from xlm_hf.config.loader import build_section
    from xlm_hf.model.heads import SdpaMultiHeadAttention

    section = {k: getattr(TINY, k) for k in ("emb_dim", "n_layers", "n_heads", "max_position_embeddings")}
    config = build_section(
        ModelConfig, {**section, "dropout": 0.0, "attention_dropout": 0.0, "attention": "sdpa"}, "model"
    )
    with pytest.raises(ConfigError, match="model.attention"):
        build_section(ModelConfig, {"attention": "flash"}, "model")
    torch.manual_seed(0)
    eager = load_pretraining_model(dataclasses_replace(config, attention="eager"), sample_tokenizer, ["en"])
    sdpa = load_pretraining_model(config, sample_tokenizer, ["en"])
    sdpa.load_state_dict(eager.state_dict())
    assert all(isinstance(a, SdpaMultiHeadAttention) for a in sdpa.transformer.attentions)
    assert type(eager.transformer.attentions[0]).__name__ == "MultiHeadAttention"
    ids = torch.randint(14, len(sample_tokenizer), (2, 16), generator=torch.Generator().manual_seed(0))
    labels = torch.where(torch.rand(ids.shape) < 0.3, ids, torch.full_like(ids, -100))
    labels[0, 0] = ids[0, 0]
    loss_eager = eager(input_ids=ids, labels=labels).loss.item()
    assert sdpa(input_ids=ids, labels=labels).loss.item() == pytest.approx(loss_eager, abs=1e-5)
    sdpa.save_pretrained(tmp_path)
    reloaded = XLMWithLMHeadModel.from_pretrained(tmp_path)
    assert type(reloaded.transformer.attentions[0]).__name__ == "MultiHeadAttention"
    assert reloaded(input_ids=ids, labels=labels).loss.item() == pytest.approx(loss_eager, abs=1e-5)
    # returned attention weights need the eager path: sdpa hands that case to it
    out = sdpa.transformer(input_ids=ids, output_attentions=True)
    assert out.attentions[0].shape == (2, TINY.n_heads, 16, 16)


def dataclasses_replace(config, **changes):
    import dataclasses

    return dataclasses.replace(config, **changes)


# ----------------------------------------------------------------------------- model.init, xnli.linear_init


def _assert_torch_default(linear: torch.nn.Linear, name: str) -> None:
    """PyTorch's nn.Linear: weights kaiming-uniform, biases uniform, within ±1/sqrt(fan_in); half the
    weights beyond half the bound (N(0, 0.02) puts almost none there at these fan-ins)."""
    bound = linear.in_features**-0.5
    w, b = linear.weight.detach(), linear.bias.detach()
    assert w.abs().max() <= bound and b.abs().max() <= bound, name
    assert w.std().item() == pytest.approx(bound / 3**0.5, rel=0.15), name
    assert 0.3 < (w.abs() > bound / 2).float().mean().item() < 0.7, name
    assert (b != 0).all(), name


def _assert_hf_default(linear: torch.nn.Linear, name: str) -> None:
    assert linear.weight.std().item() == pytest.approx(0.02, rel=0.2), name
    assert (linear.weight.abs() > linear.in_features**-0.5 / 2).float().mean() < 0.05, name
    assert (linear.bias == 0).all(), name


def _linears(model) -> dict[str, torch.nn.Linear]:
    return {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}


def test_model_init_xlm_gives_linear_layers_pytorchs_default(sample_tokenizer):
    from dataclasses import replace

    torch.manual_seed(0)
    xlm = load_pretraining_model(replace(TINY, init="xlm"), sample_tokenizer, ["en", "fr"])
    torch.manual_seed(0)
    hf = load_pretraining_model(TINY, sample_tokenizer, ["en", "fr"])
    assert len(_linears(xlm)) == 2 * 6 + 1  # q, k, v, out, lin1, lin2 per layer, and the output layer
    for name, linear in _linears(xlm).items():
        if name != "pred_layer.proj":
            _assert_torch_default(linear, name)
    for name, linear in _linears(hf).items():
        if name != "pred_layer.proj":
            _assert_hf_default(linear, name)
    # the output layer stays the word embeddings, N(0, emb_dim^-0.5); only its bias is drawn
    proj, embeddings = xlm.pred_layer.proj, xlm.transformer.embeddings.weight
    assert proj.weight is embeddings
    assert embeddings.std().item() == pytest.approx(32**-0.5, rel=0.05)
    assert (proj.bias != 0).all() and proj.bias.abs().max() <= 32**-0.5
    assert (hf.pred_layer.proj.bias == 0).all()
    with pytest.raises(ConfigError, match="model.init: initialises a new model"):
        ModelConfig(init="xlm", model_name_or_path="runs/pretrain/x")


def _classifier(tmp_path, **settings):
    from xlm_hf.config.sections import XnliConfig
    from xlm_hf.tasks.classification import PAIR
    from xlm_hf.tasks.model import load_task_model
    from xlm_hf.tasks.presets import xnli_task

    pretrained = tmp_path / "pretrained"
    if not pretrained.exists():
        _tiny_model().save_pretrained(pretrained)
    torch.manual_seed(1)
    config = xnli_task(
        XnliConfig(model_name_or_path=str(pretrained), train="train.tsv", eval="xnli", **settings)
    )
    return load_task_model(PAIR, config, config.labels), XLMWithLMHeadModel.from_pretrained(pretrained)


def test_xnli_linear_init_xlm_draws_the_new_classifier_as_pytorch(tmp_path):
    model, pretrained = _classifier(tmp_path, linear_init="xlm", classifier_dropout=0.0)
    _assert_torch_default(model.sequence_summary.summary, "classifier")
    assert model.sequence_summary.summary.out_features == 3
    assert isinstance(model.sequence_summary.first_dropout, torch.nn.Identity)  # no dropout before it
    for name, weight in pretrained.transformer.state_dict().items():  # the encoder stays as pretrained
        torch.testing.assert_close(model.transformer.state_dict()[name], weight, msg=name)

    default, _ = _classifier(tmp_path)
    _assert_hf_default(default.sequence_summary.summary, "classifier")
    assert default.sequence_summary.first_dropout.p == pytest.approx(0.1)  # HF's summary_first_dropout

    fresh, _ = _classifier(tmp_path, init="random", linear_init="xlm")
    for name, linear in _linears(fresh).items():  # fresh weights: every Linear layer is new
        _assert_torch_default(linear, name)
