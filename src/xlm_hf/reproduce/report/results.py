"""``write_report``: a finished (or partial) study's ``study_results.json``, ``tables.md`` and plots."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from xlm_hf.atomic_files import write_json, write_text
from xlm_hf.reproduce.report.plots import plots
from xlm_hf.reproduce.report.summaries import budget_summary, headline, pretraining_summary, xnli_summary
from xlm_hf.reproduce.report.tables import tables

logger = logging.getLogger(__name__)


def write_report(study: Any, out: Path) -> dict[str, Any]:
    timings_path = out / "timings.json"
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    xnli = xnli_summary(study, out)
    summary = {
        "variants": list(study.variants),
        "seeds": list(study.seeds),
        "languages": [lang for lang in next(iter(xnli.values()))["mean"] if lang != "avg"],
        "xnli": xnli,
        "pretraining": pretraining_summary(study, timings),
        "alignment": _alignment(out / "alignment.json"),
        "timings": timings,
        "reference": study.reference,
    }
    if study.twin is not None:
        summary["alignment_source"] = "held-out lines and their cipher"
        saved = json.loads((out / "alignment.json").read_text()) if (out / "alignment.json").exists() else {}
        summary["shared_tokens"] = saved.get("shared_tokens")
        data_record = out / "data" / "twin_data.json"
        if data_record.exists():
            summary["twin_data"] = json.loads(data_record.read_text())
    summary["budgets"] = budget_summary(study, summary["alignment"])
    summary["headline"] = headline(summary)
    summary["tables"] = tables(summary)
    summary["plots"] = []
    # the numbers first: a plotting problem must not cost the report of a finished study
    write_json(out / "study_results.json", summary)
    write_text(out / "tables.md", summary["tables"])
    try:
        summary["plots"] = [str(p) for p in plots(summary, out / "plots")]
    except ImportError:
        logger.warning("matplotlib is not installed (pip install 'xlm-hf[study]'): no plots")
        return summary
    write_json(out / "study_results.json", summary)
    return summary


def _alignment(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    saved = json.loads(path.read_text())
    return saved.get("probe", saved)
