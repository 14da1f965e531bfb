"""Several suite runs of one recipe side by side: one row per task and model, a column per language.

    python studies/suite_compare.py random=runs/suites/efde-random mlm=runs/suites/efde-mlm

Reads each ``suite_results.json`` (`xlm-hf evaluate`) and prints the markdown table of
docs/tasks.md: scores in %, the average over the languages, and the zero-shot average (every
language but English, the training language). A suite still running contributes the tasks it has
finished, with a note.
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
        runs[variant] = read_run(Path(folder))
    print(compare(runs))
    return 0


def read_run(folder: Path) -> dict:
    """``suite_results.json``; for a suite still running, the tasks it has finished."""
    path = folder / "suite_results.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    from xlm_hf.suite import task_summary

    tasks = {
        done.parent.name: task_summary(json.loads(done.read_text(encoding="utf-8")))
        for done in sorted(folder.glob("*/task_results.json"))
    }
    print(f"({folder}: not finished; {len(tasks)} task(s) done)", file=sys.stderr)
    return {"tasks": tasks}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
