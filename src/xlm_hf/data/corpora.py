"""Monolingual and parallel corpora: read, tokenise once per language, cache, hold out validation.

Sources, per language (mono) or pair (para):
- the data directory convention: ``DIR/mono/<lang>.txt``, ``DIR/para/<l1>-<l2>.<l1>`` / ``.<l2>``;
- explicit files or globs (``data.mono.en: corpus/en-*.txt``; ``data.para.en-fr: [a.en, a.fr]``);
- hub datasets ``hf:<name>[:<config>]`` (text column ``data.text_column``; parallel: ``translation``).

Each language is tokenised with its own ``lang=`` by a batched ``Dataset.map`` and saved under a
key of (inputs, tokenizer, split settings): a second run with the same inputs reuses it. Several
languages (and pairs) to tokenise are shared out, largest first, to a pool of ``data.num_proc``
forked processes (by default one per core, at most 8, once they hold 20k lines or more); a single
language is split over that many ``Dataset.map`` workers instead (by default one per 25k lines).
Tokenisation uses `FastXLMTokenizer` (the same ids as `XLMTokenizer`, several times faster)
unless ``data.fast_tokenizer`` is false, with the tokenizer's pre-processing (``hf`` or ``xlm``:
what its directory records, or what the recipe's ``model.preprocessing`` says).
A cache entry is written to a temporary folder and renamed, so an interrupted run leaves none.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import random
import shutil
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict, load_from_disk

from xlm_hf.config import DataConfig
from xlm_hf.data.textfiles import BLANK_CHARS, non_blank_lines, read_text_lines
from xlm_hf.errors import ConfigError, one_line
from xlm_hf.text import use_preprocessing, xlm_encode

logger = logging.getLogger(__name__)

CACHE_VERSION = "4"
HUB_PREFIX = "hf:"
#: By default, a worker process per this many lines, at most one per core: each worker starts
#: with an empty word cache, which costs about a second, and a fork, shards and a merge.
MIN_LINES_PER_PROCESS = 25_000
MAX_AUTO_PROCESSES = 8
WARM_UP_LINES = 2000
#: By default, languages are tokenised side by side once those to do hold this many lines: below
#: it, forking and saving from several processes costs more than it saves.
MIN_LINES_FOR_POOL = 20_000

# Set in a pool worker: it tokenises its language in-process (a daemonic worker cannot fork).
_IN_POOL_WORKER = False
# The jobs a forked pool worker builds, inherited by fork (closures cannot be pickled).
_POOL_JOBS: list[tuple[dict[str, Any], Path, Callable[[], DatasetDict]]] = []


def hub_load_dataset(*args: Any, **kwargs: Any) -> Any:
    """The real hub path (`datasets.load_dataset`); tests replace this seam with a fake."""
    import datasets

    return datasets.load_dataset(*args, **kwargs)


@dataclass
class Corpora:
    """Token ids per language (``input_ids``) and per pair (``ids1``, ``ids2``), train and valid."""

    mono_train: dict[str, Dataset] = field(default_factory=dict)
    mono_valid: dict[str, Dataset] = field(default_factory=dict)
    para_train: dict[str, Dataset] = field(default_factory=dict)
    para_valid: dict[str, Dataset] = field(default_factory=dict)
    cache_hits: int = 0
    cache_misses: int = 0


def default_cache_dir() -> Path:
    return Path(os.environ.get("XLM_HF_CACHE", Path.home() / ".cache" / "xlm_hf"))


# ----------------------------------------------------------------------------- sources


def mono_sources(config: DataConfig) -> dict[str, list[str]]:
    """Text sources per language for MLM/CLM (explicit entries win over the data directory)."""
    _check_data_dir(config)
    sources = {}
    for lang in config.languages:
        if lang in config.mono:
            sources[lang] = _expand(config.mono[lang], f"data.mono.{lang}")
        elif config.data_dir is not None:
            path = Path(config.data_dir) / "mono" / f"{lang}.txt"
            if not path.is_file():
                raise ConfigError(f"data.data_dir: {path} does not exist (needed for {lang!r})")
            sources[lang] = [str(path)]
    return sources


def para_sources(config: DataConfig) -> dict[str, list[str]]:
    """Sources per parallel corpus: [l1 file, l2 file] or [hf:...]; found in DIR/para when not
    explicit. One corpus per pair of languages, however many TLM directions read it."""
    if "tlm" not in config.objectives:
        return {}
    _check_data_dir(config)
    if config.tlm_pairs is not None:
        pairs = corpus_names(config.tlm_pairs, list(config.para))
    else:
        pairs = list(config.para) or _pairs_in_dir(config)
        if not pairs:
            raise ConfigError(
                f"data.tlm_pairs: no parallel files among {config.languages} in {config.data_dir}/para"
            )
    sources = {}
    for pair in pairs:
        l1, l2 = pair.split("-")
        if pair in config.para:
            files = config.para[pair]
        else:
            para_dir = Path(config.data_dir or ".") / "para"
            stem = pair if (para_dir / f"{pair}.{l1}").exists() else f"{l2}-{l1}"
            files = [str(para_dir / f"{stem}.{l1}"), str(para_dir / f"{stem}.{l2}")]
        if not (len(files) == 1 and files[0].startswith(HUB_PREFIX)) and len(files) != 2:
            raise ConfigError(f"data.para.{pair}: give [<{l1} file>, <{l2} file>] or [hf:<name>:<config>]")
        for f in files:
            if not f.startswith(HUB_PREFIX) and not Path(f).is_file():
                raise ConfigError(f"data.para.{pair}: {f} does not exist")
        sources[pair] = files
    return sources


def corpus_names(directions: list[str], para_names: list[str]) -> list[str]:
    """The corpora that TLM `directions` read, one per pair of languages: named as in `data.para`
    when it lists the pair (in either order), else as the first direction that uses it.

    >>> corpus_names(["en-fr", "fr-en", "de-en"], ["fr-en"])
    ['fr-en', 'de-en']
    """
    named = {frozenset(name.split("-")): name for name in para_names}
    out: dict[frozenset[str], str] = {}
    for direction in directions:
        langs = frozenset(direction.split("-"))
        out.setdefault(langs, named.get(langs, direction))
    return list(out.values())


def _check_data_dir(config: DataConfig) -> None:
    if config.data_dir is not None and not Path(config.data_dir).is_dir():
        raise ConfigError(f"data.data_dir: {config.data_dir} is not a directory")


def check_coverage(config: DataConfig, mono: dict[str, list[str]], para: dict[str, list[str]]) -> None:
    """Every language of the recipe must have some training text: mono, or a side of a TLM pair."""
    covered = set(mono) | {lang for pair in para for lang in pair.split("-")}
    missing = [lang for lang in config.languages if lang not in covered]
    if missing:
        raise ConfigError(
            f"data.languages: no data for {missing} (no monolingual text is read for "
            f"{config.objectives} and no TLM pair uses them)"
        )


def resolve_sources(config: DataConfig) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(mono, para) sources of `config`, every language covered: files found, nothing read yet."""
    needs_mono = any(o in ("mlm", "clm") for o in config.objectives)
    mono, para = (mono_sources(config) if needs_mono else {}), para_sources(config)
    check_coverage(config, mono, para)
    return mono, para


