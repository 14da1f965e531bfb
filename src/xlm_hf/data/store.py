"""The token store: tokenised corpora as flat memory-mapped arrays, one folder per cache entry.

A `TokenStore` holds the sentences of one split of one language (or one side of a pair) in two
``.npy`` files, mapped read-only, so every data-parallel rank shares the same pages:

- ``<split>.<column>.tokens.npy``: the stream ``</s> s0 </s> s1 </s> ... </s>`` in the narrowest
  dtype for the vocabulary (uint16 below 65,536 entries, else uint32). An MLM/CLM block is then a
  plain slice of it, and a sentence with its two ``</s>`` is one too;
- ``<split>.<column>.offsets.npy``: int64, the position of the ``</s>`` before each sentence and
  of the last one (n + 1 values), so no count of tokens or sentences has a limit;
- ``<split>.<column>.counts.npy``: how often each id occurs (``data.sample_alpha`` needs it).

An entry (``<cache>/<digest>/``) holds those files for train and valid, ``key.json`` (what it
was built from) and ``store.json`` (dtype, sentences, and each file's size and sampled checksum,
`integrity.manifest`), written last: a folder without it is not a complete entry. Entries are built in a temporary folder beside it and renamed (`commit`), so an
interrupted build leaves none; `remove_stale_temporaries` clears what a killed build left.
Start-up indices that are not cheap to recompute (TLM length buckets) are kept beside the store
(`cached_arrays`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xlm_hf.data.integrity import AHEAD_FILE, KEY_FILE, STORE_FILE, header_problem, manifest
from xlm_hf.text.special_tokens import EOS

logger = logging.getLogger(__name__)

#: Sentence tokens gathered per step when a split is written (bounds the memory of a build).
GATHER_TOKENS = 1 << 22


def token_dtype(vocab_size: int) -> np.dtype:
    """The narrowest unsigned type that holds every id of a `vocab_size` vocabulary."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


class TokenStore:
    """The sentences of one split: the ``</s>``-separated stream `tokens` and the int64 `offsets`
    of its separators (see the module docstring). Arrays may be mapped files or in memory."""

    def __init__(self, tokens: np.ndarray, offsets: np.ndarray, counts: np.ndarray | None = None) -> None:
        self.tokens, self.offsets, self.counts = tokens, offsets, counts

    @classmethod
    def open(cls, prefix: Path) -> TokenStore:
        counts = Path(f"{prefix}.counts.npy")
        return cls(
            np.load(f"{prefix}.tokens.npy", mmap_mode="r"),
            np.load(f"{prefix}.offsets.npy", mmap_mode="r"),
            np.load(counts) if counts.exists() else None,
        )

    @classmethod
    def from_sentences(
        cls, sentences: Sequence[Sequence[int]], dtype: np.dtype | type = np.int64
    ) -> TokenStore:
        """A store in memory (tests, small inputs)."""
        lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
        offsets = np.concatenate([[0], np.cumsum(lengths + 1)]).astype(np.int64)
        tokens = np.full(int(offsets[-1]) + 1, EOS, dtype=dtype)
        for start, sentence in zip(offsets[:-1].tolist(), sentences):
            tokens[start + 1 : start + 1 + len(sentence)] = sentence
        return cls(tokens, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> np.ndarray:
        """The tokens of sentence `index` (a view of the store)."""
        return self.tokens[self.offsets[index] + 1 : self.offsets[index + 1]]

    @property
    def n_tokens(self) -> int:
        """Sentence tokens, the separators not counted."""
        return len(self.tokens) - len(self.offsets)

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets) - 1

    def sentences(self) -> list[list[int]]:
        """Every sentence as a list (small stores: tests, validation)."""
        return [self[i].tolist() for i in range(len(self))]

    def token_counts(self, vocab_size: int) -> np.ndarray:
        """How often each id < `vocab_size` occurs in the sentences (separators not counted)."""
        counts = self.counts
        if counts is None:
            counts = np.zeros(vocab_size, dtype=np.int64)
            for start in range(0, len(self.tokens), GATHER_TOKENS):
                chunk = self.tokens[start : start + GATHER_TOKENS]
                counts += np.bincount(chunk, minlength=vocab_size)[:vocab_size]
            counts[EOS] -= len(self.offsets)
        out = np.zeros(vocab_size, dtype=np.int64)
        out[: min(vocab_size, len(counts))] = counts[:vocab_size]
        return out


