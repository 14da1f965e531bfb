"""The headline figures of the two transfer studies, as ``docs/reproduction/summary.json`` holds them.

    python -m xlm_hf.reproduce.summary --twin runs/reproduce/twin \\
        --en-fr-de-es runs/reproduce/cpu-en-fr-de-es --out docs/reproduction/summary.json

An existing ``--out`` file is updated, not replaced: the keys this does not compute (other
studies' figures, their history) stay.

Each study's report already holds its ``headline`` (`xlm_hf.reproduce.report.summaries.headline`); this
picks the figures the results page cites, all fractions in [0, 1] and means over seeds:

- twin: retrieval P@1 (best layer, mean of en→twin and twin→en; the last layer beside it), XNLI
  English and twin accuracy per variant, and the transfer ratio (twin − ⅓) / (en − ⅓);
- en-fr-de-es: XNLI English accuracy, the mean of fr/de/es, and retrieval top-1 en→fr and en→de
  (last layer) per variant, with the budget points.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from xlm_hf.atomic_files import write_json

VARIANTS = ("random", "mlm", "mlm-tlm")


def _results(study_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(study_dir) / "study_results.json").read_text())


def twin_figures(results: dict[str, Any]) -> dict[str, Any]:
    head, align, xnli = results["headline"], results["alignment"], results["xnli"]
    return {
        "retrieval_p1": {v: head["retrieval_top1_best_layer"][v] for v in VARIANTS},
        "retrieval_p1_last_layer": {
            v: statistics.fmean((align[v]["retrieval"]["twin"], align[v]["retrieval_to_pivot"]["twin"]))
            for v in VARIANTS
        },
        "best_layer": {v: align[v]["best_layer"]["twin"]["layer"] for v in VARIANTS},
        "xnli": {v: {lang: xnli[v]["mean"][lang] for lang in ("en", "twin")} for v in VARIANTS},
        "xnli_std": {v: {lang: xnli[v]["std"][lang] for lang in ("en", "twin")} for v in VARIANTS},
        "transfer_ratio": {v: head["transfer_ratio"][v] for v in VARIANTS},
        "share_not_commuting": results["twin_data"]["commutation"]["share_not_commuting"],
        "budgets": results.get("budgets", {}),
    }


def en_fr_de_es_figures(results: dict[str, Any]) -> dict[str, Any]:
    head, align, xnli = results["headline"], results["alignment"], results["xnli"]

    def others_std(v: str) -> float:
        per_seed = [
            statistics.fmean(dev[lang] for lang in ("fr", "de", "es")) for dev in xnli[v]["per_seed"].values()
        ]
        return statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0

    return {
        "xnli_en": {v: head["xnli_en"][v] for v in VARIANTS},
        "xnli_fr_de_es": {v: head["xnli_others"][v] for v in VARIANTS},
        "xnli_fr_de_es_std_over_seeds": {v: others_std(v) for v in VARIANTS},
        "retrieval_top1_en_fr_de": {
            v: statistics.fmean(align[v]["retrieval"][lang] for lang in ("fr", "de")) for v in VARIANTS
        },
        "retrieval_top1_en_fr_de_best_layer": {
            v: statistics.fmean(align[v]["best_layer"][lang]["from_pivot"] for lang in ("fr", "de"))
            for v in VARIANTS
        },
        "budgets": results.get("budgets", {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--twin", required=True, help="the twin study's output_dir")
    parser.add_argument("--en-fr-de-es", required=True, help="the en/fr/de/es study's output_dir")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    out = Path(args.out)
    summary = json.loads(out.read_text()) if out.is_file() else {}
    for key, figures in (
        ("twin", twin_figures(_results(args.twin))),
        ("en-fr-de-es", en_fr_de_es_figures(_results(args.en_fr_de_es))),
    ):
        summary.setdefault(key, {}).update(figures)
    write_json(out, summary)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
