"""Is a store entry whole? Sizes and cheap checksums recorded when it is written, checked before use.

A cache entry can be damaged after it was committed: a copy (``rsync``, a shared file system)
cut short, a file deleted by hand or by a cleaner, a disk that lost blocks, metadata edited or
overwritten. Mapping such an entry ends a run deep inside numpy (``could only read N elements``)
or, worse, trains on garbage. So `manifest` records, when the entry is written, every array file's
size and a `sampled_digest` of it; `entry_problem` checks them (and the two JSON files) before
the entry is used, and names the first file that differs and how.

The digest is cheap on purpose: a keyed BLAKE2b of the file's size and of `SAMPLES` blocks of
`BLOCK` bytes at evenly spaced places (the first and last included), about 1 MB read per file
whatever its size, so checking a 17 GB store costs milliseconds, not minutes. It catches a file
cut short or grown, a torn header or end, and a file replaced by another; a flipped byte between
the sampled blocks is left to the file system. Entries written before manifests existed are
checked by what their ``.npy`` headers promise (a file shorter than its header says is cut short).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

KEY_FILE = "key.json"
STORE_FILE = "store.json"
#: in an entry that `xlm-hf prepare-data` built: a run refuses to rebuild it (see `data.corpora`)
AHEAD_FILE = "built-ahead.json"
#: bytes read at each sampled place, and how many places (first and last block included)
BLOCK = 1 << 16
SAMPLES = 16


def sampled_digest(path: Path) -> str:
    """BLAKE2b (128 bits) of the file's size and `SAMPLES` blocks of `BLOCK` bytes spread over it."""
    size = os.path.getsize(path)
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as f:
        if size <= BLOCK * SAMPLES:
            digest.update(f.read())
        else:
            for i in range(SAMPLES):
                f.seek((size - BLOCK) * i // (SAMPLES - 1))
                digest.update(f.read(BLOCK))
    return digest.hexdigest()


def array_files(folder: Path) -> list[Path]:
    """The entry's arrays (its ``index/`` of derived start-up arrays is checked where it is read)."""
    return sorted(folder.glob("*.npy"))


def manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """``{file name: {"bytes": size, "digest": sampled digest}}`` of every array of `folder`."""
    return {
        path.name: {"bytes": path.stat().st_size, "digest": sampled_digest(path)}
        for path in array_files(folder)
    }


def expected_arrays(store: dict[str, Any]) -> list[str]:
    """The array files a complete entry holds, from its ``store.json``."""
    return [
        f"{split}.{column}.{part}.npy"
        for split in ("train", "valid")
        for column in store["columns"]
        for part in ("tokens", "offsets", "counts")
    ]


def entry_problem(folder: Path, key: dict[str, Any]) -> str | None:
    """None when the entry `folder` is whole and is the entry of `key`; else ``"FILE: what"``
    naming the first file found damaged, missing or unreadable."""
    try:
        recorded_key = json.loads((folder / KEY_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{folder / KEY_FILE}: missing"
    except (OSError, ValueError) as err:
        return f"{folder / KEY_FILE}: unreadable ({type(err).__name__})"
    if recorded_key != key:
        return f"{folder / KEY_FILE}: records another entry's inputs (overwritten or copied wrongly)"
    try:
        store = json.loads((folder / STORE_FILE).read_text(encoding="utf-8"))
        names = expected_arrays(store)
    except FileNotFoundError:
        return f"{folder / STORE_FILE}: missing"
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"{folder / STORE_FILE}: unreadable ({type(err).__name__})"
    recorded = store.get("files")
    for name in names:
        path = folder / name
        if not path.is_file():
            return f"{path}: missing"
        size = path.stat().st_size
        if recorded is None:  # an entry from before manifests: its header says how long it is
            problem = header_problem(path)
            if problem:
                return f"{path}: {problem}"
            continue
        written = recorded.get(name, {})
        if size != written.get("bytes"):
            how = "cut short" if size < written.get("bytes", 0) else "longer than written"
            return f"{path}: {size:,} bytes, {written.get('bytes', 0):,} written ({how})"
        if sampled_digest(path) != written.get("digest"):
            return f"{path}: its content differs from what was written (checksum)"
    return None


def header_problem(path: Path) -> str | None:
    """What is wrong with a ``.npy`` file by its own header: unreadable, or shorter than promised."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(f)
            expected = f.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    except (OSError, ValueError) as err:
        return f"not a readable array ({err})"
    if size != expected:
        return f"{size:,} bytes, its header promises {expected:,} ({'cut short' if size < expected else 'too long'})"
    return None
