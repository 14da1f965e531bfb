"""The study's figures from the step outputs: XNLI per variant (mean and sample standard deviation
over fine-tuning seeds), pretraining perplexity curves (languages averaged geometrically: the mean
of log-perplexities, so that no language with a large perplexity hides the others), budget points,
and the headline."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from xlm_hf.reproduce.plan import budget_variants, finetune_dir, model_dir, pretrained_dir

CHANCE = 1 / 3  # XNLI: three balanced classes
#: English must clear chance by this much before a transfer ratio means anything: nearer chance, a
#: point of noise in English moves the ratio by a tenth or more
RATIO_MIN_MARGIN = 0.10


def transfer_ratio(en: float, other: float) -> float | None:
    """(other − ⅓) / (English − ⅓): the share of English's gain over chance that transfers; None
    while English is less than `RATIO_MIN_MARGIN` above chance."""
    return (other - CHANCE) / (en - CHANCE) if en >= CHANCE + RATIO_MIN_MARGIN else None


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def geometric_mean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def xnli_summary(study: Any, out: Path) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for variant in study.variants:
        per_seed = {}
        for seed in study.seeds:
            results = json.loads((finetune_dir(study, variant, seed) / "xnli_results.json").read_text())
            per_seed[str(seed)] = results["dev"]
        langs = list(next(iter(per_seed.values())))
        stats = {lang: _mean_std([seed_dev[lang] for seed_dev in per_seed.values()]) for lang in langs}
        summary[variant] = {
            "mean": {lang: m for lang, (m, _) in stats.items()},
            "std": {lang: s for lang, (_, s) in stats.items()},
            "per_seed": per_seed,
        }
    return summary


def budget_summary(study: Any, alignment: dict[str, Any], pivot: str = "en") -> dict[str, Any]:
    """Per pretrained variant, one point per budget and the full run: pretraining tokens, XNLI
    (English, the mean of the other languages) over `budget_seeds`, and retrieval top-1 pivot→xx."""
    if not study.budgets:
        return {}
    out: dict[str, Any] = {}
    for name, variant, steps in [
        *budget_variants(study),
        *((v, v, None) for v in study.variants if v != "random"),
    ]:
        seeds = study.budget_seeds if steps is not None else study.seeds
        runs = [finetune_dir(study, name, seed) / "xnli_results.json" for seed in seeds]
        if not all(path.exists() for path in runs):
            continue
        devs = [json.loads(path.read_text())["dev"] for path in runs]
        others = [lang for lang in devs[0] if lang not in (pivot, "avg")] if devs else []
        source = model_dir(study, name)
        totals = source / "xlm_hf_totals-0.json"
        if steps is None:
            finished = json.loads((source / "results.json").read_text())
            tokens, steps = finished["train_tokens"], finished["train_steps"]
        else:
            tokens = json.loads(totals.read_text())["train_tokens"] if totals.exists() else None
        out.setdefault(variant, []).append(
            {
                "steps": steps,
                "tokens": tokens,
                "seeds": list(seeds),
                # no budget_seeds: a retrieval-only point
                "xnli_en": statistics.fmean(d[pivot] for d in devs) if devs else None,
                "xnli_others": (
                    statistics.fmean(statistics.fmean(d[lang] for lang in others) for d in devs)
                    if devs
                    else None
                ),
                "retrieval_top1": (
                    statistics.fmean(alignment[name]["retrieval"].values()) if name in alignment else None
                ),
            }
        )
    for points in out.values():
        points.sort(key=lambda point: point["steps"])
    return out


def log_linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares ``y = a + b log10(x)``: returns (a, b)."""
    lx = [math.log10(x) for x in xs]
    mx, my = statistics.fmean(lx), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in lx)
    b = sum((x - mx) * (y - my) for x, y in zip(lx, ys, strict=True)) / var if var else 0.0
    return my - b * mx, b