def _pairs_in_dir(config: DataConfig) -> list[str]:
    if config.data_dir is None:
        return []
    found = []
    for path in sorted((Path(config.data_dir) / "para").glob("*-*.*")):
        pair, lang = path.stem, path.suffix[1:]
        l1, l2 = pair.split("-", 1)
        if lang == l1 and l1 in config.languages and l2 in config.languages:
            found.append(pair)
    return found


def _expand(spec: str, key: str) -> list[str]:
    if spec.startswith(HUB_PREFIX):
        return [spec]
    matches = sorted(glob.glob(spec))
    if not matches:
        raise ConfigError(f"{key}: no file matches {spec}")
    return matches


def read_text(paths: list[str], key: str, text_column: str = "text") -> list[str]:
    """Non-blank stripped lines of files (see `textfiles`), or the text column of a hub dataset."""
    if paths[0].startswith(HUB_PREFIX):  # documents (Wikipedia articles) become one line per paragraph
        texts = _hub_column(_hub_split(paths[0], key), text_column, f"{key} (data.text_column)")
        return [s for t in texts if t for s in (p.strip() for p in t.split("\n")) if s]
    return non_blank_lines(paths)


def read_parallel(files: list[str], pair: str) -> tuple[list[str], list[str]]:
    """Aligned sentence lists; files must have the same number of lines (blank lines included);
    a pair is dropped when either side is blank, so the two sides stay aligned."""
    l1, l2 = pair.split("-")
    if files[0].startswith(HUB_PREFIX):
        rows = _hub_column(_hub_split(files[0], f"data.para.{pair}"), "translation", f"data.para.{pair}")
        if rows and not {l1, l2} <= set(rows[0]):
            raise ConfigError(f"data.para.{pair}: translations hold {sorted(rows[0])}, not {l1} and {l2}")
        src, tgt = [r[l1] for r in rows], [r[l2] for r in rows]
    else:
        src, tgt = (read_text_lines(f) for f in files)
        if len(src) != len(tgt):
            raise ConfigError(
                f"data.para.{pair}: {files[0]} has {len(src)} lines but {files[1]} has {len(tgt)}; "
                "parallel files must be line-aligned"
            )
    stripped = ((a.strip(BLANK_CHARS), b.strip(BLANK_CHARS)) for a, b in zip(src, tgt))
    kept = [(a, b) for a, b in stripped if a and b]
    if not kept:
        raise ConfigError(f"data.para.{pair}: no sentence pairs in {', '.join(files)}")
    return [a for a, _ in kept], [b for _, b in kept]


