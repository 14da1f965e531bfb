"""Where a task's data are and how its files read: ``{lang}`` / ``{split}`` / ``{side}`` templates,
tables (TSV, CSV, JSON, JSONL), CoNLL-style token files, SQuAD v1.1 JSON and line-aligned text.

Every reader returns rows (dicts) and stops at the first bad line with ``file:line`` (or the JSON
record) in a `DataError`: a silently skipped row would change a score without a trace. Tables are
split on tabs by hand (quote characters in text are text, not CSV quoting); CSV files go through
:mod:`csv`, whose quoting they use.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from xlm_hf.data.textfiles import is_blank, read_text_lines
from xlm_hf.errors import DataError

#: the names a table's columns go by, per role, when the recipe names none (``task.columns``)
DEFAULT_COLUMNS = {
    "text": ("text", "sentence", "sentence1", "premise", "question1"),
    "text_pair": ("text_pair", "sentence2", "hypothesis", "question2"),
    "label": ("label", "gold_label", "labels"),
}


def expand(template: str, **values: str) -> str:
    """`template` with ``{lang}``, ``{split}``, ``{side}`` filled in (the others left alone)."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def _lines(path: str | Path) -> Iterator[tuple[str, str]]:
    """``("file:line", text)`` of each non-blank line (strict UTF-8, BOM and CRLF tolerated)."""
    for number, text in enumerate(read_text_lines(path), start=1):
        if not is_blank(text):
            yield f"{path}:{number}", text


# ----------------------------------------------------------------------------- tables


def _pick_columns(
    header: Sequence[str], roles: Sequence[str], columns: dict[str, str]
) -> dict[str, str] | None:
    """role -> column name found in `header`, or None when the header names none of the roles."""
    lowered = [h.strip().lower() for h in header]
    found = {}
    for role in roles:
        names = (columns[role],) if role in columns else DEFAULT_COLUMNS[role]
        match = next((header[lowered.index(n.lower())] for n in names if n.lower() in lowered), None)
        if match is not None:
            found[role] = match
    return found or None