@dataclass
class PairStore:
    """One split of a parallel corpus: sentence i of `ids1` translates sentence i of `ids2`."""

    ids1: TokenStore
    ids2: TokenStore

    def __len__(self) -> int:
        return len(self.ids1)

    def sentences(self) -> tuple[list[list[int]], list[list[int]]]:
        return self.ids1.sentences(), self.ids2.sentences()


# ----------------------------------------------------------------------------- writing


class LineTokens:
    """The tokens of every input line of one column, in order, appended chunk by chunk to raw
    files of a build folder (lines that gave no token keep a row of length 0)."""

    def __init__(self, prefix: Path, dtype: np.dtype) -> None:
        self.prefix, self.dtype = prefix, dtype
        # open while the chunks come in; `close` ends them (the build folder is removed on errors)
        self._tokens = open(f"{prefix}.lines.tokens", "wb")  # noqa: SIM115
        self._lengths = open(f"{prefix}.lines.lengths", "wb")  # noqa: SIM115
        self.n_rows = self.n_tokens = 0

    def append(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        if len(tokens) and int(tokens.max()) > np.iinfo(self.dtype).max:
            raise ValueError(f"token id {int(tokens.max())} does not fit {self.dtype}")
        self._tokens.write(np.ascontiguousarray(tokens, dtype=self.dtype).tobytes())
        self._lengths.write(np.ascontiguousarray(lengths, dtype=np.int64).tobytes())
        self.n_rows += len(lengths)
        self.n_tokens += len(tokens)

    def close(self) -> None:
        self._tokens.close()
        self._lengths.close()

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(tokens, lengths) written so far, mapped (after `close`)."""
        return _mapped_raw(f"{self.prefix}.lines.tokens", self.dtype), _mapped_raw(
            f"{self.prefix}.lines.lengths", np.dtype(np.int64)
        )

    def remove(self) -> None:
        for suffix in ("tokens", "lengths"):
            Path(f"{self.prefix}.lines.{suffix}").unlink(missing_ok=True)


def _mapped_raw(path: str, dtype: np.dtype) -> np.ndarray:
    size = os.path.getsize(path) // dtype.itemsize
    return np.memmap(path, dtype=dtype, mode="r", shape=(size,)) if size else np.zeros(0, dtype=dtype)


def write_selection(lines: LineTokens, rows: np.ndarray, prefix: Path) -> int:
    """Write the store of the lines `rows` (sorted) of `lines` at `prefix`, leaving out lines that
    gave no token; returns its number of sentences. Sentences are gathered a few million tokens
    at a time, so a build never holds a language in memory."""
    tokens, lengths = lines.arrays()
    starts = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    rows = np.asarray(rows, dtype=np.int64)
    rows = rows[lengths[rows] > 0] if len(rows) else rows
    kept = lengths[rows]
    offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(kept + 1, out=offsets[1:])
    out = np.lib.format.open_memmap(
        f"{prefix}.tokens.npy", mode="w+", dtype=lines.dtype, shape=(int(offsets[-1]) + 1,)
    )
    counts = np.zeros(1, dtype=np.int64)
    first = 0
    while first < len(rows):
        # rows [first, last) hold about GATHER_TOKENS tokens (at least one row)
        last = max(first + 1, int(np.searchsorted(offsets, offsets[first] + GATHER_TOKENS, side="right")) - 1)
        last = min(last, len(rows))
        lens = kept[first:last]
        within = np.arange(int(lens.sum()), dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
        chunk = tokens[np.repeat(starts[rows[first:last]], lens) + within]
        out[np.repeat(offsets[first:last] + 1, lens) + within] = chunk
        chunk_counts = np.bincount(chunk)
        if len(chunk_counts) > len(counts):
            counts = np.pad(counts, (0, len(chunk_counts) - len(counts)))
        counts[: len(chunk_counts)] += chunk_counts
        first = last
    out[offsets] = EOS
    out.flush()
    del out
    np.save(f"{prefix}.offsets.npy", offsets)
    np.save(f"{prefix}.counts.npy", counts)
    return len(rows)


def write_meta(folder: Path, key: dict, store: dict, ahead: bool = False) -> None:
    """key.json, then store.json with every array's size and checksum: the file whose presence
    makes `folder` a complete entry. `ahead`: built by ``xlm-hf prepare-data`` (recorded apart
    from store.json, so that a damaged store.json does not hide it)."""
    (folder / KEY_FILE).write_text(json.dumps(key, indent=1, sort_keys=True))
    if ahead:
        (folder / AHEAD_FILE).write_text(
            json.dumps({"by": "xlm-hf prepare-data", "host": socket.gethostname()})
        )
    store = {**store, "files": manifest(folder)}
    (folder / STORE_FILE).write_text(json.dumps(store, indent=1, sort_keys=True))


def is_entry(folder: Path) -> bool:
    return (folder / STORE_FILE).is_file()


# ----------------------------------------------------------------------------- entries


def temporary_folder(cache_dir: Path, digest: str) -> Path:
    """A build folder beside the entry it becomes; its name says which host and process own it."""
    return Path(tempfile.mkdtemp(prefix=f".{digest}.{socket.gethostname()}-{os.getpid()}.", dir=cache_dir))


def commit(folder: Path, target: Path) -> None:
    """Rename the finished build `folder` to `target` (replacing an incomplete folder there)."""
    if target.exists() and not is_entry(target):
        shutil.rmtree(target)
    try:
        os.replace(folder, target)
    except OSError:  # another process committed the same entry first: keep theirs
        if not is_entry(target):
            raise
        shutil.rmtree(folder, ignore_errors=True)


def remove_stale_temporaries(cache_dir: Path) -> None:
    """Remove build folders left by processes of this host that no longer run (a SIGKILL)."""
    if not cache_dir.is_dir():
        return
    host = socket.gethostname()
    for path in cache_dir.glob(".*"):
        # .<digest>.<host>-<pid>.<random> (see `temporary_folder`; a host name may hold dots)
        owner = path.name[1:].partition(".")[2].rpartition(".")[0]
        name, _, pid = owner.rpartition("-")
        if path.is_dir() and name == host and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cached_arrays(
    folder: Path, name: str, compute: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Arrays `compute` returns, kept in ``<folder>/index/<name>/`` and mapped from there by later
    runs (and by the other ranks). When the entry cannot be written (a read-only cache, a full
    disk) the arrays are computed and held in memory instead; kept arrays that are damaged (cut
    short, unreadable) are computed again, with a warning: they derive from the store."""
    target = folder / "index" / name
    if (target / "done").exists():
        damaged = next((p for p in sorted(target.glob("*.npy")) if header_problem(p)), None)
        if damaged is None:
            return {p.stem: np.load(p, mmap_mode="r") for p in sorted(target.glob("*.npy"))}
        logger.warning("%s: %s: computing the index again", damaged, header_problem(damaged))
        shutil.rmtree(target, ignore_errors=True)
    arrays = compute()
    tmp = None
    try:
        target.parent.mkdir(exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
        for key, array in arrays.items():
            np.save(tmp / f"{key}.npy", array)
        (tmp / "done").write_text("")
        os.replace(tmp, target)
    except OSError:  # not writable here, or another rank wrote the same index first
        if not (target / "done").exists():
            return arrays
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return {p.stem: np.load(p, mmap_mode="r") for p in sorted(target.glob("*.npy"))}
