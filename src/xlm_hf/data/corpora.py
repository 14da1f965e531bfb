"""The corpora of a recipe: inputs checked, tokenised once into the token store, opened mapped.

inputs (`inputs`: files, globs, hub) → tokenise (`tokenise`: worker processes) → store (`store`:
mapped files) → what `pretraining` makes of them (streams, TLM pairs, batches).

Each language (mono) and pair (para) is one store entry, keyed by its inputs (paths, sizes and
times, or the hub name), the tokenizer and the split settings: a later run with the same inputs
maps it without reading any text. A missing entry is built as its inputs are read: every line
is tokenised (all of one language's lines shared out to the workers in chunks, in order), then a
seeded hold-out of lines becomes the valid split and the rest the train split.

An entry found damaged when it is opened (`integrity.entry_problem`: a file cut short, missing, or
unlike what was written, metadata unreadable) is rebuilt, with one warning, when it can be from
the inputs at hand; otherwise the command stops with one line naming the file and what to do
(`check_entries`). A run never rebuilds an entry that ``xlm-hf prepare-data`` built ahead: that
store was built once on purpose (several nodes, a corpus whose tokenisation outlasts the process
group's timeout), and ``prepare-data`` is what rebuilds it.

Nothing is written before every input has been checked and the cache is known to be writable;
an input found bad while it is read (an invalid byte deep in a large file) stops the run, and the
entries this run had already added are removed again: a failure leaves the cache as it was. A
stopped run (SIGTERM, Ctrl-C) keeps the entries it finished and none half-written, so the next
run continues from there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xlm_hf.atomic_files import check_can_write
from xlm_hf.config.sections import DataConfig
from xlm_hf.data.decontaminate import Decontaminator, evaluation_sentences
from xlm_hf.data.inputs import (
    Inputs,
    input_bytes,
    input_fingerprint,
    is_hub,
    mono_lines,
    no_token_error,
    parallel_lines,
    resolve_inputs,
)
from xlm_hf.data.integrity import AHEAD_FILE, entry_problem
from xlm_hf.data.store import (
    STORE_FILE,
    LineTokens,
    PairStore,
    TokenStore,
    commit,
    is_entry,
    remove_stale_temporaries,
    temporary_folder,
    token_dtype,
    write_meta,
    write_selection,
)
from xlm_hf.data.tokenise import Progress, Tokeniser, chunks, load_tokenizer, process_count, stop_on_sigterm
from xlm_hf.errors import ConfigError, DataError, StorageError, XlmHfError, disk_full

logger = logging.getLogger(__name__)

CACHE_VERSION = "5"  # 5: the memory-mapped token store (4 and before: Arrow datasets)


@dataclass
class Corpora:
    """Token stores per language (train and valid) and per pair, and the entry folder of each
    (``mono.en``, ``para.en-fr``), where start-up indices are kept beside the store."""

    mono_train: dict[str, TokenStore] = field(default_factory=dict)
    mono_valid: dict[str, TokenStore] = field(default_factory=dict)
    para_train: dict[str, PairStore] = field(default_factory=dict)
    para_valid: dict[str, PairStore] = field(default_factory=dict)
    folders: dict[str, Path] = field(default_factory=dict)
    cache_hits: int = 0
    cache_misses: int = 0
    decontaminated: dict[str, int] = field(
        default_factory=dict
    )  # entry -> lines dropped (data.decontaminate)


def default_cache_dir() -> Path:
    return Path(os.environ.get("XLM_HF_CACHE", Path.home() / ".cache" / "xlm_hf"))


def cache_location(config: DataConfig) -> tuple[Path, str]:
    """The cache folder and the key that names it in messages."""
    if config.cache_dir:
        return Path(config.cache_dir), "data.cache_dir"
    return default_cache_dir(), "data.cache_dir (default: $XLM_HF_CACHE or ~/.cache/xlm_hf)"


def check_cache_dir(config: DataConfig) -> None:
    """A cache folder that does not exist must be creatable (checked before a vocabulary is learned);
    an existing one may be read-only as long as it holds every entry (see `load_corpora`)."""
    path, key = cache_location(config)
    if not path.is_dir():
        check_can_write(path, key)


def tokenizer_fingerprint(tokenizer_dir: str | Path) -> str:
    digest = hashlib.sha256()
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        path = Path(tokenizer_dir) / name
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def held_out_rows(n: int, valid_size: float, max_valid: int, seed: int | str) -> np.ndarray:
    """The seeded valid rows among `n` lines, sorted; valid_size < 1 is a fraction, >= 1 a count."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_valid = int(n * valid_size) if valid_size < 1 else int(valid_size)
    n_valid = max(1, min(n_valid, max_valid, n - 1)) if n > 1 else 0
    return np.sort(np.asarray(order[:n_valid], dtype=np.int64))


