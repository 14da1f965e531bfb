"""End to end through the CLI: a tiny MLM+TLM run on the sample, export, resume, CLM, bad recipes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import tiny_recipe
from xlm_hf.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("pretrain")
    assert main(["pretrain", "--config", str(tiny_recipe(tmp))]) == 0
    return tmp


def test_results_json_has_the_promised_keys_and_perplexity_falls(trained):
    results = json.loads((trained / "out" / "results.json").read_text())
    for key in ("train_loss", "train_runtime", "train_tokens", "train_tokens_per_second"):
        assert results[key] > 0, key
    assert set(results["eval"]) == {"mlm_ppl", "mlm_acc", "tlm_ppl", "tlm_acc"}
    assert set(results["eval"]["mlm_ppl"]) == {"en", "fr"}
    assert set(results["eval"]["tlm_ppl"]) == {"en-fr", "fr-en"}
    for metric in ("mlm_ppl", "tlm_ppl"):
        for lang, final in results["eval"][metric].items():
            assert final < 0.8 * results["initial_eval"][metric][lang], (metric, lang)
    assert all(0 <= v <= 1 for v in results["eval"]["mlm_acc"].values())
    assert all(v >= 0.99 for v in results["packing_efficiency"].values())
    assert results["train_steps"] == 40


def test_parameters_changed_from_the_run_s_own_start(trained, tmp_path):
    """The weights the run really started from (taken when training begins) against the saved model:
    nearly every tensor moved. A start model rebuilt here could match the saved one by accident."""
    from transformers import TrainerCallback

    from xlm_hf import pretrain
    from xlm_hf.config.recipes import load_pretrain_recipe

    class StartWeights(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self.weights = {name: t.detach().clone() for name, t in model.state_dict().items()}

    start = StartWeights()
    recipe = load_pretrain_recipe(
        str(trained / "recipe.yaml"), [f"training.output_dir={tmp_path / 'out'}", "training.max_steps=10"]
    )
    pretrain.run(recipe, callbacks=[start])
    final = load_file(str(tmp_path / "out" / "model.safetensors"))
    assert final.keys() <= start.weights.keys()
    changed = [name for name in final if not torch.allclose(start.weights[name], final[name])]
    assert len(changed) >= 0.9 * len(final), sorted(set(final) - set(changed))


def test_export_loads_with_transformers_alone_and_fills_masks(trained):
    from transformers import XLMTokenizer, XLMWithLMHeadModel, pipeline

    out = trained / "out"
    assert json.loads((out / "config.json").read_text())["architectures"] == ["XLMWithLMHeadModel"]
    model = XLMWithLMHeadModel.from_pretrained(str(out))
    tokenizer = XLMTokenizer.from_pretrained(str(out))
    assert model.config.mask_token_id == tokenizer.mask_token_id == 5
    fill = pipeline("fill-mask", model=model, tokenizer=tokenizer)
    predictions = fill("the weather is <special1> today .")
    assert len(predictions) == 5 and all(p["token_str"] for p in predictions)
    # trained, not random: the best guess is far likelier than a uniform draw over the vocabulary
    assert predictions[0]["score"] > 5 / len(tokenizer)


def test_checkpoints_and_resume(trained):
    out = trained / "out"
    assert (out / "checkpoint-20").is_dir() and (out / "checkpoint-40").is_dir()
    first = json.loads((out / "results.json").read_text())
    code = main(
        [
            "pretrain",
            "--config",
            str(trained / "recipe.yaml"),
            "training.max_steps=50",
            "training.save_steps=50",
            "training.resume_from_checkpoint=last",
        ]
    )
    assert code == 0
    state = json.loads((out / "checkpoint-50" / "trainer_state.json").read_text())
    assert state["global_step"] == 50
    results = json.loads((out / "results.json").read_text())
    assert results["train_steps"] == 50
    # the resumed run reports the whole run: both segments' tokens and time, the first's start
    assert results["initial_eval"] == first["initial_eval"] != {}
    assert results["train_tokens"] > first["train_tokens"]
    assert results["train_runtime"] > first["train_runtime"]
    steps_41_to_50 = results["train_tokens"] - first["train_tokens"]
    assert steps_41_to_50 < first["train_tokens"] / 2  # 10 steps' worth, not 50
    # the same recipe with another learning rate is another run: refused, the directory untouched
    assert main(["pretrain", "--config", str(trained / "recipe.yaml"), "training.learning_rate=0.1"]) == 2
    assert json.loads((out / "run.json").read_text())["settings"]["training.learning_rate"] == 3e-3


def test_clm_run_saves_a_causal_model(tmp_path):
    recipe = tiny_recipe(
        tmp_path,
        data={"objectives": ["clm"]},
        model={"causal": True},
        training={"max_steps": 6, "eval_steps": 6, "save_steps": 6},
    )
    assert main(["pretrain", "--config", str(recipe)]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(results["eval"]) == {"clm_ppl", "clm_acc"}
    assert json.loads((tmp_path / "out" / "config.json").read_text())["causal"] is True


def test_xlm_mixture_trains_the_listed_direction_only(tmp_path):
    recipe = tiny_recipe(
        tmp_path,
        data={"mixture": "xlm", "tlm_pairs": ["fr-en"]},
        model={"init": "xlm"},
        training={"max_steps": 6, "eval_steps": 6, "save_steps": 6},
    )
    assert main(["pretrain", "--config", str(recipe)]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(results["eval"]["tlm_ppl"]) == {"fr-en"}
    # each cycle: an MLM step per language (2), then a TLM step (1 direction)
    shares = results["sampling"]
    assert set(shares) == {"mlm.en", "mlm.fr", "tlm.fr-en"}
    assert shares["tlm.fr-en"] == pytest.approx(1 / 3) and shares["mlm.en"] + shares[
        "mlm.fr"
    ] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.objectivs=[mlm]", "data.objectivs: unknown key"),
        ("training.learning_rate=fast", "training.learning_rate: expected a number"),
        ("model.emb_dim=30", "model.emb_dim: must be a multiple of model.n_heads"),
    ],
)
def test_bad_recipe_fails_before_any_work(tmp_path, capsys, override, message):
    recipe = tiny_recipe(tmp_path)
    assert main(["pretrain", "--config", str(recipe), override]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "vocab").exists()