def tokens_to_reach(points: list[dict[str, Any]], key: str, target: float) -> float | None:
    """Pretraining tokens at which the log-linear fit of `key` over the budget points reaches
    `target` (None: fewer than two points, or a curve that does not rise)."""
    usable = [(p["tokens"], p[key]) for p in points if p.get("tokens") and p.get(key) is not None]
    if len(usable) < 2:
        return None
    a, b = log_linear_fit(*map(list, zip(*usable, strict=True)))
    return 10 ** ((target - a) / b) if b > 0 else None


def perplexity_curve(run_dir: Path, objective: str = "mlm") -> list[tuple[int, float]]:
    """``[(step, geometric mean over languages of the validation perplexity)]``, from step 0."""
    results = json.loads((run_dir / "results.json").read_text())
    points = []
    initial = results.get("initial_eval", {}).get(f"{objective}_ppl")
    if initial:
        points.append((0, geometric_mean(list(initial.values()))))
    state = json.loads((run_dir / "trainer_state.json").read_text())
    # eval_<metric>.<lang>; runs made before that scheme logged eval.<metric>.<lang>
    prefixes = (f"eval_{objective}_ppl.", f"eval.{objective}_ppl.")
    for entry in state["log_history"]:
        values = [v for k, v in entry.items() if k.startswith(prefixes)]
        if values:
            points.append((int(entry["step"]), geometric_mean(values)))
    return sorted(dict(points).items())


def pretraining_summary(study: Any, timings: dict[str, float]) -> dict[str, Any]:
    summary = {}
    for variant in study.pretrain:
        run_dir = pretrained_dir(study, variant)
        if not (run_dir / "results.json").exists():
            continue
        results = json.loads((run_dir / "results.json").read_text())
        final = {
            f"{key}": geometric_mean(list(per.values()))
            for key, per in results["eval"].items()
            if key.endswith("_ppl")
        }
        summary[variant] = {
            "steps": results["train_steps"],
            "tokens": results["train_tokens"],
            "train_runtime_s": results["train_runtime"],
            "step_wall_s": timings.get(f"pretrain-{variant}"),
            "final_ppl": final,
            "final_mlm_ppl_per_language": results["eval"].get("mlm_ppl", {}),
            "curves": {
                obj: perplexity_curve(run_dir, obj)
                for obj in ("mlm", "tlm")
                if f"{obj}_ppl" in results["eval"]
            },
        }
    return summary


def _layer_means(res: dict[str, Any]) -> list[float]:
    """Per layer, retrieval top-1 averaged over the two directions and every language pair."""
    pairs = list(res["by_layer"].values())
    return [
        statistics.fmean((p["from_pivot"][i] + p["to_pivot"][i]) / 2 for p in pairs)
        for i in range(len(pairs[0]["from_pivot"]))
    ]


def headline(summary: dict[str, Any], pivot: str = "en") -> dict[str, Any]:
    """The study's figures in one place, fractions in [0, 1] and means over seeds: English and
    other-language accuracy, the transfer ratio, and retrieval (last layer, and best layer both ways)."""
    out: dict[str, Any] = {
        "xnli_en": {},
        "xnli_others": {},
        "transfer_ratio": {},
        "retrieval_top1": {},
        "retrieval_top1_best_layer": {},
    }
    for variant, stats in summary["xnli"].items():
        others = [lang for lang in stats["mean"] if lang not in (pivot, "avg")]
        en = stats["mean"][pivot]
        rest = statistics.fmean(stats["mean"][lang] for lang in others)
        out["xnli_en"][variant], out["xnli_others"][variant] = en, rest
        out["transfer_ratio"][variant] = transfer_ratio(en, rest)
    for variant, res in summary.get("alignment", {}).items():
        out["retrieval_top1"][variant] = statistics.fmean(res["retrieval"].values())
        if "best_layer" in res:
            out["retrieval_top1_best_layer"][variant] = statistics.fmean(
                (b["from_pivot"] + b["to_pivot"]) / 2 for b in res["best_layer"].values()
            )
    return out
