"""Issue 27's figures in ``docs/reproduction/summary.json``, from the runs that measured them.

    python studies/learns_summary.py --summary docs/reproduction/summary.json \\
        --bow docs/reproduction/bow_nli.json --sweep docs/reproduction/finetune_sweep.jsonl \\
        --study twin=runs/reproduce/twin --study en-fr-de-es=runs/reproduce/cpu-en-fr-de-es \\
        --suite random=runs/suites/efde-random --suite mlm=runs/suites/efde-mlm \\
        --suite mlm-tlm=runs/suites/efde-mlm-tlm \\
        --panx-twin mlm-tlm=runs/panx-twin/mlm-tlm --panx-twin random=runs/panx-twin/random

Adds ``learns`` (English XNLI dev: the bag of words, random init and the best pretrained encoder
with the recipe that learns, and that recipe), fills ``twin`` (XNLI en / twin, the transfer ratio
where English is at least 10 points above chance, PAN-X F1 on English dev and its enciphered copy,
the mean over the runs given for a variant) and ``en-fr-de-es`` (XNLI en and averaged over fr, de, es; PAN-X F1 likewise, from the suite runs).
With ``--study`` the XNLI figures are the study's (means over its fine-tuning seeds, through
`xlm_hf.reproduce.summary`); without, the one-seed runs of the sweep and the suites stand in. The
figures the old fine-tuning recipe measured move under ``history`` (once). Fractions in [0, 1]; a
variant not run is absent or null.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import fmean

from xlm_hf.reproduce.report.summaries import transfer_ratio
from xlm_hf.reproduce.summary import en_fr_de_es_figures, twin_figures

#: the recipe that learns (docs/reproduction/finetuning.md), as the sweep spells its overrides
LEARNS = {"xnli.pooling": "mean", "training.learning_rate": "3e-4", "training.num_train_epochs": "10"}
LEARNS_RECIPE = "recipes/xnli/twin.yaml"
STUDY_RECIPES = {
    "twin": "recipes/reproduce/twin.yaml",
    "en-fr-de-es": "recipes/reproduce/cpu-en-fr-de-es.yaml",
}


def sweep_runs(path: Path) -> list[dict]:
    runs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for run in runs:
        run["settings"] = dict(item.split("=", 1) for item in run["overrides"])
    return runs


def learns(bow: dict, runs: list[dict]) -> dict:
    with_recipe = [r for r in runs if all(r["settings"].get(k) == v for k, v in LEARNS.items())]
    random = [r for r in with_recipe if r["settings"].get("xnli.init") == "random"]
    pretrained = [r for r in with_recipe if r["settings"].get("xnli.init") != "random"]
    best = max(pretrained, key=lambda r: r["dev"]["en"])
    english = next(v for k, v in bow["accuracy"]["full"].items() if k.endswith("en.tsv"))
    return {
        "xnli_en": {
            "bow": english,
            "random": random[0]["dev"]["en"] if random else None,
            "best_pretrained": best["dev"]["en"],
        },
        "best_pretrained_recipe": LEARNS_RECIPE,
        "best_pretrained_encoder": best["settings"]["xnli.model_name_or_path"],
    }


def learns_from_studies(bow: dict, studies: dict[str, dict]) -> dict:
    """The same figures as `learns`, as means over the studies' fine-tuning seeds: random init is
    the twin study's (the same fine-tuning budget as every pretrained variant), the best pretrained
    is the best English mean of any pretrained variant of either study."""
    english = next(v for k, v in bow["accuracy"]["full"].items() if k.endswith("en.tsv"))
    pretrained = {
        (name, variant): stats["mean"]["en"]
        for name, results in studies.items()
        for variant, stats in results["xnli"].items()
        if variant != "random"
    }
    (study, variant), best = max(pretrained.items(), key=lambda item: item[1])
    reference = studies.get("twin", studies[study])
    return {
        "xnli_en": {
            "bow": english,
            "random": reference["xnli"]["random"]["mean"]["en"],
            "best_pretrained": best,
        },
        "best_pretrained_recipe": STUDY_RECIPES[study],
        "best_pretrained_encoder": f"{variant} of {STUDY_RECIPES[study]}",
        "seeds": len(studies[study]["xnli"][variant]["per_seed"]),
    }


def twin_xnli(runs: list[dict]) -> dict:
    """The twin encoder (4,000 steps, the study's) with the recipe that learns."""
    out = {}
    for run in runs:
        s = run["settings"]
        if all(s.get(k) == v for k, v in LEARNS.items()) and s.get("xnli.init") != "random":
            if s.get("xnli.model_name_or_path") == "runs/reproduce/twin/pretrain-mlm-tlm":
                out["mlm-tlm"] = {"en": run["dev"]["en"], "twin": run["dev"]["twin"]}
        elif all(s.get(k) == v for k, v in LEARNS.items()):
            out["random"] = {"en": run["dev"]["en"], "twin": run["dev"]["twin"]}
    return out


def suite_scores(folder: Path) -> dict:
    """task → language → score of a suite run (one still running: the tasks it has finished)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from suite_compare import read_run

    return {name: t["scores"] for name, t in read_run(folder)["tasks"].items()}


def update(
    summary: dict,
    bow: dict,
    runs: list[dict],
    suites: dict[str, Path],
    panx_twin: dict[str, list[Path]],
    studies: dict[str, dict] | None = None,
) -> dict:
    studies = studies or {}
    history = summary.setdefault("history", {})
    if "recipe" not in history:  # first update: keep the old recipe's XNLI figures as history
        history["recipe"] = "first-token pooling, 2 epochs at lr 2e-4 (before issue 27)"
        history["twin"] = {k: summary["twin"].pop(k) for k in ("xnli", "xnli_std") if k in summary["twin"]}
        history["twin"]["transfer_ratio"] = summary["twin"].pop("transfer_ratio", None)
        history["en-fr-de-es"] = {k: v for k, v in summary["en-fr-de-es"].items() if k.startswith("xnli")}
        for key in history["en-fr-de-es"]:
            summary["en-fr-de-es"].pop(key)
    sweep = learns(bow, runs)
    if studies:
        summary["learns"] = learns_from_studies(bow, studies)
        summary["learns"]["sweep_best_one_seed"] = {
            "xnli_en": sweep["xnli_en"]["best_pretrained"],
            "encoder": sweep["best_pretrained_encoder"],
        }
    else:
        summary["learns"] = sweep
    twin = summary["twin"]
    if "twin" in studies:
        twin.update(twin_figures(studies["twin"]))
    else:
        twin["xnli"] = twin_xnli(runs)
        twin["transfer_ratio"] = {
            variant: (transfer_ratio(x["en"], x["twin"]) if variant in twin["xnli"] else None)
            for variant in ("mlm", "mlm-tlm")
            for x in [twin["xnli"].get(variant, {})]
        }
    twin["ner_f1"], twin["ner_f1_seeds"] = {}, {}
    for variant, folders in panx_twin.items():
        runs_done = [f / "task_results.json" for f in folders if (f / "task_results.json").is_file()]
        if not runs_done:
            continue
        devs = [json.loads(path.read_text())["dev"] for path in runs_done]
        twin["ner_f1"][variant] = {lang: fmean(dev[lang] for dev in devs) for lang in ("en", "twin")}
        twin["ner_f1_seeds"][variant] = len(devs)
    # F1 has no chance level to subtract: the ratio is twin over English
    twin["ner_transfer_ratio"] = {v: f["twin"] / f["en"] for v, f in twin["ner_f1"].items() if f["en"] > 0}
    # but an untrained model scores on the cipher too (entities are often whole short titles): the
    # share of pretraining's English gain over random init that the twin also gains
    floor = twin["ner_f1"].get("random")
    twin["ner_gain_ratio"] = {
        v: (f["twin"] - floor["twin"]) / (f["en"] - floor["en"])
        for v, f in twin["ner_f1"].items()
        if floor and v != "random" and f["en"] != floor["en"]
    }
    efde = summary["en-fr-de-es"]
    if "en-fr-de-es" in studies:
        efde.update(en_fr_de_es_figures(studies["en-fr-de-es"]))
        efde["fine_tuning"] = (
            "XNLI: recipes/reproduce/cpu-en-fr-de-es.yaml (seeds 0-2); "
            "PAN-X: recipes/suites/xtreme-lite-en-fr-de-es.yaml (seed 0)"
        )
    else:
        efde["xnli_en"], efde["xnli_fr_de_es"] = {}, {}
        efde["fine_tuning"] = "recipes/suites/xtreme-lite-en-fr-de-es.yaml (seed 0)"
    efde["ner_f1_en"], efde["ner_f1_fr_de_es"] = {}, {}
    for variant, folder in suites.items():
        scores = suite_scores(folder) if folder.is_dir() else {}
        if "xnli" in scores and "en-fr-de-es" not in studies:
            efde["xnli_en"][variant] = scores["xnli"]["en"]
            efde["xnli_fr_de_es"][variant] = fmean(scores["xnli"][lang] for lang in ("fr", "de", "es"))
        if "panx" in scores:
            efde["ner_f1_en"][variant] = scores["panx"]["en"]
            efde["ner_f1_fr_de_es"][variant] = fmean(scores["panx"][lang] for lang in ("fr", "de", "es"))
    return summary


def pairs(items: list[str]) -> dict[str, Path]:
    return {name: Path(path) for name, path in (item.split("=", 1) for item in items)}


def grouped(items: list[str]) -> dict[str, list[Path]]:
    """``NAME=DIR`` items, a name given again adding a run (another seed) to it."""
    out: dict[str, list[Path]] = {}
    for name, path in (item.split("=", 1) for item in items):
        out.setdefault(name, []).append(Path(path))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--summary", default="docs/reproduction/summary.json")
    parser.add_argument("--bow", default="docs/reproduction/bow_nli.json")
    parser.add_argument("--sweep", default="docs/reproduction/finetune_sweep.jsonl")
    parser.add_argument("--study", action="append", default=[], help="twin|en-fr-de-es=STUDY_OUTPUT_DIR")
    parser.add_argument("--suite", action="append", default=[], help="VARIANT=SUITE_OUTPUT_DIR")
    parser.add_argument(
        "--panx-twin",
        action="append",
        default=[],
        help="VARIANT=TASK_OUTPUT_DIR (again for each seed: the mean)",
    )
    args = parser.parse_args(argv)
    path = Path(args.summary)
    summary = update(
        json.loads(path.read_text()),
        json.loads(Path(args.bow).read_text()),
        sweep_runs(Path(args.sweep)),
        pairs(args.suite),
        grouped(args.panx_twin),
        {
            name: json.loads((folder / "study_results.json").read_text())
            for name, folder in pairs(args.study).items()
        },
    )
    path.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: summary[k] for k in ("learns",)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