def _hub_column(dataset: Any, column: str, key: str) -> Any:
    if column not in dataset.column_names:
        raise ConfigError(
            f"{key}: the hub dataset has no column {column!r} (columns: {dataset.column_names})"
        )
    return dataset[column]


def _hub_split(spec: str, key: str) -> Any:
    parts = spec[len(HUB_PREFIX) :].split(":")
    if not parts[0] or len(parts) > 2:
        raise ConfigError(f"{key}: hub sources are hf:<name>[:<config>], got {spec!r}")
    name, config_name = parts[0], (parts[1] if len(parts) == 2 else None)
    try:
        return hub_load_dataset(name, config_name, split="train")
    except (OSError, ValueError) as err:  # not found, offline, no such config (ConnectionError is an OSError)
        raise ConfigError(f"{key}: cannot load the hub dataset {spec!r} ({one_line(err)})") from None


# ----------------------------------------------------------------------------- tokenisation


_TOKENIZERS: dict[tuple[str, bool, str | None], Any] = {}


def _tokenizer(tokenizer_dir: str, fast: bool = True, preprocessing: str | None = None) -> Any:
    """The tokenizer of `tokenizer_dir`; `preprocessing` is used if the directory records none."""
    if (tokenizer_dir, fast, preprocessing) not in _TOKENIZERS:
        if fast:
            from xlm_hf.fast_tokenizer import FastXLMTokenizer as tokenizer_class
        else:
            from transformers import XLMTokenizer as tokenizer_class

        tokenizer = tokenizer_class.from_pretrained(tokenizer_dir)
        use_preprocessing(tokenizer, preprocessing, "model.preprocessing")
        _TOKENIZERS[tokenizer_dir, fast, preprocessing] = tokenizer
    return _TOKENIZERS[tokenizer_dir, fast, preprocessing]


