"""Several suite runs of one recipe side by side: one row per task and model, a column per language.

    python studies/suite_compare.py random=runs/suites/efde-random mlm=runs/suites/efde-mlm

Reads each ``suite_results.json`` (`xlm-hf evaluate`) and prints the markdown table of
docs/tasks.md: scores in %, the average over the languages, and for every task but the training
language's own the zero-shot average (every language but English). A run not finished is skipped
with a note.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from xlm_hf.markdown import table


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def compare(runs: dict[str, dict]) -> str:
    languages = sorted(
        {lang for run in runs.values() for t in run["tasks"].values() for lang in t["scores"]},
        key=lambda lang: (lang != "en", lang),
    )
    tasks = list(dict.fromkeys(name for run in runs.values() for name in run["tasks"]))
    rows = []
    for name in tasks:
        for variant, run in runs.items():
            task = run["tasks"].get(name)
            if task is None:
                continue
            scores = task["scores"]
            others = [v for lang, v in scores.items() if lang != "en" and v is not None]
            rows.append([
                f"{name} ({task['metric']})", variant, *(pct(scores.get(lang)) for lang in languages),
                pct(task["avg"]), pct(sum(others) / len(others) if others else None),
            ])  # fmt: skip
    return "\n".join(table(["task", "model", *languages, "avg", "zero-shot avg"], rows))


def main(argv: list[str]) -> int:
    runs = {}
    for item in argv:
        variant, folder = item.split("=", 1)
        path = Path(folder) / "suite_results.json"
        if path.is_file():
            runs[variant] = json.loads(path.read_text(encoding="utf-8"))
        else:
            print(f"({variant}: {path} not written yet)", file=sys.stderr)
    print(compare(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
