"""XLM pretraining (CLM / MLM / TLM): ``python -m xlm_hf.pretrain --config recipes/pretrain/X.yaml``.

parse recipe → tokenizer (learned first if missing) → corpora → batches → model → Trainer → save.
The output directory is a plain HF model + tokenizer, with ``results.json`` beside it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from xlm_hf import run_dir
from xlm_hf.config import (
    ConfigError,
    DataConfig,
    ModelConfig,
    PretrainingArguments,
    VocabConfig,
    check_training,
    load_sections,
    resolve_mixed_precision,
)

logger = logging.getLogger(__name__)


@dataclass
class PretrainRecipe:
    data: DataConfig
    model: ModelConfig
    training: PretrainingArguments
    vocab: VocabConfig | None = None


def load_recipe(path: str | None, overrides: list[str] | dict[str, Any] = ()) -> PretrainRecipe:
    sections = load_sections(
        path,
        list(overrides) if not isinstance(overrides, dict) else overrides,
        {"data": DataConfig, "model": ModelConfig, "training": PretrainingArguments, "vocab": VocabConfig},
        optional=("vocab",),
    )
    recipe = PretrainRecipe(**sections)
    validate(recipe)
    resolve_mixed_precision(recipe.training)
    return recipe


def validate(recipe: PretrainRecipe) -> None:
    """Checks across sections, before any work starts."""
    data, model, args = recipe.data, recipe.model, recipe.training
    if data.max_seq_length > model.max_position_embeddings:
        raise ConfigError("data.max_seq_length: longer than model.max_position_embeddings")
    if "tlm" in data.objectives and data.tlm_max_len + 2 > model.max_position_embeddings:
        raise ConfigError("data.tlm_max_len: a TLM half would not fit model.max_position_embeddings")
    if args.max_steps is None or args.max_steps <= 0:
        raise ConfigError("training.max_steps: pretraining streams are endless; set max_steps > 0")
    check_training(args)
    if recipe.vocab is not None:
        extra = [lang for lang in data.languages if lang not in recipe.vocab.languages]
        if extra:
            raise ConfigError(f"data.languages: {extra} are not in vocab.languages")
    if args.load_best_model_at_end:
        raise ConfigError(
            "training.load_best_model_at_end: not supported for pretraining (keep the last model)"
        )
    if not (model.tokenizer or recipe.vocab or model.model_name_or_path):
        raise ConfigError(
            "model.tokenizer: give a tokenizer directory, a vocab section or model.model_name_or_path"
        )


def tokenizer_dir(recipe: PretrainRecipe) -> Path:
    """The local tokenizer directory: learned from the `vocab` section when missing, or fetched
    once from the hub when `model.tokenizer` is a hub id (e.g. a published XLM vocabulary)."""
    from xlm_hf.vocab import build_vocab

    name = recipe.model.tokenizer or (
        recipe.vocab.output_dir if recipe.vocab else recipe.model.model_name_or_path
    )
    path = Path(name)
    if (path / "vocab.json").exists():
        return path
    if recipe.vocab is not None and Path(recipe.vocab.output_dir).resolve() == path.resolve():
        logger.info("no tokenizer at %s yet: learning it from the recipe's vocab section", path)
        return build_vocab(recipe.vocab)
    if not path.exists() and name.count("/") == 1 and not name.startswith((".", "/")):
        from transformers import XLMTokenizer

        local = Path(recipe.training.output_dir) / "source-tokenizer"
        if not (local / "vocab.json").exists():
            XLMTokenizer.from_pretrained(name).save_pretrained(str(local))  # hub id: needs network once
        return local
    raise ConfigError(f"model.tokenizer: {path} has no vocab.json (build it with `xlm-hf vocab`)")


def resume_checkpoint(args) -> str | None:
    """``resume_from_checkpoint``: a path, or ``last`` for the newest completely written checkpoint
    in output_dir (one cut short by a kill while saving is skipped)."""
    from xlm_hf.checkpoints import last_complete, written_completely

    value = args.resume_from_checkpoint
    if value in (None, "", "false", "False"):
        return None
    if value in ("last", "latest", "true", "True"):
        found = last_complete(args.output_dir) if os.path.isdir(args.output_dir) else None
        if found is None:
            logger.warning(
                "resume_from_checkpoint=%s but %s holds no checkpoint: starting fresh", value, args.output_dir
            )
        return found
    if not Path(value).is_dir():
        raise ConfigError(f"training.resume_from_checkpoint: {value} is not a checkpoint directory")
    if not written_completely(value):
        raise ConfigError(f"training.resume_from_checkpoint: {value} was not completely written")
    return value


def build_trainer(recipe: PretrainRecipe, callbacks: Sequence[Any] = ()) -> tuple[Any, Any, str | None]:
    """(trainer, pretraining data, checkpoint to resume from): everything up to ``train()``.

    `callbacks`: extra `TrainerCallback`s (``make bench`` times steps with one).
    """
    from transformers import XLMTokenizer, set_seed

    from xlm_hf.checkpoints import watch_for_signals
    from xlm_hf.data.corpora import check_cache_dir, load_corpora
    from xlm_hf.data.inputs import resolve_inputs
    from xlm_hf.data.pretraining import build_pretraining_data
    from xlm_hf.data.streams import MixtureBatches
    from xlm_hf.modeling import check_model_inputs, load_pretraining_model
    from xlm_hf.trainer import PretrainTrainer

    data_cfg, args = recipe.data, recipe.training
    run_dir.check(recipe)  # before any work: output_dir is empty, this recipe's, or to be overwritten
    set_seed(args.seed)
    with args.main_process_first(local=False, desc="vocabulary and tokenised corpora"):  # one writer
        inputs = resolve_inputs(data_cfg)  # every input checked before a vocabulary is learned
        check_cache_dir(data_cfg)
        tok_dir = tokenizer_dir(recipe)
        tokenizer = XLMTokenizer.from_pretrained(str(tok_dir))
        check_model_inputs(recipe.model, data_cfg, tokenizer)  # languages, lengths: before any corpus
        corpora = load_corpora(data_cfg, tok_dir, seed=args.seed, inputs=inputs)
        data = build_pretraining_data(  # inside: the main process keeps the TLM index beside the store
            data_cfg,
            corpora,
            tokenizer,
            args.per_device_train_batch_size,
            args.per_device_eval_batch_size,
            parts=args.world_size * args.gradient_accumulation_steps,
        )
    model = load_pretraining_model(recipe.model, tokenizer, data_cfg.languages)
    mixture = MixtureBatches(
        data.sources,
        data_cfg.lang_sampling_alpha,
        seed=args.seed,
        rank=args.process_index,
        world_size=args.world_size,
        accumulation=args.gradient_accumulation_steps,
    )
    logger.info(
        "global batch: %d sequences per device × %d processes × %d accumulation steps",
        args.per_device_train_batch_size,
        args.world_size,
        args.gradient_accumulation_steps,
    )
    for name, prob, tokens in mixture.describe():
        logger.info(
            "source %-12s p=%.3f tokens=%d packing=%s", name, prob, tokens, data.packing.get(name, "-")
        )
    if not data.validation:
        logger.warning("no validation data: evaluation is off")
        args.eval_strategy = "no"

    checkpoint = resume_checkpoint(args)
    run_dir.record(recipe)
    trainer = PretrainTrainer(
        model=model,
        args=args,
        mixture=mixture,
        validation=data.validation,
        processing_class=tokenizer,
        callbacks=list(callbacks) or None,
    )
    trainer.stopper = watch_for_signals(trainer)
    if checkpoint:  # the mixture replays its draws up to the checkpoint without building those batches
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
        mixture.start = state["global_step"] * args.gradient_accumulation_steps
        args.ignore_data_skip = True
        trainer.resume_rng_from = checkpoint
    return trainer, data, checkpoint


def run(recipe: PretrainRecipe, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train, evaluate per language, save the HF model + tokenizer and ``results.json``."""
    from xlm_hf.checkpoints import raise_if_stopped
    from xlm_hf.trainer import nested_eval

    args = recipe.training
    trainer, data, checkpoint = build_trainer(recipe, callbacks)
    # FSDP / DeepSpeed place the model on devices only inside train(): no evaluation before it
    sharded = trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled
    initial = {} if checkpoint or sharded or not data.validation else nested_eval(trainer.evaluate())
    trainer.eval_seconds = 0.0
    started = time.time()
    train_output = trainer.train(resume_from_checkpoint=checkpoint)
    raise_if_stopped(trainer.stopper, args.output_dir)
    elapsed = time.time() - started
    step, metrics = trainer.last_eval or (-1, {})
    if data.validation and step != trainer.state.global_step:
        metrics = trainer.evaluate()
    trainer.save_model(args.output_dir)  # model + tokenizer (the trainer's processing_class)
    trainer.save_state()  # trainer_state.json: the per-step log history

    tokens = trainer.accelerator.reduce(torch.tensor(trainer.train_tokens, device=args.device), "sum").item()
    results = {
        "train_loss": train_output.training_loss,
        "train_runtime": train_output.metrics.get("train_runtime", elapsed),
        "train_steps": train_output.global_step,
        "train_tokens": int(tokens),
        "train_tokens_per_second": tokens_per_second(tokens, elapsed, trainer.eval_seconds),
        "eval": nested_eval(metrics),
        "initial_eval": initial,
        "packing_efficiency": data.packing,
        "tlm_pairs_dropped": data.dropped_pairs,
        "sampling": {name: prob for name, prob, _ in trainer.mixture.describe()},
        "languages": recipe.data.languages,
        "objectives": recipe.data.objectives,
        "world_size": args.world_size,
        "mixed_precision": args.mixed_precision,
        "peak_memory_mb": peak_memory_mb(),
    }
    if args.should_save:
        write_json(Path(args.output_dir) / "results.json", results)
    return results


