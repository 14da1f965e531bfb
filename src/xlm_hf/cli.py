"""`xlm-hf` command line: ``xlm-hf {vocab,pretrain,finetune-xnli} --config RECIPE [section.key=value ...]``.

Every recipe key can be overridden after the recipe (``training.max_steps=10``,
``--data.languages '[en, fr]'``). Recipe and input-file problems end the command with one line
naming the key or the file and line, and exit status 2; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
import warnings

from xlm_hf.errors import XlmHfError, one_line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xlm-hf", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("vocab", "learn an XLM BPE vocabulary into a tokenizer directory"),
        ("pretrain", "pretrain XLMWithLMHeadModel with CLM / MLM / TLM"),
        ("finetune-xnli", "fine-tune on XNLI and evaluate every language"),
        ("reproduce", "run a study of recipes (pretraining variants x fine-tuning seeds) and report it"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--config", required=True, help="recipe YAML")
        if name not in ("vocab", "reproduce"):  # a study always continues where it stopped
            cmd.add_argument(
                "--resume",
                action="store_true",
                help="continue from the newest complete checkpoint (training.resume_from_checkpoint=last)",
            )
        cmd.add_argument("--debug", action="store_true", help="show the traceback of an error")
        cmd.add_argument("overrides", nargs=argparse.REMAINDER, help="section.key=value ...")
    return parser


def _setup_logging() -> None:
    import transformers

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    transformers.logging.set_verbosity_warning()
    # torch warns once per data loader that pin_memory has no effect without a GPU: noise on CPU runs
    warnings.filterwarnings("ignore", message=".*pin_memory.*")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _vocab(config: str, overrides: list[str]) -> None:
    from xlm_hf.config import VocabConfig, load_sections
    from xlm_hf.vocab import build_vocab

    # a vocab recipe, or a pretraining recipe (its vocab section); the other sections are not read
    sections = load_sections(config, overrides, {"vocab": VocabConfig}, ignore=("data", "model", "training"))
    path = build_vocab(sections["vocab"])
    print(f"vocabulary written to {path}")


def _pretrain(config: str, overrides: list[str]) -> None:
    from xlm_hf.pretrain import load_recipe, run, summary

    recipe = load_recipe(config, overrides)
    results = run(recipe)
    if recipe.training.process_index == 0:  # one summary, not one per data-parallel rank
        print(summary(results))
        print(f"model, tokenizer and results.json in {recipe.training.output_dir}")


def _finetune(config: str, overrides: list[str]) -> None:
    from xlm_hf.finetune_xnli import load_recipe, run

    recipe = load_recipe(config, overrides)
    results = run(recipe)
    print(results["table"])
    print(f"xnli_results.json and xnli_results.md in {recipe.training.output_dir}")


def _reproduce(config: str, overrides: list[str]) -> None:
    from xlm_hf.reproduce import main

    main(config, overrides)


COMMANDS = {"vocab": _vocab, "pretrain": _pretrain, "finetune-xnli": _finetune, "reproduce": _reproduce}


def main(argv: list[str] | None = None) -> int:
    from xlm_hf.checkpoints import TrainingInterrupted

    args = _parser().parse_args(argv)
    # the flags are also accepted after the overrides
    overrides = [arg for arg in args.overrides if arg not in ("--debug", "--resume")]
    debug = args.debug or "--debug" in args.overrides
    if getattr(args, "resume", False) or "--resume" in args.overrides:
        overrides.append("training.resume_from_checkpoint=last")
    _setup_logging()
    try:
        COMMANDS[args.command](args.config, overrides)
    except XlmHfError as err:
        if debug:
            traceback.print_exc()
        print(f"xlm-hf {args.command}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except TrainingInterrupted as err:  # a checkpoint was saved: a clean stop, not a crash
        print(f"xlm-hf {args.command}: {err}", file=sys.stderr)
        return 128 + err.signum
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