def _record_row(record: Any, roles: Sequence[str], columns: dict[str, str], where: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected an object with {', '.join(roles)}")
    names = _pick_columns(list(record), roles, columns) or {}
    missing = [role for role in roles if role not in names]
    if missing:
        wanted = columns.get(missing[0]) or "/".join(DEFAULT_COLUMNS[missing[0]])
        raise DataError(f"{where}: no field {wanted!r} for the {missing[0]} (fields: {', '.join(record)})")
    return {**{role: record[names[role]] for role in roles}, "where": where}


def read_table(path: str | Path, roles: Sequence[str], columns: dict[str, str] | None = None) -> list[dict]:
    """Rows ``{role: value, "where": "file:line"}`` of a TSV (header or not), CSV (header), JSON (a list, or ``{"data": [...]}``)
    or JSONL file. A header-less TSV gives its columns in the order of `roles` (text, text_pair,
    label); a header row is recognised by naming the roles' columns (`DEFAULT_COLUMNS` or
    `columns`). Every row must have every role."""
    columns = columns or {}
    suffix = Path(path).suffix.lower()
    if suffix in (".json", ".jsonl"):
        return [_record_row(r, roles, columns, where) for where, r in _json_records(path)]
    if suffix == ".csv":
        text = "\n".join(line for _, line in _lines(path))
        reader = csv.DictReader(io.StringIO(text))
        rows = []
        for number, record in enumerate(reader, start=2):
            rows.append(_record_row(record, roles, columns, f"{path}:{number}"))
        return rows
    rows = []
    names: dict[str, int] | None = None
    for index, (where, text) in enumerate(_lines(path)):
        fields = text.split("\t")
        if index == 0:
            picked = _pick_columns(fields, roles, columns)
            if picked is not None:
                missing = [role for role in roles if role not in picked]
                if missing:
                    raise DataError(
                        f"{where}: the header has no column for the {missing[0]} (found: {', '.join(fields)})"
                    )
                names = {role: fields.index(picked[role]) for role in roles}
                width = len(fields)
                continue
        if names is None:
            if len(fields) != len(roles):
                raise DataError(
                    f"{where}: expected {len(roles)} tab-separated columns ({', '.join(roles)}), found {len(fields)}"
                )
            rows.append({**dict(zip(roles, fields, strict=True)), "where": where})
        else:
            if len(fields) != width:
                raise DataError(f"{where}: expected {width} tab-separated columns, found {len(fields)}")
            rows.append({**{role: fields[i] for role, i in names.items()}, "where": where})
    return rows


def _json_records(path: str | Path) -> Iterator[tuple[str, Any]]:
    """``(where, record)`` of a JSONL file (one object a line) or a JSON list (or ``{"data": [...]}``)."""
    if Path(path).suffix.lower() == ".jsonl":
        for where, text in _lines(path):
            try:
                yield where, json.loads(text)
            except json.JSONDecodeError as err:
                raise DataError(f"{where}: not JSON ({err.msg})") from None
        return
    data = _load_json(path)
    records = data.get("data") if isinstance(data, dict) else data
    if not isinstance(records, list):
        raise DataError(f'{path}: expected a JSON list of records (or {{"data": [...]}})')
    for index, record in enumerate(records):
        yield f"{path} record {index}", record


def _load_json(path: str | Path) -> Any:
    text = "\n".join(read_text_lines(path))
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: not JSON ({err.msg})") from None


# ----------------------------------------------------------------------------- CoNLL


def read_conll(path: str | Path) -> list[dict]:
    """Sentences ``{"words": [...], "tags": [...], "where": "file:line"}`` of a ``token<TAB>tag``
    file, a blank line between sentences (`where`: the sentence's first line)."""
    sentences: list[dict] = []
    words: list[str] = []
    tags: list[str] = []
    where = ""
    for number, text in enumerate(read_text_lines(path), start=1):
        if is_blank(text):
            if words:
                sentences.append({"words": words, "tags": tags, "where": where})
                words, tags = [], []
            continue
        fields = text.split("\t")
        if len(fields) != 2 or not fields[0] or not fields[1].strip():
            raise DataError(
                f"{path}:{number}: expected 2 tab-separated columns (token, tag), found {len(fields)}"
            )
        if not words:
            where = f"{path}:{number}"
        words.append(fields[0])
        tags.append(fields[1].strip())
    if words:
        sentences.append({"words": words, "tags": tags, "where": where})
    return sentences


# ----------------------------------------------------------------------------- SQuAD


def read_squad(path: str | Path) -> list[dict]:
    """Questions of a SQuAD v1.1 JSON file: ``{"id", "question", "context", "answers": {"text": [...],
    "answer_start": [...]}}``. An answer must be the context's text at its ``answer_start``; a
    question without an answer text (a test file without labels) has empty lists."""
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f'{path}: not SQuAD v1.1 JSON (no top-level "data" list)')
    rows = []
    for a, article in enumerate(data["data"]):
        for p, paragraph in enumerate(article.get("paragraphs", [])):
            where = f"{path} data[{a}].paragraphs[{p}]"
            context = paragraph.get("context")
            questions = paragraph.get("qas")
            if not isinstance(context, str) or not context.strip():
                raise DataError(f"{where}: no context")
            if not questions:
                raise DataError(f"{where}: a context without questions")
            for q, qa in enumerate(questions):
                here = f"{where}.qas[{q}]"
                if not isinstance(qa, dict) or not qa.get("question") or "id" not in qa:
                    raise DataError(f'{here}: a question needs "id" and "question"')
                texts, starts = [], []
                for answer in qa.get("answers", []):
                    text, start = answer.get("text", ""), answer.get("answer_start")
                    if not text:
                        continue
                    if not isinstance(start, int) or context[start : start + len(text)] != text:
                        raise DataError(
                            f"{here} ({qa['id']}): answer {text!r} is not the context's text at answer_start {start}"
                        )
                    texts.append(text)
                    starts.append(start)
                rows.append(
                    {
                        "id": str(qa["id"]),
                        "question": qa["question"],
                        "context": context,
                        "answers": {"text": texts, "answer_start": starts},
                    }
                )
    return rows


# ----------------------------------------------------------------------------- aligned text


def read_aligned(source: str | Path, target: str | Path) -> list[dict]:
    """Line-aligned sentence pairs ``{"source", "target"}`` of two files with one sentence a line."""
    a = list(read_text_lines(source))
    b = list(read_text_lines(target))
    while a and is_blank(a[-1]):
        a.pop()
    while b and is_blank(b[-1]):
        b.pop()
    if len(a) != len(b):
        raise DataError(
            f"{target}: {len(b)} lines, but {source} has {len(a)}: the two sides must be line-aligned"
        )
    return [{"source": x, "target": y} for x, y in zip(a, b, strict=True)]
