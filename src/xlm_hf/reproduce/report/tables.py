"""The study's Markdown tables (``tables.md``), one function per table, from `summaries`' figures."""

from __future__ import annotations

import statistics
from typing import Any

from xlm_hf.markdown import section, table


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def xnli_tables(summary: dict[str, Any]) -> list[str]:
    """Accuracy per language (mean ± std over seeds, references below), then per seed."""
    xnli, cols = summary["xnli"], summary["languages"] + ["avg"]
    rows = [
        [variant, *(f"{_pct(stats['mean'][c])} ± {_pct(stats['std'][c])}" for c in cols)]
        for variant, stats in xnli.items()
    ]
    rows += [
        [f"{name} (test)", *(f"{row.get(c, float('nan')):.1f}" for c in cols)]
        for name, row in summary.get("reference", {}).items()
    ]
    seeds = ", ".join(map(str, summary["seeds"]))
    lines = [f"### XNLI dev accuracy (%), zero-shot from English: mean ± std over seeds {seeds}", ""]
    lines += table(["", *cols], rows)
    per_seed = [
        [variant, *(f"{_pct(dev['avg'])} (en {_pct(dev['en'])})" for dev in stats["per_seed"].values())]
        for variant, stats in xnli.items()
    ]
    header = ["variant", *(f"seed {s}" for s in summary["seeds"])]
    return lines + section("Per seed: XNLI average (%) and English (%)", header, per_seed)


def alignment_tables(summary: dict[str, Any]) -> list[str]:
    """Retrieval top-1 from English (last layer), both ways with the best layer, `<unk>` shares."""
    align, langs = summary.get("alignment", {}), summary["languages"]
    if not align:
        return []
    others = [lang for lang in langs if lang != "en"]
    n = next(iter(align.values()))["sentences"]
    where = summary.get("alignment_source", "XNLI dev premises")
    rows = []
    for variant, res in align.items():
        values = [res["retrieval"][lang] for lang in others]
        rows.append([variant, *map(_pct, values), _pct(statistics.fmean(values))])
    title = f"Translation retrieval en → xx, top-1 (%), last layer, over {n} {where} (chance {100 / n:.1f})"
    lines = section(title, ["", *others, "avg"], rows)
    if all("best_layer" in res for res in align.values()):
        rows = [
            [
                variant,
                f"en-{lang}",
                _pct(res["retrieval"][lang]),
                _pct(res["retrieval_to_pivot"][lang]),
                res["best_layer"][lang]["layer"],
                _pct(res["best_layer"][lang]["from_pivot"]),
                _pct(res["best_layer"][lang]["to_pivot"]),
            ]
            for variant, res in align.items()
            for lang in others
        ]
        header = [
            "variant",
            "pair",
            "en → xx, last",
            "xx → en, last",
            "best layer",
            "en → xx, best",
            "xx → en, best",
        ]
        lines += section(
            "Retrieval top-1 (%) both ways: last layer, and the best layer (0 = embeddings)", header, rows
        )
    unk = next(iter(align.values()))["unk_rate"]
    return lines + section(
        "Share of `<unk>` tokens in those premises (%)", langs, [[f"{100 * unk[lang]:.2f}" for lang in langs]]
    )


def transfer_table(summary: dict[str, Any]) -> list[str]:
    head = summary.get("headline", {})
    if not head.get("transfer_ratio"):
        return []
    rows = [
        [
            variant,
            _pct(head["xnli_en"][variant]),
            _pct(head["xnli_others"][variant]),
            "-" if ratio is None else f"{ratio:.2f}",
        ]
        for variant, ratio in head["transfer_ratio"].items()
    ]
    return section(
        "Transfer: (accuracy in the other languages − ⅓) / (English accuracy − ⅓), from the seed means",
        ["variant", "English (%)", "other languages (%)", "transfer ratio"],
        rows,
    )


def budget_table(summary: dict[str, Any]) -> list[str]:
    budgets = summary.get("budgets", {})
    if not budgets:
        return []
    rows = []
    for variant, points in budgets.items():
        for p in points:
            cell = {
                k: "-" if p[k] is None else _pct(p[k]) for k in ("retrieval_top1", "xnli_en", "xnli_others")
            }
            tokens = "-" if p["tokens"] is None else f"{p['tokens']:,}"
            rows.append(
                [
                    variant,
                    p["steps"],
                    tokens,
                    len(p["seeds"]),
                    cell["xnli_en"],
                    cell["xnli_others"],
                    cell["retrieval_top1"],
                ]
            )
    return section(
        "Pretraining budgets: XNLI (%) and retrieval top-1 en → xx (%, last layer) against pretraining tokens",
        ["variant", "steps", "tokens", "seeds", "English", "other languages", "retrieval"],
        rows,
    )


def pretraining_table(summary: dict[str, Any]) -> list[str]:
    pre = summary.get("pretraining", {})
    if not pre:
        return []
    rows = []
    for variant, p in pre.items():
        tlm = p["final_ppl"].get("tlm_ppl")
        rows.append(
            [
                variant,
                p["steps"],
                f"{p['tokens']:,}",
                f"{p['train_runtime_s'] / 60:.1f} min",
                f"{p['final_ppl'].get('mlm_ppl', float('nan')):.0f}",
                "-" if tlm is None else f"{tlm:.0f}",
            ]
        )
    header = ["variant", "steps", "tokens", "training time", "validation MLM ppl", "validation TLM ppl"]
    return section("Pretraining", header, rows)


def timings_table(summary: dict[str, Any]) -> list[str]:
    timings = summary.get("timings", {})
    if not timings:
        return []
    title = f"Wall time per step (total {sum(timings.values()) / 3600:.2f} h)"
    return section(title, ["step", "minutes"], [[name, f"{s / 60:.1f}"] for name, s in timings.items()])


def tables(summary: dict[str, Any]) -> str:
    """The Markdown tables of the results page."""
    lines = xnli_tables(summary)
    for part in (alignment_tables, transfer_table, budget_table, pretraining_table, timings_table):
        lines += part(summary)
    return "\n".join(lines) + "\n"
