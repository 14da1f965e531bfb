"""One point of a fine-tuning sweep: ``xlm-hf finetune-xnli`` with overrides, then the saved model
scored on a fixed slice of its own training pairs, one JSON line appended to a results file.

    python studies/finetune_sweep.py --name lr1e-3 --config recipes/xnli/twin.yaml \\
        --results runs/sweep/results.jsonl -- training.learning_rate=1e-3 xnli.pooling=mean

The training accuracy tells under-fitting (the ln 3 plateau: train accuracy at chance too) from
over-fitting (train far above dev), which dev accuracy alone cannot. The model is reloaded from its
output directory, so the score also checks that the saved model pools as it was trained.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def train_accuracy(output_dir: str, config, examples: int) -> float:
    """Accuracy of the model saved in `output_dir` on every k-th training pair (`examples` in all)."""
    import torch
    from torch.utils.data import DataLoader
    from transformers import XLMForSequenceClassification

    from xlm_hf.model.heads import use_training_kernels
    from xlm_hf.model.loading import load_weights
    from xlm_hf.tasks.classification import ClassificationCollator, encode_rows
    from xlm_hf.text.tokenizer_files import load_tokenizer
    from xlm_hf.xnli.data import load_train_rows

    rows = [r for source in config.train_sources for r in load_train_rows(source, language="en")]
    step = max(1, len(rows) // examples)
    rows = [
        {"text": r["premise"], "text_pair": r["hypothesis"], "label": r["label"], "lang": "en"}
        for r in rows[::step][:examples]
    ]
    tokenizer = load_tokenizer(output_dir, "output_dir")
    model = use_training_kernels(load_weights(XLMForSequenceClassification, output_dir, "output_dir"))
    model.eval()
    ds = encode_rows(rows, tokenizer, config.max_seq_length, sort_by_length=True)
    collate = ClassificationCollator(pad_token_id=tokenizer.pad_token_id)
    correct = 0
    with torch.no_grad():
        for batch in DataLoader(ds.remove_columns(["length"]), batch_size=128, collate_fn=collate):
            labels = batch.pop("labels")
            correct += int((model(**batch).logits.argmax(-1) == labels).sum())
    return correct / len(rows)


def _settings(overrides: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in overrides)


def encoder_name(settings: dict[str, str]) -> str:
    """random init, or the pretraining and its budget read from the model path (twin study names)."""
    if settings.get("xnli.init") == "random":
        return "random init"
    path = settings.get("xnli.model_name_or_path", "")
    if "checkpoint-" in path:
        return f"MLM+TLM {int(path.rsplit('checkpoint-', 1)[1]) // 1000}k"
    if "-8k" in path:
        return "MLM+TLM 8k"
    return "MLM+TLM 4k" if "mlm-tlm" in path else path


def table(results: str) -> str:
    """The markdown table of every run in `results` (docs/reproduction/finetuning.md)."""
    from xlm_hf.markdown import table as markdown_table

    others = (
        "xnli.freeze_embeddings",
        "xnli.classifier_dropout",
        "training.weight_decay",
        "training.per_device_train_batch_size",
    )
    rows = []
    for line in Path(results).read_text(encoding="utf-8").splitlines():
        run = json.loads(line)
        o = _settings(run["overrides"])
        curve = ", ".join(f"{100 * e['eval_accuracy.en']:.1f}" for e in run.get("evals") or [])
        rows.append([
            run["name"], encoder_name(o), o.get("xnli.pooling", "first"),
            o.get("training.learning_rate", "2e-4"), o.get("training.num_train_epochs", "2"),
            o.get("training.warmup_steps", "100"),
            " ".join(f"{k.split('.')[-1]}={o[k]}" for k in others if k in o),
            f"{100 * run['dev']['en']:.1f}", f"{100 * run['dev'].get('twin', 0):.1f}",
            f"{100 * run['train_accuracy']:.1f}", f"{run['losses'][-1]:.3f}", f"{run['minutes']:.1f}", curve,
        ])  # fmt: skip
    header = ["run", "encoder", "pooling", "lr", "epochs", "warm-up", "other", "en", "twin", "train", "loss", "min", "per epoch (en)"]  # fmt: skip
    return "\n".join(markdown_table(header, rows))


def _record_training_logs() -> list[dict]:
    """Every dict the Trainer logs, kept in a list (run() builds its own Trainer, so no callback)."""
    from transformers import Trainer

    history: list[dict] = []
    log = Trainer.log

    def keep(self, logs, *args, **kwargs):
        history.append(dict(logs))
        return log(self, logs, *args, **kwargs)

    Trainer.log = keep
    return history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", help="the run's name: runs/sweep/<name>")
    parser.add_argument("--config", help="the XNLI recipe")
    parser.add_argument("--table", action="store_true", help="print the markdown table of --results and stop")
    parser.add_argument("--results", default="runs/sweep/results.jsonl")
    parser.add_argument("--train-examples", type=int, default=3000)
    parser.add_argument("overrides", nargs="*", help="recipe overrides, key=value")
    args = parser.parse_args(argv)
    if args.table:
        print(table(args.results))
        return 0
    if not (args.name and args.config):
        parser.error("--name and --config are required to run (or --table)")

    from xlm_hf.config.recipes import load_xnli_recipe as load_recipe
    from xlm_hf.finetune_xnli import run
    from xlm_hf.launch import setup_logging

    setup_logging()
    out = str(Path(args.results).parent / args.name)
    overrides = [*args.overrides, f"training.output_dir={out}", "training.overwrite_output_dir=true"]
    recipe = load_recipe(args.config, overrides)
    history = _record_training_logs()
    start = time.monotonic()
    results = run(recipe)
    minutes = (time.monotonic() - start) / 60
    record = {
        "name": args.name,
        "config": args.config,
        "overrides": args.overrides,
        "dev": results["dev"],
        "train_accuracy": train_accuracy(out, recipe.xnli, args.train_examples),
        "predicted": {  # how many dev rows each class got: one column full means a collapsed model
            lang: [sum(col) for col in zip(*matrix)]
            for lang, matrix in results["confusion_matrices"]["dev"].items()
        },
        "minutes": round(minutes, 2),
    }
    # the training loss and gradient norm every logging_steps: a plateau at ln 3 = 1.099 is no learning
    record["losses"] = [round(h["loss"], 4) for h in history if "loss" in h]
    record["grad_norms"] = [round(h["grad_norm"], 3) for h in history if "grad_norm" in h]
    record["evals"] = [h for h in history if "eval_accuracy.avg" in h]  # per evaluation, when the recipe asks
    with open(args.results, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
