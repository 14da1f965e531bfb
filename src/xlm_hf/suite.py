"""A suite of cross-lingual tasks on one model, in one table: ``xlm-hf evaluate --config
recipes/suites/X.yaml [suite.model_name_or_path=DIR]`` (``make evaluate MODEL=DIR``).

Each task recipe runs as its own ``xlm-hf finetune`` step (`xlm_hf.steps`: a subprocess into
``<output_dir>/<task>``, its output shown and kept in ``logs/<task>.log``), with the suite's model
and overrides; a finished task is not run again and one cut short resumes. Then the report:
``suite_results.json`` (``tasks``: name → type, metric, per-language scores and average;
``overall``: the mean of the task averages), ``suite_results.md`` (task × language) and
``suite_results.png`` (a heat map).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

from xlm_hf.atomic_files import write_json, write_text
from xlm_hf.config.loader import load_sections
from xlm_hf.config.sections import SuiteConfig
from xlm_hf.errors import ConfigError
from xlm_hf.launch import run_command
from xlm_hf.markdown import table
from xlm_hf.steps import Step, exclusive, run_steps, study_overrides

logger = logging.getLogger(__name__)

DESCRIPTION = "run a suite of task recipes on one model and report them in one table"


def load_suite(path: str, overrides: list[str] = ()) -> SuiteConfig:
    """The suite, with every task's recipe and overrides checked: a typo fails now, not hours in."""
    from xlm_hf.config.recipes import load_task_recipe

    suite = load_sections(path, list(overrides), {"suite": SuiteConfig})["suite"]
    for step in plan(suite):
        try:
            load_task_recipe(step.argv[2], step.argv[3:])
        except ConfigError as err:
            raise ConfigError(f"suite task {step.name} ({step.argv[2]}): {err}") from None
    return suite


def plan(suite: SuiteConfig) -> list[Step]:
    """One ``xlm-hf finetune`` step per task, into ``<output_dir>/<task>``."""
    out = Path(suite.output_dir)
    steps = []
    for name, recipe in suite.tasks.items():
        values = {
            "task.model_name_or_path": suite.model_name_or_path,
            "task.name": name,
            "task.init": suite.init,
            **suite.overrides,
            **suite.task_overrides.get(name, {}),
            "training.output_dir": str(out / name),
        }
        argv = ["finetune", "--config", recipe, *study_overrides(values)]
        steps.append(Step(name, argv, out / name, "task_results.json", section="suite"))
    return steps


def task_results(step: Step) -> dict[str, Any]:
    return json.loads((step.output_dir / step.done_file).read_text())


def run(suite: SuiteConfig) -> dict[str, Any]:
    out = Path(suite.output_dir)
    with exclusive(out, "suite.output_dir", "xlm-hf evaluate"):
        steps = plan(suite)
        run_steps(steps, out, echo=True)
        return report(suite, {step.name: task_results(step) for step in steps})


def task_summary(res: dict[str, Any]) -> dict[str, Any]:
    """One task's line of the suite: type, metric, dev scores per language, their average."""
    scores = {lang: v for lang, v in res["dev"].items() if lang != "avg"}
    return {"type": res["type"], "metric": res["metric"], "scores": scores, "avg": res["dev"]["avg"]}


def summary(suite: SuiteConfig, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``tasks`` (name → type, metric, dev scores per language, their average) and ``overall``."""
    tasks = {name: task_summary(res) for name, res in results.items()}
    averages = [t["avg"] for t in tasks.values() if not math.isnan(t["avg"])]
    return {
        "model": suite.model_name_or_path,
        "init": suite.init,
        "tasks": tasks,
        "overall": sum(averages) / len(averages) if averages else float("nan"),
    }


def markdown(summary_: dict[str, Any]) -> str:
    languages = sorted({lang for t in summary_["tasks"].values() for lang in t["scores"]})
    rows = [
        [f"{name} ({t['metric']})", *(_pct(t["scores"].get(lang)) for lang in languages), _pct(t["avg"])]
        for name, t in summary_["tasks"].items()
    ]
    title = f"Suite on {summary_['model']} ({summary_['init']}): dev scores (%), overall {_pct(summary_['overall'])}"
    return "\n".join([title, "", *table(["task", *languages, "avg"], rows)]) + "\n"


def _pct(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def heat_map(summary_: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(summary_["tasks"])
    languages = sorted({lang for t in summary_["tasks"].values() for lang in t["scores"]})
    grid = (
        np.array([[summary_["tasks"][n]["scores"].get(lang, np.nan) for lang in languages] for n in names])
        * 100
    )
    fig, ax = plt.subplots(figsize=(1 + 0.6 * len(languages), 1 + 0.5 * len(names)))
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(languages)), languages)
    ax.set_yticks(range(len(names)), [f"{n} ({summary_['tasks'][n]['metric']})" for n in names])
    for i in range(len(names)):
        for j in range(len(languages)):
            if not np.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", color="white", fontsize=7)
    fig.colorbar(image, ax=ax, label="%")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def report(suite: SuiteConfig, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The suite's files from its tasks' results; the numbers first, the plot last."""
    out = Path(suite.output_dir)
    made = summary(suite, results)
    made["table"] = markdown(made)
    write_json(out / "suite_results.json", made)
    write_text(out / "suite_results.md", made["table"])
    try:
        heat_map(made, out / "suite_results.png")
    except ImportError:
        logger.warning("matplotlib is not installed (pip install 'xlm-hf[study]'): no heat map")
    return made


def main(argv: list[str] | None = None) -> int:
    """``xlm-hf evaluate --config RECIPE`` (also ``python -m xlm_hf.suite``)."""
    return run_command("evaluate", DESCRIPTION, argv, _command)


def _command(config: str, overrides: list[str]) -> None:
    suite = load_suite(config, overrides)
    made = run(suite)
    print(made["table"])
    print(f"suite_results.json, .md and .png in {suite.output_dir}")


if __name__ == "__main__":
    raise SystemExit(main())