def split_rows(n: int, valid_size: float, max_valid: int, seed: int | str) -> tuple[np.ndarray, np.ndarray]:
    """(train, valid) rows of `n` lines: the seeded hold-out and the rest, both sorted."""
    valid = held_out_rows(n, valid_size, max_valid, seed)
    train = np.ones(n, dtype=bool)
    train[valid] = False
    return np.flatnonzero(train), valid


def _digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


@dataclass
class Job:
    """One store entry to open, or to build when missing."""

    kind: str  # mono, para
    target: str  # a language or a pair
    key: dict[str, Any]
    inputs: list[str]

    @property
    def name(self) -> str:
        return f"{self.kind}.{self.target}"

    @property
    def digest(self) -> str:
        return _digest(self.key)


class Builder:
    """Builds the entries of one run: tokenises each input into a build folder, then writes its
    train and valid stores (see the module docstring)."""

    def __init__(
        self,
        config: DataConfig,
        inputs: Inputs,
        tokenizer_dir: str,
        seed: int,
        preprocessing: str | None = None,
    ) -> None:
        self.config, self.inputs, self.tokenizer_dir, self.seed = config, inputs, tokenizer_dir, seed
        self.preprocessing = preprocessing  # the recipe's choice, for a directory that records none
        self.dtype = token_dtype(len(load_tokenizer(tokenizer_dir, config.fast_tokenizer, preprocessing)))
        self.evaluation = evaluation_sentences(inputs.decontaminate) if inputs.decontaminate else frozenset()

    def decontaminated(self, name: str, cleaner: Decontaminator, store: dict[str, Any]) -> dict[str, Any]:
        """`store` with the count of lines `cleaner` dropped (when the recipe decontaminates)."""
        if not self.evaluation:
            return store
        logger.info(
            "decontamination: dropped %d lines of %s equal to evaluation sentences", cleaner.dropped, name
        )
        return {**store, "decontaminated": cleaner.dropped}

    def tokenise(
        self, rows, langs: list[str], outputs: list[LineTokens], tokeniser: Tokeniser, progress: Progress
    ) -> None:
        """Tokenise `rows` (tuples, one text per column) in chunks into `outputs`, in order."""
        fast = self.config.fast_tokenizer
        jobs = (
            (
                self.tokenizer_dir,
                fast,
                self.preprocessing,
                [(lang, list(texts)) for lang, texts in zip(langs, zip(*chunk))],
            )
            for chunk in chunks(rows)
        )
        for result in tokeniser.map(jobs):
            for output, (ids, lengths) in zip(outputs, result):
                output.append(ids, lengths)
            progress.tokenised(len(result[0][1]))
        for output in outputs:
            output.close()

    def split(
        self,
        rows,
        langs: list[str],
        names: list[str],
        folder: Path,
        seed: str,
        tokeniser: Tokeniser,
        progress,
    ) -> tuple[list[LineTokens], int, np.ndarray, np.ndarray]:
        """(token columns, lines read, train rows, valid rows into the columns) of `rows`: the
        seeded hold-out of the lines, and the rest (the first `max_lines_per_language` of it).

        With that cap, the lines are first kept as text in the build folder and only the ones a
        split uses are tokenised: a cap of 10k lines on a Wikipedia costs a read, not a
        tokenisation, of the whole of it, with the same rows as without the shortcut."""
        config, cap = self.config, self.config.max_lines_per_language
        columns = [LineTokens(folder / f"lines.{name}", self.dtype) for name in names]
        if cap is None:
            self.tokenise(rows, langs, columns, tokeniser, progress)
            n = columns[0].n_rows
            train, valid = split_rows(n, config.valid_size, config.max_valid_lines, seed)
            return columns, n, train, valid
        texts = [folder / f"lines.{name}.txt" for name in names]
        n = write_texts(rows, texts)
        train, valid = split_rows(n, config.valid_size, config.max_valid_lines, seed)
        needed = np.union1d(train[:cap], valid)
        self.tokenise(read_texts(texts, needed), langs, columns, tokeniser, progress)
        for path in texts:
            path.unlink()
        return columns, n, np.searchsorted(needed, train[:cap]), np.searchsorted(needed, valid)

    def mono(self, lang: str, folder: Path, tokeniser: Tokeniser, progress: Progress) -> dict[str, Any]:
        config, paths = self.config, self.inputs.mono[lang]
        where = self.inputs.keys[f"mono.{lang}"]
        cleaner = Decontaminator(self.evaluation)
        lines_read = mono_lines(paths, where, config.text_column, progress.read, self.inputs.hub)
        text = ((line,) for line in (cleaner.lines(lines_read) if self.evaluation else lines_read))
        if lang in self.inputs.mono_valid:  # no hold-out: every line trains, the valid files validate
            lines = LineTokens(folder / "lines.input_ids", self.dtype)
            self.tokenise(text, [lang], [lines], tokeniser, progress)
            n = lines.n_rows
            valid_lines = LineTokens(folder / "valid-lines.input_ids", self.dtype)
            valid_key = f"data.mono_valid.{lang}"
            valid_text = mono_lines(
                self.inputs.mono_valid[lang], valid_key, config.text_column, progress.read, self.inputs.hub
            )
            self.tokenise(((line,) for line in valid_text), [lang], [valid_lines], tokeniser, progress)
            train, valid = np.arange(n)[: config.max_lines_per_language], np.arange(valid_lines.n_rows)
        else:
            (lines,), n, train, valid = self.split(
                text, [lang], ["input_ids"], folder, f"{self.seed}-{lang}", tokeniser, progress
            )
            valid_lines = lines
        if n == 0:
            raise ConfigError(f"{where}: no text for {lang!r} in {', '.join(paths)}")
        if lines.n_tokens == 0:
            raise no_token_error(paths)
        splits = {}
        for split, source, rows in (("train", lines, train), ("valid", valid_lines, valid)):
            rows = _rows_with_tokens(rows, source)
            write_selection(source, rows, folder / f"{split}.input_ids")
            splits[split] = {"sentences": len(rows)}
        for source in {id(lines): lines, id(valid_lines): valid_lines}.values():
            source.remove()
        store = {"dtype": self.dtype.name, "columns": ["input_ids"], "splits": splits}
        return self.decontaminated(f"mono.{lang}", cleaner, store)

    def para(self, pair: str, folder: Path, tokeniser: Tokeniser, progress: Progress) -> dict[str, Any]:
        files, key = self.inputs.para[pair], self.inputs.keys[f"para.{pair}"]
        cleaner = Decontaminator(self.evaluation)
        pairs = parallel_lines(files, pair, key, progress.read, self.inputs.hub)
        pairs = cleaner.pairs(pairs) if self.evaluation else pairs
        names = ["ids1", "ids2"]
        columns, n, train, valid = self.split(
            pairs, pair.split("-"), names, folder, f"{self.seed}-{pair}", tokeniser, progress
        )
        if n == 0:
            raise ConfigError(f"{key}: no sentence pairs in {', '.join(files)}")
        splits = {}
        for split, rows in (("train", train), ("valid", valid)):
            rows = _rows_with_tokens(rows, *columns)
            for name, column in zip(names, columns):
                write_selection(column, rows, folder / f"{split}.{name}")
            splits[split] = {"sentences": len(rows)}
        if splits["train"]["sentences"] + splits["valid"]["sentences"] == 0:
            raise DataError(
                f"{', '.join(files)}: no pair gives tokens on both sides (control characters only)"
            )
        for column in columns:
            column.remove()
        store = {"dtype": self.dtype.name, "columns": names, "splits": splits}
        return self.decontaminated(f"para.{pair}", cleaner, store)


