"""Where a recipe's text comes from: files, globs and hub datasets, per language and per pair.

- the data directory convention: ``DIR/mono/<lang>.txt``, ``DIR/para/<l1>-<l2>.<l1>`` / ``.<l2>``
  (each may also end in ``.gz``, ``.bz2``, ``.xz`` or ``.zst``);
- explicit files, globs or lists of them (``data.mono.en: corpus/en-*.txt``,
  ``data.para.en-fr: [a.en, a.fr]``); `vocab.files` takes the same (`expand`);
- hub datasets ``hf:<name>[:<config>]`` (text column ``data.text_column``; parallel: ``translation``),
  read with ``streaming=True``: rows go straight to the tokeniser, nothing is downloaded whole.

Everything is found and checked by `resolve_inputs` before anything is written: every file
exists, is readable and starts with valid UTF-8 (see `textfiles.check_text_file`), small files are
checked whole (some text, parallel files aligned), and every hub dataset can be opened. Reading
then streams: `mono_lines` and `parallel_lines` yield one line or pair at a time.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xlm_hf.config.sections import DataConfig
from xlm_hf.data.textfiles import BLANK_CHARS, check_text_file, iter_text_lines, non_blank
from xlm_hf.errors import ConfigError, DataError, one_line

HUB_PREFIX = "hf:"
COMPRESSED_SUFFIXES = (".gz", ".bz2", ".xz", ".zst")


def hub_load_dataset(*args: Any, **kwargs: Any) -> Any:
    """The real hub path (`datasets.load_dataset`); tests replace this seam with a fake."""
    import datasets

    return datasets.load_dataset(*args, **kwargs)


def is_hub(spec: str) -> bool:
    return spec.startswith(HUB_PREFIX)


def expand(spec: str | list[str], key: str, hub: bool = True) -> list[str]:
    """The files of a path, a glob or a list of them (in that order, each glob sorted), or
    ``[hf:...]`` for a hub dataset (alone). A pattern that matches nothing is an error."""
    specs = [spec] if isinstance(spec, str) else list(spec)
    if not specs:
        raise ConfigError(f"{key}: give a file, a glob or a list of them")
    if any(is_hub(s) for s in specs):
        if not hub:
            raise ConfigError(f"{key}: hub datasets ({HUB_PREFIX}...) are not read here; give files or globs")
        if len(specs) > 1:
            raise ConfigError(f"{key}: a hub dataset ({HUB_PREFIX}...) comes alone, not in a list of files")
        return specs
    paths: list[str] = []
    for pattern in specs:
        # a literal path is kept even when it is a link to nowhere: the check then names it so
        matches = (
            [pattern] if not glob.has_magic(pattern) and os.path.lexists(pattern) else glob.glob(pattern)
        )
        if not matches:
            raise ConfigError(f"{key}: no file matches {pattern}")
        paths += sorted(matches)
    return paths


@dataclass
class Inputs:
    """The inputs of a recipe's corpora: files (or one ``hf:`` spec) per language and per pair,
    and the recipe key that names each in messages."""

    mono: dict[str, list[str]] = field(default_factory=dict)
    mono_valid: dict[str, list[str]] = field(default_factory=dict)
    para: dict[str, list[str]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)  # "mono.en" / "para.en-fr" -> recipe key
    hub: dict[str, Any] = field(default_factory=dict)  # hub datasets opened by the check, by spec
    decontaminate: list[str] = field(default_factory=list)  # evaluation files kept out (data.decontaminate)


def _convention_file(base: Path) -> Path | None:
    """`base`, or `base` with a compression suffix, whichever exists (links included)."""
    for candidate in (base, *(base.with_name(base.name + s) for s in COMPRESSED_SUFFIXES)):
        if os.path.lexists(candidate):
            return candidate
    return None


def _without_compression(name: str) -> str:
    return next((name[: -len(s)] for s in COMPRESSED_SUFFIXES if name.endswith(s)), name)


def _check_data_dir(config: DataConfig) -> None:
    if config.data_dir is not None and not Path(config.data_dir).is_dir():
        raise ConfigError(f"data.data_dir: {config.data_dir} is not a directory")


def mono_inputs(config: DataConfig, inputs: Inputs) -> None:
    """Text per language for MLM/CLM (explicit entries win over the data directory)."""
    _check_data_dir(config)
    for lang in config.languages:
        if lang in config.mono:
            key = f"data.mono.{lang}"
            inputs.mono[lang] = expand(config.mono[lang], key)
        elif config.data_dir is not None:
            key = "data.data_dir"
            path = _convention_file(Path(config.data_dir) / "mono" / f"{lang}.txt")
            if path is None:
                missing = Path(config.data_dir) / "mono" / f"{lang}.txt"
                raise ConfigError(f"data.data_dir: {missing} does not exist (needed for {lang!r})")
            inputs.mono[lang] = [str(path)]
        else:
            continue
        inputs.keys[f"mono.{lang}"] = key
        if lang in config.mono_valid:
            valid = expand(config.mono_valid[lang], f"data.mono_valid.{lang}")
            inputs.mono_valid[lang] = valid
            inputs.keys[f"mono_valid.{lang}"] = f"data.mono_valid.{lang}"


def para_inputs(config: DataConfig, inputs: Inputs) -> None:
    """Inputs per parallel corpus: [l1 file, l2 file] or [hf:...]; found in DIR/para when not
    explicit. One corpus per pair of languages, however many TLM directions read it."""
    if "tlm" not in config.objectives:
        return
    _check_data_dir(config)
    if config.tlm_pairs is not None:
        pairs = corpus_names(config.tlm_pairs, list(config.para))
    else:
        pairs = list(config.para) or _pairs_in_dir(config)
        if not pairs:
            raise ConfigError(
                f"data.tlm_pairs: no parallel files among {config.languages} in {config.data_dir}/para"
            )
    for pair in pairs:
        l1, l2 = pair.split("-")
        key = f"data.para.{pair}"
        if pair in config.para:
            files = config.para[pair]
        else:
            para_dir = Path(config.data_dir or ".") / "para"
            stem = pair if _convention_file(para_dir / f"{pair}.{l1}") else f"{l2}-{l1}"
            files = [
                str(_convention_file(para_dir / f"{stem}.{lang}") or para_dir / f"{stem}.{lang}")
                for lang in (l1, l2)
            ]
        if not (len(files) == 1 and is_hub(files[0])) and len(files) != 2:
            raise ConfigError(f"{key}: give [<{l1} file>, <{l2} file>] or [hf:<name>:<config>]")
        for f in files:
            if not is_hub(f) and not os.path.lexists(f):
                raise ConfigError(f"{key}: {f} does not exist")
        inputs.para[pair] = list(files)
        inputs.keys[f"para.{pair}"] = key


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


def _pairs_in_dir(config: DataConfig) -> list[str]:
    if config.data_dir is None:
        return []
    found = []
    for path in sorted((Path(config.data_dir) / "para").glob("*-*.*")):
        name = Path(_without_compression(path.name))
        pair, lang = name.stem, name.suffix[1:]
        l1, l2 = pair.split("-", 1)
        if lang == l1 and l1 in config.languages and l2 in config.languages and pair not in found:
            found.append(pair)
    return found


def check_coverage(config: DataConfig, inputs: Inputs) -> None:
    """Every language of the recipe must have some training text: mono, or a side of a TLM pair."""
    covered = set(inputs.mono) | {lang for pair in inputs.para for lang in pair.split("-")}
    missing = [lang for lang in config.languages if lang not in covered]
    if missing:
        raise ConfigError(
            f"data.languages: no data for {missing} (no monolingual text is read for "
            f"{config.objectives} and no TLM pair uses them)"
        )


def resolve_inputs(config: DataConfig, check: bool = True) -> Inputs:
    """The inputs of `config`, every language covered and (with `check`) every input checked:
    nothing is written before this has passed."""
    inputs = Inputs()
    if any(o in ("mlm", "clm") for o in config.objectives):
        mono_inputs(config, inputs)
    para_inputs(config, inputs)
    if config.decontaminate:
        inputs.decontaminate = expand(config.decontaminate, "data.decontaminate", hub=False)
        if check:
            for path in inputs.decontaminate:
                check_text_file(path)
    check_coverage(config, inputs)
    if check:
        check_inputs(config, inputs)
    return inputs


def check_inputs(config: DataConfig, inputs: Inputs) -> None:
    """Files readable, UTF-8 and (when small enough to be read whole here) holding text, and
    parallel files aligned; hub datasets reachable, with the column the recipe reads."""
    languages = [(lang, paths, f"mono.{lang}") for lang, paths in inputs.mono.items()]
    languages += [(lang, paths, f"mono_valid.{lang}") for lang, paths in inputs.mono_valid.items()]
    for lang, paths, name in languages:
        key = inputs.keys[name]
        if is_hub(paths[0]):
            open_hub(paths[0], key, config.text_column, inputs.hub)
            continue
        checks = [check_text_file(path) for path in paths]
        if name.startswith("mono_valid") or not all(c.whole for c in checks):
            continue
        if not any(c.has_text for c in checks):
            raise ConfigError(f"{key}: no text for {lang!r} in {', '.join(paths)}")
        if not any(c.printable for c in checks):
            raise no_token_error(paths)
    for pair, files in inputs.para.items():
        key = inputs.keys[f"para.{pair}"]
        if is_hub(files[0]):
            open_hub(files[0], key, "translation", inputs.hub)
            continue
        first, second = (check_text_file(f) for f in files)
        if first.whole and second.whole and first.lines != second.lines:
            raise _misaligned(key, files, first.lines, second.lines)


def no_token_error(paths: list[str]) -> DataError:
    return DataError(f"{', '.join(paths)}: no line gives a token (every line holds only control characters)")


# ----------------------------------------------------------------------------- hub


def open_hub(spec: str, key: str, column: str, opened: dict[str, Any] | None = None) -> Any:
    """The hub dataset `spec` as a streamed `IterableDataset` (kept in `opened`, so the check and
    the reading share it): its files are found now, so an unreachable hub stops the run before
    anything is written."""
    opened = {} if opened is None else opened
    if spec not in opened:
        parts = spec[len(HUB_PREFIX) :].split(":")
        if not parts[0] or len(parts) > 2:
            raise ConfigError(f"{key}: hub datasets are hf:<name>[:<config>], got {spec!r}")
        name, config_name = parts[0], (parts[1] if len(parts) == 2 else None)
        try:
            opened[spec] = hub_load_dataset(name, config_name, split="train", streaming=True)
        except (
            OSError,
            ValueError,
        ) as err:  # not found, offline, no such config (ConnectionError is an OSError)
            raise ConfigError(f"{key}: cannot load the hub dataset {spec!r} ({one_line(err)})") from None
    dataset = opened[spec]
    columns = getattr(dataset, "column_names", None)  # None when the hub does not say before reading
    if columns is not None and column not in columns:
        raise _no_column(key, column, columns)
    return dataset


def _no_column(key: str, column: str, columns: list[str]) -> ConfigError:
    where = f"{key} (data.text_column)" if column != "translation" else key
    return ConfigError(f"{where}: the hub dataset has no column {column!r} (columns: {columns})")


def _hub_rows(spec: str, key: str, column: str, opened: dict[str, Any] | None) -> Iterator[Any]:
    for row in open_hub(spec, key, column, opened):
        if column not in row:
            raise _no_column(key, column, sorted(row))
        yield row[column]


# ----------------------------------------------------------------------------- reading


def mono_lines(
    paths: list[str],
    key: str,
    text_column: str = "text",
    progress: Callable[[int], None] | None = None,
    opened: dict[str, Any] | None = None,
) -> Iterator[str]:
    """Stripped non-blank lines of files (see `textfiles`), or of the text column of a hub dataset,
    where documents (Wikipedia articles) become one line per paragraph."""
    if is_hub(paths[0]):
        for text in _hub_rows(paths[0], key, text_column, opened):
            if text:
                yield from (s for s in (p.strip() for p in text.split("\n")) if s)
        return
    for path in paths:
        yield from non_blank(iter_text_lines(path, progress))


def parallel_lines(
    files: list[str],
    pair: str,
    key: str,
    progress: Callable[[int], None] | None = None,
    opened: dict[str, Any] | None = None,
) -> Iterator[tuple[str, str]]:
    """Aligned sentence pairs; files must have the same number of lines (blank lines included);
    a pair is dropped when either side is blank, so the two sides stay aligned."""
    l1, l2 = pair.split("-")
    if is_hub(files[0]):
        for number, row in enumerate(_hub_rows(files[0], key, "translation", opened)):
            if number == 0 and not {l1, l2} <= set(row):
                raise ConfigError(f"{key}: translations hold {sorted(row)}, not {l1} and {l2}")
            yield from _kept(row[l1], row[l2])
        return
    first, second = iter_text_lines(files[0], progress), iter_text_lines(files[1], progress)
    n = 0
    for a in first:
        b = next(second, None)
        if b is None:
            raise _misaligned(key, files, n + 1 + sum(1 for _ in first), n)
        n += 1
        yield from _kept(a, b)
    rest = sum(1 for _ in second)
    if rest:
        raise _misaligned(key, files, n, n + rest)


def _kept(a: str, b: str) -> Iterator[tuple[str, str]]:
    a, b = a.strip(BLANK_CHARS), b.strip(BLANK_CHARS)
    if a and b:
        yield a, b


def _misaligned(key: str, files: list[str], n1: int, n2: int) -> ConfigError:
    return ConfigError(
        f"{key}: {files[0]} has {n1} lines but {files[1]} has {n2}; parallel files must be line-aligned"
    )


def input_fingerprint(paths: list[str]) -> list:
    """What identifies the inputs in a store key: hub specs by name, files by path, size and time."""
    out: list = []
    for p in paths:
        if is_hub(p):
            out.append(p)
        else:
            stat = os.stat(p)
            out.append([os.path.abspath(p), stat.st_size, stat.st_mtime_ns])
    return out


def input_bytes(paths: list[str]) -> int:
    """Bytes on disk of the local files (0 for a hub dataset): the progress bar's total."""
    return sum(os.path.getsize(p) for p in paths if not is_hub(p))
