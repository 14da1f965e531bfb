"""The study's results: ``study_results.json``, ``tables.md`` and ``plots/*.png`` from the step outputs.

Accuracies are means over fine-tuning seeds with their sample standard deviation. Perplexity
curves average the languages geometrically (the mean of log-perplexities), so that no language
with a large perplexity hides the others.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
from pathlib import Path
from typing import Any

from xlm_hf.atomic_files import write_json, write_text
from xlm_hf.reproduce.plan import budget_variants, finetune_dir, model_dir, pretrained_dir

logger = logging.getLogger(__name__)


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


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def tables(summary: dict[str, Any]) -> str:
    """The markdown tables of the results page."""
    xnli, langs = summary["xnli"], summary["languages"]
    cols = langs + ["avg"]
    head = "| | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols) + "\n"
    lines = [
        "### XNLI dev accuracy (%), zero-shot from English: mean ± std over seeds "
        + ", ".join(map(str, summary["seeds"])),
        "",
        head.rstrip("\n"),
    ]
    for variant, stats in xnli.items():
        cells = [f"{_pct(stats['mean'][c])} ± {_pct(stats['std'][c])}" for c in cols]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    for name, row in summary.get("reference", {}).items():
        lines.append(
            f"| {name} (test) | " + " | ".join(f"{row.get(c, float('nan')):.1f}" for c in cols) + " |"
        )
    lines += [
        "",
        "### Per seed: XNLI average (%) and English (%)",
        "",
        "| variant | " + " | ".join(f"seed {s}" for s in summary["seeds"]) + " |",
        "|---|" + "---|" * len(summary["seeds"]),
    ]
    for variant, stats in xnli.items():
        cells = [f"{_pct(dev['avg'])} (en {_pct(dev['en'])})" for dev in stats["per_seed"].values()]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    align = summary.get("alignment", {})
    if align:
        others = [lang for lang in langs if lang != "en"]
        n = next(iter(align.values()))["sentences"]
        where = summary.get("alignment_source", "XNLI dev premises")
        lines += [
            "",
            f"### Translation retrieval en → xx, top-1 (%), last layer, over {n} {where} (chance {100 / n:.1f})",
            "",
            "| | " + " | ".join(others) + " | avg |",
            "|---|" + "---|" * (len(others) + 1),
        ]
        for variant, res in align.items():
            values = [res["retrieval"][lang] for lang in others]
            lines.append(
                f"| {variant} | "
                + " | ".join(_pct(v) for v in values)
                + f" | {_pct(statistics.fmean(values))} |"
            )
        if all("best_layer" in res for res in align.values()):
            lines += [
                "",
                "### Retrieval top-1 (%) both ways: last layer, and the best layer (0 = embeddings)",
                "",
                "| variant | pair | en → xx, last | xx → en, last | best layer | en → xx, best | xx → en, best |",
                "|---|---|---|---|---|---|---|",
            ]
            for variant, res in align.items():
                for lang in others:
                    best = res["best_layer"][lang]
                    lines.append(
                        f"| {variant} | en-{lang} | {_pct(res['retrieval'][lang])} | "
                        f"{_pct(res['retrieval_to_pivot'][lang])} | {best['layer']} | "
                        f"{_pct(best['from_pivot'])} | {_pct(best['to_pivot'])} |"
                    )
        unk = next(iter(align.values()))["unk_rate"]
        lines += [
            "",
            "### Share of `<unk>` tokens in those premises (%)",
            "",
            "| " + " | ".join(langs) + " |",
            "|" + "---|" * len(langs),
            "| " + " | ".join(f"{100 * unk[lang]:.2f}" for lang in langs) + " |",
        ]
    head = summary.get("headline", {})
    if head.get("transfer_ratio"):
        lines += [
            "",
            "### Transfer: (accuracy in the other languages − ⅓) / (English accuracy − ⅓), from the seed means",
            "",
            "| variant | English (%) | other languages (%) | transfer ratio |",
            "|---|---|---|---|",
        ]
        for variant, ratio in head["transfer_ratio"].items():
            lines.append(
                f"| {variant} | {_pct(head['xnli_en'][variant])} | {_pct(head['xnli_others'][variant])} | "
                f"{'-' if ratio is None else f'{ratio:.2f}'} |"
            )
    budgets = summary.get("budgets", {})
    if budgets:
        lines += [
            "",
            "### Pretraining budgets: XNLI (%) and retrieval top-1 en → xx (%, last layer) against pretraining tokens",
            "",
            "| variant | steps | tokens | seeds | English | other languages | retrieval |",
            "|---|---|---|---|---|---|---|",
        ]
        for variant, points in budgets.items():
            for p in points:
                cell = {
                    k: "-" if p[k] is None else _pct(p[k])
                    for k in ("retrieval_top1", "xnli_en", "xnli_others")
                }
                tokens = "-" if p["tokens"] is None else f"{p['tokens']:,}"
                lines.append(
                    f"| {variant} | {p['steps']} | {tokens} | {len(p['seeds'])} | {cell['xnli_en']} | "
                    f"{cell['xnli_others']} | {cell['retrieval_top1']} |"
                )
    pre = summary.get("pretraining", {})
    if pre:
        lines += [
            "",
            "### Pretraining",
            "",
            "| variant | steps | tokens | training time | validation MLM ppl | validation TLM ppl |",
            "|---|---|---|---|---|---|",
        ]
        for variant, p in pre.items():
            tlm = p["final_ppl"].get("tlm_ppl")
            lines.append(
                f"| {variant} | {p['steps']} | {p['tokens']:,} | {p['train_runtime_s'] / 60:.1f} min | "
                f"{p['final_ppl'].get('mlm_ppl', float('nan')):.0f} | {'-' if tlm is None else f'{tlm:.0f}'} |"
            )
    timings = summary.get("timings", {})
    if timings:
        lines += [
            "",
            f"### Wall time per step (total {sum(timings.values()) / 3600:.2f} h)",
            "",
            "| step | minutes |",
            "|---|---|",
        ]
        lines += [f"| {name} | {seconds / 60:.1f} |" for name, seconds in timings.items()]
    return "\n".join(lines) + "\n"


def _grouped_bars(
    ax: Any, groups: dict[str, list[float]], labels: list[str], color: dict, **bar: Any
) -> None:
    """One bar per group at each label, side by side (`bar["yerr"]`, if given, per group too)."""
    errors = bar.pop("yerr", {})
    width = 0.8 / len(groups)
    for i, (name, values) in enumerate(groups.items()):
        xs = [j + (i - (len(groups) - 1) / 2) * width for j in range(len(labels))]
        ax.bar(xs, values, width, yerr=errors.get(name), color=color.get(name), label=name, **bar)
    ax.set_xticks(range(len(labels)), labels)


def plots(summary: dict[str, Any], folder: Path) -> list[Path]:
    """Perplexity curves, per-language accuracy bars and retrieval bars as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        written.append(folder / name)
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)

    color = {variant: f"C{i}" for i, variant in enumerate(summary["xnli"])}  # one colour per variant
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for variant, p in summary.get("pretraining", {}).items():
        for obj, curve in p["curves"].items():
            steps, ppl = zip(*curve, strict=True)
            style = "-" if obj == "mlm" else "--"
            ax.plot(
                steps, ppl, style, marker="o", color=color.get(variant), label=f"{variant}: {obj.upper()}"
            )
    ax.set(yscale="log", xlabel="training step", ylabel="validation perplexity")
    ax.set_title("geometric mean over languages", fontsize=10)
    ax.legend()
    ax.grid(alpha=0.3)
    save(fig, "perplexity.png")

    langs = summary["languages"] + ["avg"]
    xnli = summary["xnli"]
    fig, ax = plt.subplots(figsize=(11, 4))
    _grouped_bars(
        ax,
        {variant: [100 * stats["mean"][c] for c in langs] for variant, stats in xnli.items()},
        langs,
        color,
        yerr={variant: [100 * stats["std"][c] for c in langs] for variant, stats in xnli.items()},
        capsize=2,
    )
    ax.axhline(100 / 3, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set(
        ylabel="XNLI dev accuracy (%)",
        ylim=(25, max(50, 5 + max(100 * s["mean"][c] for s in xnli.values() for c in langs))),
    )
    ax.legend(ncol=4)
    save(fig, "xnli_accuracy.png")

    align = summary.get("alignment", {})
    if align:
        others = [lang for lang in summary["languages"] if lang != "en"]
        fig, ax = plt.subplots(figsize=(11, 4))
        retrieval = {
            variant: [100 * res["retrieval"][lang] for lang in others] for variant, res in align.items()
        }
        _grouped_bars(ax, retrieval, others, color)
        ax.set(ylabel="en → xx retrieval, top-1 (%)")
        ax.legend()
        save(fig, "retrieval.png")
        if all("by_layer" in res for res in align.values()):
            fig, ax = plt.subplots(figsize=(6.5, 4))
            for variant, res in align.items():
                per_layer = _layer_means(res)
                ax.plot(
                    range(len(per_layer)),
                    [100 * v for v in per_layer],
                    marker="o",
                    color=color.get(variant),
                    label=variant,
                )
            ax.set(xlabel="layer (0 = embeddings)", ylabel="retrieval top-1 (%), mean of both ways")
            ax.legend()
            ax.grid(alpha=0.3)
            save(fig, "retrieval_by_layer.png")
    budgets = summary.get("budgets", {})
    if budgets:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for variant, points in budgets.items():
            tokens = [p["tokens"] for p in points]
            scored = [p for p in points if p["xnli_en"] is not None]
            axes[0].plot(
                [p["tokens"] for p in scored],
                [100 * p["xnli_others"] for p in scored],
                "-o",
                color=color.get(variant),
                label=f"{variant}: other languages",
            )
            axes[0].plot(
                [p["tokens"] for p in scored],
                [100 * p["xnli_en"] for p in scored],
                "--o",
                color=color.get(variant),
                label=f"{variant}: English",
            )
            if all(p["retrieval_top1"] is not None for p in points):
                axes[1].plot(
                    tokens,
                    [100 * p["retrieval_top1"] for p in points],
                    "-o",
                    color=color.get(variant),
                    label=variant,
                )
        axes[0].axhline(100 / 3, color="grey", linestyle=":", linewidth=1, label="chance")
        axes[0].set(xscale="log", xlabel="pretraining tokens", ylabel="XNLI dev accuracy (%)")
        axes[1].set(xscale="log", xlabel="pretraining tokens", ylabel="retrieval en → xx, top-1 (%)")
        for ax in axes:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        save(fig, "budgets.png")
    return written


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
        out["transfer_ratio"][variant] = (rest - 1 / 3) / (en - 1 / 3) if en > 1 / 3 else None
    for variant, res in summary.get("alignment", {}).items():
        out["retrieval_top1"][variant] = statistics.fmean(res["retrieval"].values())
        if "best_layer" in res:
            out["retrieval_top1_best_layer"][variant] = statistics.fmean(
                (b["from_pivot"] + b["to_pivot"]) / 2 for b in res["best_layer"].values()
            )
    return out


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
