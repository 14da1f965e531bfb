"""Writing results so that a reader never sees half of them: one file, or one whole directory.

Every file and directory the toolkit leaves behind is written under a temporary name beside its
destination and renamed into place (a rename within a directory is atomic on POSIX), so a run
stopped at any moment leaves either the old content or the new one, never a mixture.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically, creating its parent directory."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: str | os.PathLike, payload: Any, indent: int = 2) -> None:
    """`payload` as indented JSON (non-ASCII kept readable), atomically."""
    write_text(path, json.dumps(payload, indent=indent, ensure_ascii=False) + "\n")


@contextmanager
def atomic_directory(destination: str | os.PathLike, replace: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory beside `destination`; on success it becomes `destination`.

    On any exception (SIGTERM arrives as `SystemExit` in our workers) the temporary directory is
    removed and `destination` is left as it was. With `replace`, an existing `destination` is
    swapped out only once the new one is complete.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent))
    try:
        yield tmp
        if replace and destination.exists():
            old = destination.with_name(f".{destination.name}.old-{os.getpid()}")
            os.replace(destination, old)
            os.replace(tmp, destination)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, destination)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def check_can_write(path: str | os.PathLike, key: str) -> None:
    """`path` is, or can become, a directory this process writes into; else one `ConfigError` line.

    Checked before any work (output directories, the token store), so that a file in the way or a
    location nobody can write fails in the first second, not after hours of tokenising or
    training. The test is a real one (a folder made and removed in `path` or its nearest existing
    parent): permission bits say nothing for root, on a read-only mount or under /proc.
    """
    from xlm_hf.errors import ConfigError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{key}: {path} exists and is not a directory")
    existing = path
    while not existing.exists():
        if existing.is_symlink():
            raise ConfigError(f"{key}: cannot create {path}: {existing} is a dangling symbolic link")
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{key}: cannot create {path}: {existing} is a file, not a directory")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".xlm-hf-write-check.", dir=existing))
    except OSError as err:
        what = "cannot write in it" if existing == path else f"cannot create it in {existing}"
        raise ConfigError(f"{key}: {path}: {what} ({err.strerror or err})") from None
