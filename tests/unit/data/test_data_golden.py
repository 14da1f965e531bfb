"""The data pipeline gives the batches it gave before: a golden record of the sample corpus.

Recorded from the code at commit 04e7043 (before the token store), for two settings of the
embedded sample: token ids per language and split, every batch of every batch source, the first
global batches the mixture draws, and the validation batches. Two records, so a deliberate
change of the masking moves one of them only:

- ``unmasked``: token ids, token counts, mixture probabilities, each source's batches (padded
  examples) and the drawn batches with their masking undone (labels put back), langs, positions;
- ``masked``: the drawn and validation batches as the collators return them (inputs, labels).

Re-record after an intended change (say which one in the commit), from the project root:

    python -m tests.unit.data.test_data_golden --record masked      # or: unmasked, all
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from xlm_hf import SAMPLE_DIR
from xlm_hf.config.sections import DataConfig

GOLDEN = Path(__file__).with_name("golden") / "data_batches.json"
DRAWS = 48  # global batches drawn from the mixture per setting

SETTINGS = {
    # every objective, four languages, three pairs, batches by count
    "mlm-clm-tlm": {
        "data": {
            "languages": ["de", "en", "es", "fr"],
            "objectives": ["mlm", "clm", "tlm"],
            "max_seq_length": 32,
            "valid_size": 0.1,
        },
        "batch_size": 4,
        "eval_batch_size": 8,
        "parts": 1,
        "seed": 0,
    },
    # target weights, TLM token budgets with truncation, a cap on lines, batches split in two
    "alpha-budget-two-parts": {
        "data": {
            "languages": ["en", "fr"],
            "objectives": ["mlm", "tlm"],
            "max_seq_length": 24,
            "valid_size": 20,
            "max_lines_per_language": 250,
            "tlm_tokens_per_batch": 60,
            "tlm_max_len": 20,
            "tlm_long_pairs": "truncate",
            "sample_alpha": 0.5,
            "lang_sampling_alpha": 0.5,
        },
        "batch_size": 3,
        "eval_batch_size": 5,
        "parts": 2,
        "seed": 3,
    },
}


def digest(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        t = torch.as_tensor(t).to(torch.int64).contiguous()
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:24]


def digest_rows(rows) -> str:
    """Of a list of token-id rows (lengths included)."""
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps([int(x) for x in row]).encode())
    return h.hexdigest()[:24]


def vocab_digest(vocab_dir: Path) -> str:
    """Of the vocabulary and its set of merges (the BPE trainer orders merges of equal counts
    differently from run to run, which leaves the sample's ids unchanged)."""
    h = hashlib.sha256((Path(vocab_dir) / "vocab.json").read_bytes())
    merges = (Path(vocab_dir) / "merges.txt").read_text(encoding="utf-8").splitlines()
    h.update("\n".join(sorted(merges)).encode())
    return h.hexdigest()[:24]


def unmasked(batch: dict) -> dict:
    """The batch's inputs before masking: MLM/TLM labels hold the original id of every target."""
    ids = batch["input_ids"]
    if not batch.get("causal") and "labels" in batch:
        ids = torch.where(batch["labels"] != -100, batch["labels"], ids)
    out = {"input_ids": ids, "langs": batch["langs"], "attention_mask": batch["attention_mask"]}
    if "position_ids" in batch:
        out["position_ids"] = batch["position_ids"]
    return out


def batch_digest(batch: dict) -> str:
    return digest(*(batch[k] for k in sorted(batch)))


def record(vocab_dir: Path, cache_dir: Path) -> dict:
    """The golden values of every setting (see the module docstring)."""
    from transformers import XLMTokenizer

    from xlm_hf.data.collators import pad_examples
    from xlm_hf.data.corpora import load_corpora
    from xlm_hf.data.mixture import MixtureBatches
    from xlm_hf.data.pretraining import build_pretraining_data, token_counts

    tokenizer = XLMTokenizer.from_pretrained(str(vocab_dir))
    out = {"vocab": vocab_digest(vocab_dir), "settings": {}}
    for name, setting in SETTINGS.items():
        config = DataConfig(**setting["data"], data_dir=str(SAMPLE_DIR), cache_dir=str(cache_dir), num_proc=1)
        corpora = load_corpora(config, vocab_dir, seed=setting["seed"])
        ids = {}
        for split in ("mono_train", "mono_valid", "para_train", "para_valid"):
            for key, store in getattr(corpora, split).items():
                for column in ("input_ids",) if split.startswith("mono") else ("ids1", "ids2"):
                    ids[f"{split}.{key}.{column}"] = digest_rows(sentences(store, column))
        data = build_pretraining_data(
            config,
            corpora,
            tokenizer,
            setting["batch_size"],
            setting["eval_batch_size"],
            parts=setting["parts"],
        )
        sources = {}
        for source in data.sources:
            padded = [
                pad_examples([source.examples[i] for i in batch], tokenizer.pad_token_id)
                for batch in source.batches
            ]
            sources[f"{source.objective}.{source.name}"] = {
                "n_tokens": int(source.n_tokens),
                "n_batches": len(source.batches),
                "batches": hashlib.sha256("".join(map(batch_digest, padded)).encode()).hexdigest()[:24],
            }
        mixture = MixtureBatches(data.sources, config.lang_sampling_alpha, seed=setting["seed"])
        it = iter(mixture)
        drawn = [next(it) for _ in range(DRAWS)]
        validation = {f"{v.objective}.{v.name}": v.batches for v in data.validation}
        out["settings"][name] = {
            "unmasked": {
                "ids": ids,
                "token_counts": digest(token_counts(corpora, len(tokenizer))),
                "probs": [float(p) for p in mixture.probs],
                "sources": sources,
                "packing": data.packing,
                "dropped_pairs": data.dropped_pairs,
                "draws": [b["source"] for b in drawn],
                "drawn": [batch_digest(unmasked(b)) for b in drawn],
                "validation": {k: [batch_digest(unmasked(b)) for b in v] for k, v in validation.items()},
            },
            "masked": {
                "drawn": [digest(b["input_ids"], b["labels"]) for b in drawn],
                "validation": {
                    k: [digest(b["input_ids"], b["labels"]) for b in v] for k, v in validation.items()
                },
            },
        }
    return out


def sentences(store, column: str) -> list:
    """The token ids of every row of a tokenised split, in order."""
    return (store if column == "input_ids" else getattr(store, column)).sentences()


# ----------------------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def recorded_now(sample_vocab_dir, tmp_path_factory) -> dict:
    return record(sample_vocab_dir, tmp_path_factory.mktemp("golden-cache"))


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_the_sample_vocabulary_is_the_recorded_one(recorded_now, golden):
    assert recorded_now["vocab"] == golden["vocab"], (
        "the sample vocabulary changed: the golden cannot compare"
    )


@pytest.mark.parametrize("setting", SETTINGS)
def test_same_ids_batches_and_draws_as_recorded(recorded_now, golden, setting):
    now, then = recorded_now["settings"][setting]["unmasked"], golden["settings"][setting]["unmasked"]
    for key in then:  # one key at a time, so a failure says what moved
        if key == "probs":
            assert now[key] == pytest.approx(then[key], rel=1e-12), key
        else:
            assert now[key] == then[key], key


@pytest.mark.parametrize("setting", SETTINGS)
def test_same_masks_as_recorded(recorded_now, golden, setting):
    now, then = recorded_now["settings"][setting]["masked"], golden["settings"][setting]["masked"]
    for key in then:
        assert now[key] == then[key], key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="re-record the data golden values")
    parser.add_argument("--record", choices=("unmasked", "masked", "all"), required=True)
    args = parser.parse_args(argv)
    from tests.conftest import learn_sample_vocab

    with tempfile.TemporaryDirectory() as tmp:
        values = record(learn_sample_vocab(Path(tmp) / "vocab"), Path(tmp) / "cache")
    old = json.loads(GOLDEN.read_text(encoding="utf-8")) if GOLDEN.exists() else values
    if args.record != "all":
        if old["vocab"] != values["vocab"]:
            print("the sample vocabulary changed: record all", file=sys.stderr)
            return 1
        for name, parts in values["settings"].items():
            old["settings"].setdefault(name, {})[args.record] = parts[args.record]
        values = old
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(values, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recorded {args.record} in {GOLDEN}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
