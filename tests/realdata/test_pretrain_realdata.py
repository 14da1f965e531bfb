"""Real data (../shared/data): a 15-language vocabulary's coverage, and a few steps of the cpu-xnli15 recipe."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.realdata.conftest import XNLI15
from xlm_hf.cli import main
from xlm_hf.text.pretokenize import xlm_encode

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("lang", XNLI15)
def test_unknown_rate_below_half_a_percent_on_held_out_lines(vocab15, lang):
    from transformers import XLMTokenizer

    tokenizer = XLMTokenizer.from_pretrained(str(vocab15))
    lines = (vocab15 / "heldout" / f"{lang}.txt").read_text(encoding="utf-8").splitlines()[:150]
    assert len(lines) >= 20
    ids = [i for line in lines for i in xlm_encode(tokenizer, line, lang)]
    rate = sum(i == tokenizer.unk_token_id for i in ids) / len(ids)
    assert rate < 0.005, f"{lang}: {rate:.4%} unknown"


def test_cpu_xnli15_recipe_runs_a_few_steps(vocab15, shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(shared_data))
    out = tmp_path / "out"
    code = main(
        [
            "pretrain",
            "--config",
            str(RECIPES / "pretrain" / "cpu-xnli15-mlm-tlm.yaml"),
            f"model.tokenizer={vocab15}",
            f"training.output_dir={out}",
            f"data.cache_dir={tmp_path / 'cache'}",
            "training.max_steps=3",
            "training.logging_steps=1",
            "data.max_lines_per_language=150",
            "data.max_valid_lines=16",
            "training.per_device_train_batch_size=4",
            "data.tlm_tokens_per_batch=600",
        ]
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["eval"]["mlm_ppl"]) == set(XNLI15)
    assert set(results["eval"]["tlm_ppl"]) == {f"en-{x}" for x in XNLI15 if x != "en"} | {
        f"{x}-en" for x in XNLI15 if x != "en"
    }
    assert results["train_steps"] == 3 and results["train_tokens"] > 0