def write_texts(rows, paths: list[Path]) -> int:
    """Write each column of `rows` (tuples of texts) to its file, one JSON string a line (a hub
    translation may hold a line break); returns the number of rows."""
    files = [open(path, "w", encoding="utf-8") for path in paths]  # noqa: SIM115  (closed below)
    n = 0
    try:
        for row in rows:
            for f, text in zip(files, row):
                f.write(json.dumps(text, ensure_ascii=False) + "\n")
            n += 1
    finally:
        for f in files:
            f.close()
    return n


def read_texts(paths: list[Path], rows: np.ndarray):
    """The tuples of the rows `rows` (sorted) of the files `write_texts` wrote, in order."""
    files = [open(path, encoding="utf-8") for path in paths]  # noqa: SIM115  (closed below)
    try:
        wanted = iter(rows.tolist())
        next_row = next(wanted, None)
        for number, lines in enumerate(zip(*files)):
            if number == next_row:
                yield tuple(json.loads(line) for line in lines)
                next_row = next(wanted, None)
    finally:
        for f in files:
            f.close()


def _rows_with_tokens(rows: np.ndarray, *columns: LineTokens) -> np.ndarray:
    """`rows` where every column gave some token: a line of control characters only gives none,
    and is dropped from every column at once, so pairs stay aligned."""
    keep = np.ones(len(rows), dtype=bool)
    for column in columns:
        keep &= column.arrays()[1][rows] > 0
    return rows[keep]


