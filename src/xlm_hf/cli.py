"""`xlm-hf` command line: ``xlm-hf {vocab,prepare-data,pretrain,finetune-xnli,finetune,evaluate,reproduce} --config RECIPE [key=value ...]``.

A dispatcher only: it imports the module of the command asked for (nothing else, so ``xlm-hf
vocab`` never loads the training stack) and calls its ``main(argv)``. Flags, logging and exit
statuses are `xlm_hf.launch`'s; every recipe key can be overridden after the recipe
(``training.max_steps=10``, ``--data.languages '[en, fr]'``).
"""

from __future__ import annotations

import importlib
import sys

#: command → (module whose ``main(argv)`` runs it, one line of help)
COMMANDS = {
    "vocab": ("xlm_hf.vocab", "learn an XLM BPE vocabulary into a tokenizer directory"),
    "prepare-data": ("xlm_hf.prepare_data", "build a pretraining recipe's token store ahead of the run"),
    "pretrain": ("xlm_hf.pretrain", "pretrain XLMWithLMHeadModel with CLM / MLM / TLM"),
    "finetune-xnli": ("xlm_hf.finetune_xnli", "fine-tune on XNLI and evaluate every language"),
    "finetune": (
        "xlm_hf.finetune",
        "fine-tune on a cross-lingual task (classification, NER, QA; retrieval probe)",
    ),
    "evaluate": ("xlm_hf.suite", "run a suite of task recipes on one model and report them in one table"),
    "reproduce": (
        "xlm_hf.reproduce.run",
        "run a study of recipes (pretraining variants x fine-tuning seeds) and report it",
    ),
}


def usage() -> str:
    lines = ["usage: xlm-hf {" + ",".join(COMMANDS) + "} --config RECIPE [section.key=value ...]", ""]
    lines += [f"  {name:<14} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "`xlm-hf COMMAND --help` shows a command's flags."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"xlm-hf: error: unknown command {command!r}\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    return module.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())
