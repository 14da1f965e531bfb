"""The row format every bench module returns, the printed table and the README table.

A bench module exposes ``run(quick: bool = False) -> list[dict]``; each dict is one figure::

    {"bench": "pretraining", "figure": "tokens/s, vocab 8k", "unit": "tokens/s",
     "ours": 1510.0, "baseline": 1180.0, "ratio": 1.28, "target": ">= 1.15x", "met": True,
     "extra": {...}}

``ratio`` is ours / baseline (so > 1 is better for a speed, < 1 for a time or a memory size); for
figures measured several times it is the median of the per-pair ratios, each pair run back to back
(``extra["ratio_is"]`` says so), which a busy shared machine moves far less than the ratio of the
two medians. ``target`` says what the issue asks (null when it asks nothing) and ``met`` whether it
was reached.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

KEYS = ("bench", "figure", "unit", "ours", "baseline", "ratio", "target", "met", "extra")
PAIRED = "median of per-pair ratios (ours and baseline run back to back)"
README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"


def make_row(
    bench: str,
    figure: str,
    unit: str,
    ours: float,
    baseline: float | None,
    target: str | None = None,
    met: bool | None = None,
    extra: dict[str, Any] | None = None,
    pair_ratios: list[float] | None = None,
) -> dict[str, Any]:
    """One figure; the ratio is ours / baseline (None without a baseline), or the median of
    `pair_ratios` when the figure was measured in pairs of runs."""
    ratio = ours / baseline if baseline else None
    extra = dict(extra or {})
    if pair_ratios:
        ratio = median(pair_ratios)
        extra.update(ratio_is=PAIRED, pair_ratios=[round(r, 4) for r in pair_ratios])
    return {
        "bench": bench,
        "figure": figure,
        "unit": unit,
        "ours": float(ours),
        "baseline": None if baseline is None else float(baseline),
        "ratio": ratio,
        "target": target,
        "met": met,
        "extra": extra,
    }


def median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def check_row(row: dict[str, Any]) -> None:
    """Raise ValueError when `row` does not follow the format above."""
    if tuple(row) != KEYS:
        raise ValueError(f"row keys {tuple(row)} != {KEYS}")
    for key in ("bench", "figure", "unit"):
        if not isinstance(row[key], str) or not row[key]:
            raise ValueError(f"row {key!r} must be a non-empty string")
    for key in ("ours", "baseline", "ratio"):
        value = row[key]
        if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
            raise ValueError(f"row {key!r} must be a finite number or null, got {value!r}")
    if row["ours"] is None:
        raise ValueError("row 'ours' is required")
    paired = isinstance(row["extra"], dict) and row["extra"].get("ratio_is") == PAIRED
    if paired:  # the pair ratios are kept rounded: compare to a thousandth
        pairs = row["extra"].get("pair_ratios") or []
        if not pairs or row["ratio"] is None or not math.isclose(row["ratio"], median(pairs), rel_tol=1e-3):
            raise ValueError("row 'ratio' must be the median of extra['pair_ratios']")
    if (
        not paired
        and row["baseline"]
        and row["ratio"] is not None
        and not math.isclose(row["ratio"], row["ours"] / row["baseline"], rel_tol=1e-9)
    ):
        raise ValueError("row 'ratio' must be ours / baseline")
    if row["target"] is not None and not isinstance(row["target"], str):
        raise ValueError("row 'target' must be a string or null")
    if row["met"] is not None and not isinstance(row["met"], bool):
        raise ValueError("row 'met' must be true, false or null")
    if (row["target"] is None) != (row["met"] is None):
        raise ValueError("row 'met' is null exactly when 'target' is")
    if not isinstance(row["extra"], dict):
        raise ValueError("row 'extra' must be a mapping")


def number(value: float | None, unit: str = "") -> str:
    """A short human form: 3 significant figures, no exponent for ordinary sizes."""
    if value is None:
        return "-"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip() if unit in ("%",) else text


def ratio_text(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}x"


def met_text(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "no")


def table(rows: list[dict[str, Any]], with_bench: bool = True) -> str:
    """A Markdown table (figure, ours, baseline, ratio, target, met)."""
    head = ["figure", "unit", "ours", "baseline", "ratio", "target", "met"]
    if with_bench:
        head.insert(0, "bench")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [
            row["figure"],
            row["unit"],
            number(row["ours"]),
            number(row["baseline"]),
            ratio_text(row["ratio"]),
            row["target"] or "-",
            met_text(row["met"]),
        ]
        if with_bench:
            cells.insert(0, row["bench"])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def readme_block(results: dict[str, Any]) -> str:
    meta = results.get("meta", {})
    lines = [
        README_START,
        f"`make bench` on {meta.get('machine', 'this machine')}, {meta.get('date', '')} "
        f"(torch {meta.get('torch', '?')}, transformers {meta.get('transformers', '?')}, "
        f"{meta.get('threads', '?')} threads); ratio = ours / baseline, both measured in the same run "
        "(repeated figures: the median of per-pair ratios, each pair run back to back):",
        "",
        table(results["rows"]),
    ]
    missing = results.get("unavailable", {})
    if missing:
        lines += ["", "Not available in that run: " + ", ".join(sorted(missing)) + "."]
    lines.append(README_END)
    return "\n".join(lines)


def rewrite_readme(readme: Path, results: dict[str, Any]) -> bool:
    """Replace the text between the bench markers of `readme`; False when the markers are missing."""
    text = readme.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.S)
    if not pattern.search(text):
        return False
    readme.write_text(pattern.sub(lambda _: readme_block(results), text, count=1), encoding="utf-8")
    return True
