"""What a frozen encoder offers the XNLI classifier: first-token against mean-pooled states.

    python studies/pooling_probe.py --model runs/reproduce/twin/pretrain-mlm-tlm \\
        --train DATA/nli-en/mnli.train.tsv DATA/nli-en/snli.train.tsv --eval DATA/xnli/dev/en.tsv

Each pair is encoded as fine-tuning encodes it (``</s> A </s> B </s>``, English language id) by the
frozen encoder (``--random``: the same architecture with fresh weights, seed 0). For both poolings
of the last layer it reports:

- ``spread``: how much the pooled vector varies between pairs, the mean distance to the centroid
  over the mean norm (0: every pair gives the same vector, and a classifier can only learn the
  label prior, which is the ln 3 plateau);
- ``probe``: the English dev accuracy of a logistic regression (scikit-learn) trained on the frozen
  pooled vectors of the training pairs: what a classifier on top can reach without moving the
  encoder.
"""

from __future__ import annotations

import argparse
import json
import sys


def pooled_states(model, tokenizer, rows: list[dict], max_len: int = 128, batch_size: int = 128):
    """[n, dim] first-token and mean-over-real-token states of the last layer, in row order."""
    import torch

    from xlm_hf.model.heads import masked_mean
    from xlm_hf.tasks.classification import ClassificationCollator, pair_input
    from xlm_hf.text.pretokenize import xlm_encode

    lang = tokenizer.lang2id["en"]
    examples = [
        pair_input(
            xlm_encode(tokenizer, r["premise"], "en"),
            xlm_encode(tokenizer, r["hypothesis"], "en"),
            lang,
            max_len,
            eos=tokenizer.sep_token_id,
        )
        for r in rows
    ]
    collate = ClassificationCollator(pad_token_id=tokenizer.pad_token_id)
    first, mean = [], []
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            batch = collate([{**e, "labels": 0} for e in examples[start : start + batch_size]])
            hidden = model(
                batch["input_ids"], attention_mask=batch["attention_mask"], langs=batch["langs"]
            ).last_hidden_state
            first.append(hidden[:, 0])
            mean.append(masked_mean(hidden, batch["attention_mask"]))
    return torch.cat(first).numpy(), torch.cat(mean).numpy()


def spread(x) -> float:
    import numpy as np

    centred = x - x.mean(axis=0)
    return float(np.linalg.norm(centred, axis=1).mean() / np.linalg.norm(x, axis=1).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="an HF XLM directory (pretrained encoder)")
    parser.add_argument("--random", action="store_true", help="its architecture with fresh weights")
    parser.add_argument("--train", nargs="+", required=True)
    parser.add_argument("--eval", required=True)
    parser.add_argument("--train-pairs", type=int, default=8000)
    args = parser.parse_args(argv)

    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from transformers import XLMConfig, XLMModel, XLMTokenizer

    from xlm_hf.xnli.data import read_pair_tsv

    tokenizer = XLMTokenizer.from_pretrained(args.model)
    if args.random:
        torch.manual_seed(0)
        model = XLMModel(XLMConfig.from_pretrained(args.model))
    else:
        model = XLMModel.from_pretrained(args.model)
    model.eval()
    train = [row for path in args.train for row in read_pair_tsv(path)]
    step = max(1, len(train) // args.train_pairs)
    train = train[::step][: args.train_pairs]
    dev = read_pair_tsv(args.eval)
    (train_first, train_mean), (dev_first, dev_mean) = (
        pooled_states(model, tokenizer, r) for r in (train, dev)
    )
    results = {}
    for name, x_train, x_dev in (("first", train_first, dev_first), ("mean", train_mean, dev_mean)):
        scaler = StandardScaler().fit(x_train)
        probe = LogisticRegression(max_iter=3000).fit(scaler.transform(x_train), [r["label"] for r in train])
        correct = probe.predict(scaler.transform(x_dev)) == [r["label"] for r in dev]
        results[name] = {"spread": round(spread(x_dev), 4), "probe": round(float(correct.mean()), 4)}
    print(json.dumps({"model": args.model, "random": args.random, "train_pairs": len(train), **results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
