"""The model: config tied to the tokenizer, target-only loss equal to HF's, CLM that cannot peek."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import XLMWithLMHeadModel

from tests.conftest import tiny_xlm_config
from xlm_hf.config import ModelConfig
from xlm_hf.errors import ConfigError
from xlm_hf.modeling import XLMWithTargetedLMHead, build_config, load_pretraining_model

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
    from xlm_hf.data.streams import tlm_example

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
    from xlm_hf.modeling import SdpaMultiHeadAttention, set_attention

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
    from xlm_hf.modeling import SdpaMultiHeadAttention
    from xlm_hf.recipe_loader import build_section

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
