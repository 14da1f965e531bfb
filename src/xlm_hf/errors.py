"""The error types a command ends with, and how the CLI reports them (see `xlm_hf.launch`).

`XlmHfError` and its kinds are problems the user can fix (`StorageError`: a full disk): the CLI prints the message on one
line and exits with status 2 (``--debug`` adds the traceback). Errors raised deep inside datasets,
transformers or Python's codecs are converted to one of these where our code calls them, so the
message can name the recipe key or the file and line.

`Interrupted` is a clean stop on a signal (a training step saved its checkpoint, or a study step
was stopped): the CLI prints it and exits with 128 + the signal number.
"""

from __future__ import annotations

import signal


class XlmHfError(ValueError):
    """A problem the user can fix: reported as one line, exit status 2."""


class ConfigError(XlmHfError):
    """A recipe problem, reported as one line that names the key (``data.languages: ...``)."""


class DataError(XlmHfError):
    """A bad input file, reported as one line that names the file and line (``corpus.txt:12: ...``)."""


class StorageError(XlmHfError):
    """The disk refused a write (full, over quota): one line naming where, nothing left half-written."""


#: errno values of a disk that refuses a write for lack of room: full (ENOSPC), over quota (EDQUOT)
DISK_FULL = (28, 122)


def disk_full(err: BaseException) -> bool:
    """`err` is a write refused for lack of room (an OSError with ENOSPC or EDQUOT, or a library's
    error that says so: torch and safetensors report it in their own words)."""
    if isinstance(err, OSError) and err.errno in DISK_FULL:
        return True
    return "No space left on device" in str(err) or "Disk quota exceeded" in str(err)


class Interrupted(Exception):
    """Stopped on signal `signum`; `checkpoint` is where training can continue from (if any)."""

    def __init__(self, signum: int, message: str, checkpoint: str | None = None) -> None:
        super().__init__(message)
        self.signum, self.checkpoint = signum, checkpoint

    @classmethod
    def training(cls, signum: int, checkpoint: str | None) -> Interrupted:
        """A training run stopped after saving `checkpoint` (None: none could be saved)."""
        where = f"checkpoint saved to {checkpoint}" if checkpoint else "no checkpoint could be saved"
        return cls(
            signum,
            f"stopped by {signal.Signals(signum).name}: {where}; "
            "continue with --resume (training.resume_from_checkpoint=last)",
            checkpoint,
        )

    @classmethod
    def study_step(cls, signum: int, step: str) -> Interrupted:
        """A study stopped while step `step` ran (the step saved its own checkpoint)."""
        return cls(
            signum,
            f"step {step} stopped by {signal.Signals(signum).name}; run the same command again to continue",
        )


def one_line(message: object) -> str:
    """`message` with any line breaks folded into spaces."""
    return " ".join(str(message).splitlines())


def require(ok: object, key: str, message: str) -> None:
    """Raise ``ConfigError("<key>: <message>")`` unless `ok`: the recipe checks' one-liner."""
    if not ok:
        raise ConfigError(f"{key}: {message}")