def load_corpora(
    config: DataConfig,
    tokenizer_dir: str | Path,
    seed: int = 0,
    inputs: Inputs | None = None,
    preprocessing: str | None = None,
    ahead: bool = False,
) -> Corpora:
    """The token stores of every language of `config` (and TLM pair), built when missing.
    `inputs`: what `resolve_inputs` returned for `config` (found and checked again when None).
    `preprocessing`: the recipe's ``model.preprocessing`` (``hf`` or ``xlm``), for a tokenizer
    directory that records none; a record wins (see `xlm_hf.text.pretokenize.use_preprocessing`).
    `ahead`: ``xlm-hf prepare-data`` is building the store ahead of a run (see the module docstring)."""
    tokenizer_dir = str(tokenizer_dir)
    cache_dir, cache_key = cache_location(config)
    inputs = inputs or resolve_inputs(config)
    base = {
        "version": CACHE_VERSION,
        "tokenizer": tokenizer_fingerprint(tokenizer_dir),
        "valid_size": config.valid_size,
        "max_valid": config.max_valid_lines,
        "max_lines": config.max_lines_per_language,
        "seed": seed,
        "text_column": config.text_column,
        # a recipe's choice, when given (the directory's own record is covered by the fingerprint)
        **({"preprocessing": preprocessing} if preprocessing else {}),
        # the evaluation sets kept out (absent when none: earlier stores keep their digests)
        **({"decontaminate": input_fingerprint(inputs.decontaminate)} if inputs.decontaminate else {}),
    }
    jobs = []
    for lang, paths in inputs.mono.items():
        valid = inputs.mono_valid.get(lang)
        key = {
            **base,
            "name": f"mono.{lang}",
            "lang": lang,
            "inputs": input_fingerprint(paths),
            "valid": input_fingerprint(valid) if valid else None,
        }
        jobs.append(Job("mono", lang, key, paths + (valid or [])))
    for pair, files in inputs.para.items():
        key = {**base, "name": f"para.{pair}", "inputs": input_fingerprint(files)}
        jobs.append(Job("para", pair, key, files))

    check_entries(jobs, cache_dir, cache_key, ahead)
    missing = [job for job in jobs if not is_entry(cache_dir / job.digest)]
    if missing:
        builder = Builder(config, inputs, tokenizer_dir, seed, preprocessing)
        build_entries(missing, builder, cache_dir, cache_key, ahead)
    corpora = Corpora(cache_misses=len(missing), cache_hits=len(jobs) - len(missing))
    for job in jobs:
        folder = cache_dir / job.digest
        corpora.folders[job.name] = folder
        if job.kind == "mono":
            corpora.mono_train[job.target] = TokenStore.open(folder / "train.input_ids")
            corpora.mono_valid[job.target] = TokenStore.open(folder / "valid.input_ids")
        else:
            for split, out in (("train", corpora.para_train), ("valid", corpora.para_valid)):
                out[job.target] = PairStore(
                    *(TokenStore.open(folder / f"{split}.{c}") for c in ("ids1", "ids2"))
                )
        if job not in missing:
            logger.info("reusing tokenised %s from %s", job.name, folder)
        if inputs.decontaminate:
            corpora.decontaminated[job.name] = json.loads((folder / STORE_FILE).read_text())["decontaminated"]
    return corpora


