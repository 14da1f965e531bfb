"""Loaders for every form XNLI and its English training data come in.

Every loader returns rows as ``list[dict]`` with keys ``premise``, ``hypothesis`` and ``label``
(an index into :data:`LABELS`). Labels are mapped by *name*, never by position: the original
XNLI/XLM code orders them contradiction/neutral/entailment while the hub orders them
entailment/neutral/contradiction, and a positional mapping silently scrambles accuracy.

Text files are split on tabs by hand rather than with :mod:`csv`: XNLI and MultiNLI contain quote
characters that are not CSV quoting (a premise may open a ``"`` that is never closed), and a
CSV reader would merge the following rows into that field without any error.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from xlm_hf.data.textfiles import is_blank, read_text_lines
from xlm_hf.errors import DataError

logger = logging.getLogger(__name__)

#: The one label order of the whole project (the order of the hub dataset ``facebook/xnli``).
LABELS = ("entailment", "neutral", "contradiction")
LABEL2ID = {name: i for i, name in enumerate(LABELS)}
#: Other spellings seen in the wild: XNLI-MT training files say "contradictory".
_LABEL_ALIASES = {"contradictory": "contradiction"}
#: MultiNLI marks pairs without annotator consensus with "-"; they are not training/eval data.
_NO_CONSENSUS = "-"
#: Our split names → hub split names.
_HUB_SPLITS = {
    "train": "train",
    "dev": "validation",
    "valid": "validation",
    "validation": "validation",
    "test": "test",
}
_PAIR_HEADERS = (("premise", "hypothesis", "label"), ("sentence1", "sentence2", "gold_label"))
_ALL_LANGUAGES = "all_languages"

Row = dict[str, Any]
LoadDataset = Callable[..., Any]


def label_id(name: str, where: str) -> int:
    """Map a label name to its index in :data:`LABELS` (case-insensitive, surrounding space ignored).

    ``where`` ("file:line") goes into the error so a bad row in a 400k-line file can be found.
    """
    key = str(name).strip().lower()
    key = _LABEL_ALIASES.get(key, key)
    if key not in LABEL2ID:
        raise DataError(f"{where}: unknown label {name!r} (expected {', '.join(LABELS)})")
    return LABEL2ID[key]


def _row(premise: str, hypothesis: str, label: str, where: str) -> Row:
    return {"premise": premise, "hypothesis": hypothesis, "label": label_id(label, where)}


def _lines(path: str | Path) -> Iterator[tuple[str, str]]:
    """Yield ``("file:line", text)`` for each non-blank line, without its line terminator.

    Read by :func:`~xlm_hf.data.textfiles.read_text_lines`: only ``\\n`` ends a line, so a stray
    ``\\r`` or U+2028 inside a field never splits a row, while a ``\\r\\n`` file still reads cleanly;
    a leading BOM (which would hide the first header name) is dropped; invalid UTF-8 stops with
    the file and line.
    """
    for number, text in enumerate(read_text_lines(path), start=1):
        if not is_blank(text):
            yield f"{path}:{number}", text


def _is_pair_header(fields: Sequence[str]) -> bool:
    return tuple(f.strip().lower() for f in fields) in _PAIR_HEADERS


def read_pair_tsv(path: str | Path) -> list[Row]:
    """Read ``premise<TAB>hypothesis<TAB>label`` files (``xnli/{dev,test}/<lang>.tsv``, ``nli-en/*.tsv``).

    A header row (``premise hypothesis label`` or ``sentence1 sentence2 gold_label``) is tolerated
    as the first line so that files exported by other tools read too.
    """
    rows: list[Row] = []
    for index, (where, text) in enumerate(_lines(path)):
        fields = text.split("\t")
        if index == 0 and _is_pair_header(fields):
            continue
        if len(fields) != 3:
            raise DataError(
                f"{where}: expected 3 tab-separated columns (premise, hypothesis, label), found {len(fields)}"
            )
        rows.append(_row(fields[0], fields[1], fields[2], where))
    return rows


def _header_table(path: str | Path, columns: Sequence[str]) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield ``(where, {column: value})`` for a TSV with a header row, columns found by name.

    Every row must have exactly as many fields as the header: a tab inside a text field would
    shift the columns, and reading the wrong column silently is worse than stopping.
    """
    lines = _lines(path)
    header_where, header_text = next(lines, (f"{path}:1", ""))
    header = [name.strip().lower() for name in header_text.split("\t")]
    missing = [name for name in columns if name not in header]
    if missing:
        raise DataError(
            f"{header_where}: header has no column {', '.join(map(repr, missing))} (found: {', '.join(header)})"
        )
    positions = {name: header.index(name) for name in columns}
    for where, text in lines:
        fields = text.split("\t")
        if len(fields) != len(header):
            raise DataError(f"{where}: expected {len(header)} tab-separated columns, found {len(fields)}")
        yield where, {name: fields[i] for name, i in positions.items()}


def _gold_rows(path: str | Path, extra: Sequence[str] = ()) -> Iterator[tuple[dict[str, str], Row]]:
    """Rows of the MultiNLI/XNLI-1.0 header layout, skipping no-consensus (``-``) pairs."""
    for where, cells in _header_table(path, ("gold_label", "sentence1", "sentence2", *extra)):
        if cells["gold_label"].strip() == _NO_CONSENSUS:
            continue
        yield cells, _row(cells["sentence1"], cells["sentence2"], cells["gold_label"], where)


def read_xnli10(path: str | Path, languages: Iterable[str] | None = None) -> dict[str, list[Row]]:
    """Read the original XNLI-1.0 ``xnli.dev.tsv``/``xnli.test.tsv`` (all languages in one file).

    Returns ``{language: rows}`` with sorted keys; ``languages`` keeps only those languages.
    """
    wanted = None if languages is None else set(languages)
    grouped: dict[str, list[Row]] = {}
    for cells, row in _gold_rows(path, extra=("language",)):
        language = cells["language"].strip()
        if wanted is None or language in wanted:
            grouped.setdefault(language, []).append(row)
    return {language: grouped[language] for language in sorted(grouped)}


def read_xnli_mt(path: str | Path) -> list[Row]:
    """Read an XNLI-MT translated training file ``multinli.train.<lang>.tsv`` (``premise hypo label``)."""
    return [
        _row(cells["premise"], cells["hypo"], cells["label"], where)
        for where, cells in _header_table(path, ("premise", "hypo", "label"))
    ]


def _json_records(path: str | Path) -> Iterator[tuple[str, Any]]:
    """Yield ``(where, record)`` from JSON lines, or from a single JSON array if the file is one."""
    text = "\n".join(read_text_lines(path))
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{error.lineno}: invalid JSON ({error.msg})") from None
        for index, record in enumerate(records):
            yield f"{path}:[{index}]", record
        return
    for where, line in _lines(path):
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{where}: invalid JSON ({error.msg})") from None


def _pick(record: dict[str, Any], keys: Sequence[str], where: str) -> Any:
    for key in keys:
        if key in record:
            return record[key]
    raise DataError(f"{where}: missing key {' or '.join(map(repr, keys))}")


def read_nli_jsonl(path: str | Path) -> list[Row]:
    """Read MultiNLI JSONL (``sentence1``, ``sentence2``, ``gold_label``) or ``premise/hypothesis/label``.

    Pairs whose gold label is ``-`` (no annotator consensus) are skipped, as MultiNLI prescribes.
    Numeric labels are refused: their meaning depends on an order the file does not state.
    """
    rows: list[Row] = []
    for where, record in _json_records(path):
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object, found {type(record).__name__}")
        label = _pick(record, ("gold_label", "label"), where)
        if not isinstance(label, str):
            raise DataError(f"{where}: label {label!r} is not a name (expected {', '.join(LABELS)})")
        if label.strip() == _NO_CONSENSUS:
            continue
        premise = _pick(record, ("sentence1", "premise"), where)
        hypothesis = _pick(record, ("sentence2", "hypothesis"), where)
        rows.append(_row(premise, hypothesis, label, where))
    return rows


def _first_fields(path: str | Path) -> list[str]:
    first = next(_lines(path), ("", ""))[1]
    return [field.strip().lower() for field in first.split("\t")]


def read_nli_file(path: str | Path) -> list[Row]:
    """Read an English or translated NLI training file, choosing the reader from its form.

    ``.jsonl``/``.json`` → MultiNLI JSONL; a TSV header with ``hypo`` → XNLI-MT; a header with
    ``gold_label`` and ``sentence1`` → MultiNLI's original TSV; anything else → 3-column TSV.
    """
    if Path(path).suffix.lower() in (".jsonl", ".json"):
        return read_nli_jsonl(path)
    header = _first_fields(path)
    if "hypo" in header:
        return read_xnli_mt(path)
    if "gold_label" in header and "sentence1" in header:
        return [row for _, row in _gold_rows(path)]
    return read_pair_tsv(path)


# --------------------------------------------------------------------------------------- hub


def _hub_spec(name: str) -> tuple[str, str | None]:
    """Split ``[hf:]<name>[:all_languages]`` into the dataset name and an explicit config."""
    spec = name.removeprefix("hf:")
    base, _, config = spec.partition(":")
    if config and config != _ALL_LANGUAGES:
        raise ValueError(f"hub source {name!r}: only the config {_ALL_LANGUAGES!r} may follow the name")
    return base, config or None


def _hub_split(split: str) -> str:
    if split not in _HUB_SPLITS:
        raise ValueError(f"unknown split {split!r} (expected one of {', '.join(_HUB_SPLITS)})")
    return _HUB_SPLITS[split]


def _default_load_dataset() -> LoadDataset:
    """The toolkit's one hub seam (`inputs.hub_load_dataset`), which tests replace with a fake."""
    from xlm_hf.data.inputs import hub_load_dataset

    return hub_load_dataset


def _hub_label_names(dataset: Any) -> Sequence[str] | None:
    """The dataset's own label names (a ``ClassLabel``), so int labels are mapped by name."""
    feature = getattr(dataset, "features", {}).get("label")
    return getattr(feature, "names", None)


def _hub_label(value: Any, names: Sequence[str] | None, where: str) -> int | None:
    """Map one hub label to our index; ``None`` for unlabeled rows (-1), which are dropped.

    Without ``ClassLabel`` names an int is read in the ``facebook/xnli`` order, which is ours.
    """
    if value is None or (isinstance(value, int) and value < 0):
        return None
    if isinstance(value, str):
        return label_id(value, where)
    if names is None:
        names = LABELS
    if value >= len(names):
        raise DataError(f"{where}: label {value} is out of range for names {list(names)}")
    return label_id(names[value], where)


def _hub_text(value: Any, language: str, where: str) -> str:
    """Text of one field: a string (per-language config) or the ``all_languages`` shapes."""
    if isinstance(value, str):
        return value
    if "translation" in value:  # hypothesis: {"language": [...], "translation": [...]}
        if language not in value["language"]:
            raise DataError(f"{where}: no {language!r} text (languages: {', '.join(value['language'])})")
        return value["translation"][value["language"].index(language)]
    if language not in value:  # premise: {lang: text}
        raise DataError(f"{where}: no {language!r} text (languages: {', '.join(value)})")
    return value[language]


def _hub_rows(dataset: Any, language: str, where: str) -> list[Row]:
    names = _hub_label_names(dataset)
    columns = dataset[:]  # column-wise: one Arrow conversion instead of one per row
    rows: list[Row] = []
    for index, (premise, hypothesis, value) in enumerate(
        zip(columns["premise"], columns["hypothesis"], columns["label"])
    ):
        row_where = f"{where} row {index}"
        label = _hub_label(value, names, row_where)
        if label is not None:
            rows.append(
                {
                    "premise": _hub_text(premise, language, row_where),
                    "hypothesis": _hub_text(hypothesis, language, row_where),
                    "label": label,
                }
            )
    return rows


def load_hub_xnli(
    name: str, language: str, split: str, *, load_dataset: LoadDataset | None = None
) -> list[Row]:
    """Load one language of a hub XNLI dataset (``facebook/xnli``; ``name:all_languages`` too).

    ``load_dataset`` defaults to :func:`datasets.load_dataset`; it is a parameter so tests (and
    users with a mirror) can supply the dataset without the network.
    """
    base, config = _hub_spec(name)
    hub_split = _hub_split(split)
    dataset = (load_dataset or _default_load_dataset())(base, config or language, split=hub_split)
    return _hub_rows(dataset, language, f"hf:{base}[{config or language}] {hub_split}")


def _load_hub_split(
    source: str, split: str, languages: Sequence[str], load_dataset: LoadDataset | None
) -> dict[str, list[Row]]:
    """Hub evaluation data; an ``all_languages`` dataset is loaded once and sliced per language."""
    base, config = _hub_spec(source)
    if config != _ALL_LANGUAGES:
        return {lang: load_hub_xnli(base, lang, split, load_dataset=load_dataset) for lang in languages}
    hub_split = _hub_split(split)
    dataset = (load_dataset or _default_load_dataset())(base, config, split=hub_split)
    return {lang: _hub_rows(dataset, lang, f"hf:{base}[{config}] {hub_split}") for lang in languages}


# --------------------------------------------------------------------------------- entry points

_XNLI10_NAME = re.compile(r"xnli\.(dev|test)\.tsv$")


def _check_file_split(path: Path, split: str) -> None:
    """Refuse ``xnli.test.tsv`` given for ``dev`` (and the reverse): selecting on test is a leak."""
    match = _XNLI10_NAME.search(path.name)
    if match and match.group(1) != split:
        raise ValueError(f"{path}: this is the {match.group(1)} file but split {split!r} was asked for")


def _load_tsv_dir(directory: Path, languages: Sequence[str]) -> dict[str, list[Row]]:
    found = {lang: directory / f"{lang}.tsv" for lang in languages if (directory / f"{lang}.tsv").is_file()}
    if not found:
        raise FileNotFoundError(
            f"{directory}: none of the files {', '.join(f'{lang}.tsv' for lang in languages)}"
        )
    absent = [lang for lang in languages if lang not in found]
    if absent:
        logger.warning("%s: no file for %s; those languages are skipped", directory, ", ".join(absent))
    loaded = {lang: read_pair_tsv(path) for lang, path in found.items()}
    for lang, rows in loaded.items():
        if not rows:
            raise DataError(f"{found[lang]}: no examples (the file is empty or holds only a header)")
    return loaded


def _load_xnli10_file(path: Path, split: str, languages: Sequence[str]) -> dict[str, list[Row]]:
    _check_file_split(path, split)
    grouped = read_xnli10(path, languages)
    if not grouped:
        raise ValueError(f"{path}: none of the languages {', '.join(languages)} occur in this file")
    return grouped


def load_xnli_split(
    source: str, split: str, languages: Sequence[str], *, load_dataset: LoadDataset | None = None
) -> dict[str, list[Row]]:
    """One entry point for XNLI evaluation data (``split`` is ``dev`` or ``test``), whatever its form.

    ``source`` is ``hf:<name>`` / ``hf:<name>:all_languages``, a directory ``DIR/{dev,test}/<lang>.tsv``,
    a directory holding ``xnli.<split>.tsv`` (XNLI-1.0), or that file itself. Returns
    ``{lang: rows}`` for the requested languages that exist, in the requested order.
    """
    if split not in ("dev", "test"):
        raise ValueError(f"split must be 'dev' or 'test', not {split!r}")
    languages = list(dict.fromkeys(languages))
    if source.startswith("hf:"):
        loaded = _load_hub_split(source, split, languages, load_dataset)
    else:
        loaded = _load_local_split(Path(source), split, languages)
    return {lang: loaded[lang] for lang in languages if lang in loaded}


def _load_local_split(path: Path, split: str, languages: Sequence[str]) -> dict[str, list[Row]]:
    if path.is_file():
        return _load_xnli10_file(path, split, languages)
    if (path / split).is_dir():
        return _load_tsv_dir(path / split, languages)
    if (path / f"xnli.{split}.tsv").is_file():
        return _load_xnli10_file(path / f"xnli.{split}.tsv", split, languages)
    raise FileNotFoundError(f"{path}: neither a {split}/<lang>.tsv directory nor xnli.{split}.tsv found")


def load_train_rows(source: str, *, language: str, load_dataset: LoadDataset | None = None) -> list[Row]:
    """Training pairs for one language from a file, ``hf:<name>``, or an XNLI-MT directory.

    A directory must hold ``multinli.train.<language>.tsv`` (the XNLI-MT layout).
    """
    if source.startswith("hf:"):
        return load_hub_xnli(source, language, "train", load_dataset=load_dataset)
    path = Path(source)
    if path.is_file():
        return read_nli_file(path)
    candidate = path / f"multinli.train.{language}.tsv"
    if path.is_dir() and candidate.is_file():
        return read_xnli_mt(candidate)
    raise FileNotFoundError(f"{source}: not a file, nor a directory holding {candidate.name}")