def tokens_per_second(tokens: float, elapsed: float, eval_seconds: float) -> float:
    """Training throughput without the evaluation time; when that leaves (almost) nothing, as in
    a resumed run with no step left, the whole time is used rather than dividing by ~0."""
    train_seconds = elapsed - eval_seconds
    return tokens / max(train_seconds if train_seconds > 1e-3 else elapsed, 1e-3)


def peak_memory_mb() -> float:
    """This process's high-water mark: GPU memory allocated by torch, else the CPU resident set."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def write_text(path: Path, text: str) -> None:
    """Write atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: Path, payload: dict) -> None:
    write_text(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def summary(results: dict[str, Any]) -> str:
    """A readable end-of-run table: per objective and language, initial → final perplexity."""
    lines = [
        f"steps {results['train_steps']}  loss {results['train_loss']:.3f}  "
        f"{results['train_runtime']:.0f}s  {results['train_tokens_per_second']:.0f} tokens/s",
        f"{'metric':<10} {'lang':<7} {'start':>10} {'end':>10}",
    ]
    for metric, per_lang in results["eval"].items():
        for lang, value in per_lang.items():
            start = results.get("initial_eval", {}).get(metric, {}).get(lang)
            start_text = f"{start:10.2f}" if start is not None else f"{'-':>10}"
            lines.append(f"{metric:<10} {lang:<7} {start_text} {value:10.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import sys

    from xlm_hf.cli import main as cli_main

    return cli_main(["pretrain", *(argv if argv is not None else sys.argv[1:])])


if __name__ == "__main__":
    raise SystemExit(main())