def check_entries(jobs: list[Job], cache_dir: Path, cache_key: str, ahead: bool) -> None:
    """Every entry of `jobs` in the store is whole, or removed (one warning each) to be built again
    where that is possible; else one `ConfigError` line naming the file, before anything changes."""
    damaged = []
    for job in jobs:
        folder = cache_dir / job.digest
        problem = entry_problem(folder, job.key) if folder.is_dir() else None
        if problem:
            damaged.append((job, folder, problem))
    for job, folder, problem in damaged:  # refuse before anything is removed
        refusal = cannot_rebuild(job, folder, cache_dir, cache_key, ahead)
        if refusal:
            raise ConfigError(f"{cache_key}: {problem}; {refusal}")
    for job, folder, problem in damaged:
        logger.warning("%s: damaged: %s; rebuilding %s", folder, problem, job.name)
        aside = folder.with_name(f".{folder.name}.damaged-{os.getpid()}")
        os.replace(folder, aside)  # off the entry's name at once, then removed
        shutil.rmtree(aside, ignore_errors=True)


def cannot_rebuild(job: Job, folder: Path, cache_dir: Path, cache_key: str, ahead: bool) -> str | None:
    """Why the damaged entry `folder` of `job` cannot be rebuilt here (what to do instead), or None."""
    if (folder / AHEAD_FILE).exists() and not ahead:
        return (
            f"{job.name} was built ahead by `xlm-hf prepare-data`, and a run does not rebuild such an entry: "
            "run `xlm-hf prepare-data` again with this recipe and overrides (it rebuilds it), then this command"
        )
    offline = any(
        os.environ.get(v, "0").lower() in ("1", "true") for v in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")
    )
    hub = [path for path in job.inputs if is_hub(path)]
    if hub and offline:
        return f"its input {hub[0]} cannot be read offline to rebuild it: go online, or restore {folder}"
    try:
        check_can_write(cache_dir, cache_key)
    except ConfigError:
        return f"the store cannot be written here to rebuild it: rebuild it where it can (`xlm-hf prepare-data`), or restore {folder}"
    return None


def build_entries(
    jobs: list[Job], builder: Builder, cache_dir: Path, cache_key: str, ahead: bool = False
) -> None:
    """Build and commit every entry of `jobs`, one after the other, with one pool of workers and
    one progress bar. On a bad input the entries committed here are removed again."""
    try:
        check_can_write(cache_dir, cache_key)
    except ConfigError as err:
        if cache_dir.is_dir():  # a read-only store serves runs that find every entry in it
            raise ConfigError(
                f"{err}; it lacks {', '.join(j.name for j in jobs)} (see the README: the store)"
            ) from None
        raise
    created = _first_missing(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(cache_dir)
    hub = any(is_hub(path) for job in jobs for path in job.inputs)
    total = sum(input_bytes(job.inputs) for job in jobs)
    processes = process_count(builder.config.num_proc, None if hub else total)
    committed: list[Path] = []
    progress = Progress(total if not hub else None)
    current = jobs[0]
    try:
        with stop_on_sigterm(), Tokeniser(processes) as tokeniser:
            for current in jobs:
                progress.describe(current.name)
                folder = temporary_folder(cache_dir, current.digest)
                try:  # the folder is removed however this ends; a finished one is renamed first
                    build = builder.mono if current.kind == "mono" else builder.para
                    store = build(current.target, folder, tokeniser, progress)
                    write_meta(folder, current.key, store, ahead)
                    commit(folder, cache_dir / current.digest)
                    committed.append(cache_dir / current.digest)
                    logger.info("tokenised %s into %s", current.name, cache_dir / current.digest)
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
    except (XlmHfError, OSError) as err:
        if isinstance(err, OSError) and not disk_full(err):
            raise
        for path in committed:
            shutil.rmtree(path, ignore_errors=True)
        if created is not None:
            _remove_empty(created, cache_dir)
        if isinstance(err, OSError):
            raise StorageError(
                f"{cache_key}: no space left on the device of {cache_dir} while writing {current.name} "
                "(nothing of this run was kept); free space, or point data.cache_dir elsewhere: an entry "
                "takes about 2.4 bytes per token, and as much again while it is built"
            ) from None
        raise
    finally:
        progress.close()


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (None when `path` exists)."""
    missing = None
    while not path.exists():
        missing, path = path, path.parent
    return missing


def _remove_empty(top: Path, path: Path) -> None:
    """Remove the empty folders from `path` up to `top` (those this run created)."""
    while True:
        try:
            path.rmdir()
        except OSError:
            return
        if path == top:
            return
        path = path.parent