def encode(
    texts: list[str], tokenizer_dir: str, lang: str, fast: bool = True, preprocessing: str | None = None
) -> list[list[int]]:
    """Token ids with `lang`'s own pre-processing, no special tokens (streams add `</s>`).

    `fast` gives the same ids as the reference (`xlm_encode` with `XLMTokenizer`), only sooner.
    `preprocessing`: ``hf`` or ``xlm`` where the tokenizer directory records none (else ignored).
    """
    tok = _tokenizer(tokenizer_dir, fast, preprocessing)
    if fast:
        return [tok.encode_text(t, lang) for t in texts]
    return [xlm_encode(tok, t, lang) for t in texts]


def _encode_batch(
    batch: dict[str, list],
    tokenizer_dir: str,
    columns: dict[str, tuple[str, str]],
    fast: bool = True,
    preprocessing: str | None = None,
) -> dict:
    """Token ids per output column; rows where any column encodes to no token at all (a line of
    control characters only) are dropped, from every column at once so pairs stay aligned."""
    out = {
        name: encode(batch[col], tokenizer_dir, lang, fast, preprocessing)
        for name, (col, lang) in columns.items()
    }
    keep = [i for i in range(len(next(iter(out.values())))) if all(ids[i] for ids in out.values())]
    return {name: [ids[i] for i in keep] for name, ids in out.items()}


