"""Markdown tables, the one way every report of the toolkit writes them (XNLI results, study
tables, the GPU check)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def table(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> list[str]:
    """The lines of a table: `header`, the rule under it, one line per row (cells as ``str``; an
    empty cell is one space wide)."""

    def line(cells: Sequence[Any]) -> str:
        return "|" + "|".join(f" {cell} " if str(cell) else " " for cell in cells) + "|"

    return [line(header), "|" + "---|" * len(header), *(line(row) for row in rows)]


def section(title: str, header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A blank line, a ``###`` title, a blank line and the table: one block of a results page."""
    return ["", f"### {title}", "", *table(header, rows)]
