"""What every command shares: its flags, logging, and how errors become exit statuses.

Each command module (`vocab`, `pretrain`, `finetune_xnli`, `reproduce`) has a ``main(argv)`` that
hands its own work to :func:`run_command`; `xlm_hf.cli` only picks the module. Exit statuses:

- 0: done;
- 2: a recipe or input problem (`XlmHfError`): one line naming the key or the file and line,
  printed before anything was written (``--debug`` adds the traceback);
- 128 + N: stopped by signal N after a checkpoint was saved (`Interrupted`): run again with
  ``--resume`` (a study simply continues).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Callable

from xlm_hf.errors import Interrupted, XlmHfError, one_line

#: The override that ``--resume`` stands for.
RESUME_OVERRIDE = "training.resume_from_checkpoint=last"


def parse_command_line(
    command: str, description: str, argv: list[str], resumable: bool
) -> tuple[str, list[str], bool]:
    """(recipe path, overrides, debug) of ``xlm-hf <command> --config RECIPE [key=value ...]``.

    The flags are also accepted after the overrides; ``--resume`` becomes `RESUME_OVERRIDE`.
    """
    parser = argparse.ArgumentParser(prog=f"xlm-hf {command}", description=description)
    parser.add_argument("--config", required=True, help="recipe YAML")
    if resumable:
        parser.add_argument(
            "--resume",
            action="store_true",
            help=f"continue from the newest complete checkpoint ({RESUME_OVERRIDE})",
        )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="section.key=value ...")
    args = parser.parse_args(argv)
    flags = ("--debug", "--resume") if resumable else ("--debug",)
    overrides = [arg for arg in args.overrides if arg not in flags]
    if resumable and (args.resume or "--resume" in args.overrides):
        overrides.append(RESUME_OVERRIDE)
    return args.config, overrides, args.debug or "--debug" in args.overrides


def setup_logging() -> None:
    """INFO lines with a time stamp; transformers at WARNING; no per-loader pin_memory warning."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    if "transformers" in sys.modules or _importable("transformers"):
        import transformers

        transformers.logging.set_verbosity_warning()
    # torch warns once per data loader that pin_memory has no effect without a GPU: noise on CPU runs
    warnings.filterwarnings("ignore", message=".*pin_memory.*")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def is_main_process() -> bool:
    """Rank 0 of a `torchrun` / `accelerate launch` job, or a process started alone."""
    return os.environ.get("RANK", "0") == "0"


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def leave_process_group() -> None:
    """After a command that succeeded on every rank: wait for the others, then close the process
    group. A process that exits with its gloo group open can die in the group's C++ teardown
    ("terminate called without an active exception", SIGABRT) while another rank still writes the
    results, and the launcher then reports the whole run failed."""
    distributed = sys.modules.get("torch.distributed")  # a command that never imported it has no group
    if distributed is None or not distributed.is_available() or not distributed.is_initialized():
        return
    distributed.barrier()
    distributed.destroy_process_group()


def run_command(
    command: str,
    description: str,
    argv: list[str] | None,
    work: Callable[[str, list[str]], None],
    resumable: bool = False,
) -> int:
    """Parse `argv` (default: ``sys.argv[1:]``), run ``work(recipe, overrides)``, map errors to a status."""
    config, overrides, debug = parse_command_line(
        command, description, list(sys.argv[1:] if argv is None else argv), resumable
    )
    setup_logging()
    try:
        work(config, overrides)
        leave_process_group()
    except XlmHfError as err:
        if debug:
            traceback.print_exc()
        print(f"xlm-hf {command}: error: {one_line(err)}", file=sys.stderr)
        return 2
    except Interrupted as err:  # a checkpoint was saved: a clean stop, not a crash
        if is_main_process():  # every rank stops; one line says so
            print(f"xlm-hf {command}: {err}", file=sys.stderr)
        return 128 + err.signum
    return 0