def process_count(num_proc: int | None, lines: int) -> int | None:
    """`Dataset.map` workers for `lines` lines, or None for the main process.

    An explicit `num_proc` is used when there are at least two lines per process; by default
    there is one per core (at most 8) and per `MIN_LINES_PER_PROCESS` lines.
    """
    if _IN_POOL_WORKER:
        return None
    if num_proc is None:
        num_proc = min(available_cores(), MAX_AUTO_PROCESSES, lines // MIN_LINES_PER_PROCESS)
    elif lines < 2 * num_proc:
        return None
    return num_proc if num_proc > 1 else None


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def pool_size(num_proc: int | None, job_lines: list[int]) -> int | None:
    """Processes that tokenise whole languages side by side (`job_lines`: the lines of each
    language or pair to do), or None to do them one by one. By default (`num_proc` None) one per
    core, at most `MAX_AUTO_PROCESSES`, once the jobs hold `MIN_LINES_FOR_POOL` lines."""
    if _IN_POOL_WORKER or len(job_lines) < 2:
        return None
    if num_proc is None:
        if sum(job_lines) < MIN_LINES_FOR_POOL:
            return None
        num_proc = min(available_cores(), MAX_AUTO_PROCESSES)
    size = min(num_proc, len(job_lines))
    return size if size > 1 else None


def _exit(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _init_pool_worker() -> None:
    """A pool worker tokenises in-process, and leaves on SIGTERM (a scheduler stopping the job)
    through `SystemExit`, so that an entry it is writing removes its temporary folder; a handler
    inherited from the parent (a run's graceful stop) would keep it running."""
    global _IN_POOL_WORKER
    _IN_POOL_WORKER = True
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _build_in_worker(index: int) -> str:
    key, cache_dir, build = _POOL_JOBS[index]
    cached_tokenise(key, cache_dir, build)
    return key["name"]


def build_in_pool(jobs: list[tuple[dict[str, Any], Path, Callable[[], DatasetDict]]], processes: int) -> None:
    """Build and cache every job in `processes` forked workers, in the given order (the caller puts
    the largest first). A worker's error is raised here once the jobs already running have finished
    (their entries are complete) and the others are cancelled: no worker is killed mid-write."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    _POOL_JOBS[:] = jobs
    executor = ProcessPoolExecutor(
        processes, mp_context=multiprocessing.get_context("fork"), initializer=_init_pool_worker
    )
    try:
        futures = [executor.submit(_build_in_worker, index) for index in range(len(jobs))]
        for future in as_completed(futures):
            logger.info("tokenised %s", future.result())
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        _POOL_JOBS.clear()


def tokenizer_fingerprint(tokenizer_dir: str | Path) -> str:
    digest = hashlib.sha256()
    for name in ("vocab.json", "merges.txt", "tokenizer_config.json"):
        path = Path(tokenizer_dir) / name
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _source_fingerprint(paths: list[str]) -> list:
    out = []
    for p in paths:
        if p.startswith(HUB_PREFIX):
            out.append(p)
        else:
            stat = os.stat(p)
            out.append([os.path.abspath(p), stat.st_size, stat.st_mtime_ns])
    return out


def split_indices(n: int, valid_size: float, max_valid: int, seed: int | str) -> tuple[list[int], list[int]]:
    """Seeded (train, valid) line indices; valid_size < 1 is a fraction, >= 1 a count."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_valid = int(n * valid_size) if valid_size < 1 else int(valid_size)
    n_valid = max(1, min(n_valid, max_valid, n - 1)) if n > 1 else 0
    return sorted(order[n_valid:]), sorted(order[:n_valid])


def _digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]


def is_cached(key: dict[str, Any], cache_dir: Path) -> bool:
    return (cache_dir / _digest(key) / "dataset_dict.json").exists()


def cached_tokenise(
    key: dict[str, Any],
    cache_dir: Path,
    build: Callable[[], DatasetDict],
) -> DatasetDict:
    """Load the DatasetDict stored under `key`, or build, store atomically and return it."""
    digest = _digest(key)
    target = cache_dir / digest
    if is_cached(key, cache_dir):
        logger.info("reusing tokenised %s from %s", key["name"], target)
        return load_from_disk(str(target))
    data = build()
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:  # made inside the try: a SystemExit right after it still removes it
        tmp = Path(tempfile.mkdtemp(prefix=f".{digest}.", dir=cache_dir))
        data.save_to_disk(str(tmp))
        (tmp / "key.json").write_text(json.dumps(key, indent=1, sort_keys=True))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return load_from_disk(str(target))


def load_corpora(
    config: DataConfig, tokenizer_dir: str | Path, seed: int = 0, preprocessing: str | None = None
) -> Corpora:
    """Tokenised train/valid sets for every language of `config` (and TLM pair), cached.

    `preprocessing`: the recipe's ``model.preprocessing`` (``hf`` or ``xlm``), for a tokenizer
    directory that records none; a record wins (see `xlm_hf.text.use_preprocessing`).
    """
    tokenizer_dir = str(tokenizer_dir)
    cache_dir = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    corpora = Corpora()
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
    }
    mono, para = resolve_sources(config)
    jobs: list[tuple[dict[str, Any], Callable[[], Any], Callable[[Any], DatasetDict], dict, dict]] = []
    for lang, paths in mono.items():
        valid_paths = (
            _expand(config.mono_valid[lang], f"data.mono_valid.{lang}") if lang in config.mono_valid else None
        )
        key = {
            **base,
            "name": f"mono.{lang}",
            "lang": lang,
            "source": _source_fingerprint(paths),
            "valid": _source_fingerprint(valid_paths) if valid_paths else None,
        }

        def read_mono(lang=lang, paths=paths, valid_paths=valid_paths) -> tuple[list[str], list[str]]:
            where = f"data.mono.{lang}" if lang in config.mono else "data.data_dir"
            lines = read_text(paths, where, config.text_column)
            if not lines:
                raise ConfigError(f"{where}: no text for {lang!r} in {', '.join(paths)}")
            if valid_paths:
                return lines, read_text(valid_paths, f"data.mono_valid.{lang}", config.text_column)
            tr, va = split_indices(len(lines), config.valid_size, config.max_valid_lines, f"{seed}-{lang}")
            return [lines[i] for i in tr], [lines[i] for i in va]

        def tokenise_mono(read: tuple[list[str], list[str]], lang=lang) -> DatasetDict:
            train, valid = read
            if config.max_lines_per_language:
                train = train[: config.max_lines_per_language]
            return _tokenise_dict(
                {"train": {"text": train}, "valid": {"text": valid}},
                tokenizer_dir,
                {"input_ids": ("text", lang)},
                config.num_proc,
                f"mono {lang}",
                config.fast_tokenizer,
                preprocessing,
            )

        jobs.append((key, read_mono, tokenise_mono, corpora.mono_train, corpora.mono_valid))

    for pair, files in para.items():
        key = {**base, "name": f"para.{pair}", "source": _source_fingerprint(files)}

        def read_para(pair=pair, files=files) -> tuple[list[str], list[str]]:
            return read_parallel(files, pair)

        def tokenise_para(read: tuple[list[str], list[str]], pair=pair) -> DatasetDict:
            (src, tgt), (l1, l2) = read, pair.split("-")
            tr, va = split_indices(len(src), config.valid_size, config.max_valid_lines, f"{seed}-{pair}")
            if config.max_lines_per_language:
                tr = tr[: config.max_lines_per_language]
            splits = {
                name: {"src": [src[i] for i in idx], "tgt": [tgt[i] for i in idx]}
                for name, idx in (("train", tr), ("valid", va))
            }
            return _tokenise_dict(
                splits,
                tokenizer_dir,
                {"ids1": ("src", l1), "ids2": ("tgt", l2)},
                config.num_proc,
                f"para {pair}",
                config.fast_tokenizer,
                preprocessing,
            )

        jobs.append((key, read_para, tokenise_para, corpora.para_train, corpora.para_valid))

    # every local file that must be tokenised is read once first (UTF-8, not empty, parallel files
    # aligned): a bad file stops the run before any cache entry is written
    pending: list[tuple[int, tuple[dict[str, Any], Path, Callable[[], DatasetDict]]]] = []
    for key, read, tokenise, *_ in jobs:
        if is_cached(key, cache_dir):
            continue
        local = all(isinstance(source, list) for source in key["source"])  # hub sources are names
        lines = len(read()[0]) if local else 0  # a hub corpus's size is not known before loading
        pending.append((lines, (key, cache_dir, lambda read=read, tokenise=tokenise: tokenise(read()))))
    processes = pool_size(config.num_proc, [lines for lines, _ in pending])
    if processes:
        build_in_pool([job for _, job in sorted(pending, key=lambda item: -item[0])], processes)
    for key, read, tokenise, train, valid in jobs:
        data = cached_tokenise(key, cache_dir, lambda read=read, tokenise=tokenise: tokenise(read()))
        name = key["name"].split(".", 1)[1]
        train[name], valid[name] = data["train"], data["valid"]
    corpora.cache_misses, corpora.cache_hits = len(pending), len(jobs) - len(pending)
    return corpora


def _tokenise_dict(
    splits: dict[str, dict[str, list[str]]],
    tokenizer_dir: str,
    columns: dict[str, tuple[str, str]],
    num_proc: int | None,
    desc: str,
    fast: bool = True,
    preprocessing: str | None = None,
) -> DatasetDict:
    out = {}
    for name, cols in splits.items():
        ds = Dataset.from_dict(cols)
        processes = process_count(num_proc, len(ds))
        if processes:  # workers are forked: load the tokenizer here, and fill its word cache with
            # the words of a few lines, rather than have every worker start cold
            for column, lang in columns.values():
                encode(cols[column][:WARM_UP_LINES], tokenizer_dir, lang, fast, preprocessing)
        out[name] = ds.map(
            _encode_batch,
            batched=True,
            batch_size=256,
            num_proc=processes,
            remove_columns=list(cols),
            fn_kwargs={
                "tokenizer_dir": tokenizer_dir,
                "columns": columns,
                "fast": fast,
                "preprocessing": preprocessing,
            },
            desc=f"tokenise {desc} ({name})",
            load_from_cache_file=False,
        )
    return DatasetDict(out)
