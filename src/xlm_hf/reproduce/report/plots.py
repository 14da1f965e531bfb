"""The study's plots (PNG): perplexity curves, per-language accuracy, retrieval, budgets.

Each variant has one colour in every plot; a budget point of a variant (``mlm-tlm@1000``) has its
variant's colour and a line style, marker and hatch of its own, so no two legend entries of a plot
look alike (a test checks it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xlm_hf.reproduce.report.summaries import _layer_means

#: (line style, marker, bar hatch) for the full run, then for each budget in increasing steps
STYLES = [("-", "o", ""), ("--", "s", "//"), (":", "^", ".."), ("-.", "D", "xx"), ((0, (1, 3)), "v", "\\\\")]


class Looks:
    """The colour and style of every variant of a study: colour by pretrained variant, style by budget."""

    def __init__(self, summary: dict[str, Any]) -> None:
        names = [*summary["xnli"], *summary.get("alignment", {})]
        bases = list(dict.fromkeys(name.split("@")[0] for name in names))
        self.colour = {base: f"C{i}" for i, base in enumerate(bases)}
        steps = sorted({int(name.split("@")[1]) for name in names if "@" in name})
        self.rank = {s: i + 1 for i, s in enumerate(steps)}

    def __call__(self, name: str) -> dict[str, Any]:
        base, _, steps = name.partition("@")
        line, marker, hatch = STYLES[self.rank[int(steps)] % len(STYLES) if steps else 0]
        return {"color": self.colour.get(base), "linestyle": line, "marker": marker, "hatch": hatch}

    def line(self, name: str) -> dict[str, Any]:
        look = self(name)
        return {k: look[k] for k in ("color", "linestyle", "marker")}

    def bar(self, name: str) -> dict[str, Any]:
        look = self(name)
        return {
            "color": look["color"],
            "hatch": look["hatch"],
            "edgecolor": "white" if look["hatch"] else None,
        }


def _grouped_bars(
    ax: Any, groups: dict[str, list[float]], labels: list[str], looks: Looks, **bar: Any
) -> None:
    """One bar per group at each label, side by side (`bar["yerr"]`, if given, per group too)."""
    errors = bar.pop("yerr", {})
    width = 0.8 / len(groups)
    for i, (name, values) in enumerate(groups.items()):
        xs = [j + (i - (len(groups) - 1) / 2) * width for j in range(len(labels))]
        ax.bar(xs, values, width, yerr=errors.get(name), label=name, **looks.bar(name), **bar)
    ax.set_xticks(range(len(labels)), labels)


def perplexity_figure(plt: Any, summary: dict[str, Any], looks: Looks) -> Any:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for variant, p in summary.get("pretraining", {}).items():
        for obj, curve in p["curves"].items():
            steps, ppl = zip(*curve, strict=True)
            style = "-" if obj == "mlm" else "--"  # the objective's style: one colour per variant
            ax.plot(
                steps,
                ppl,
                style,
                marker="o",
                color=looks(variant)["color"],
                label=f"{variant}: {obj.upper()}",
            )
    ax.set(yscale="log", xlabel="training step", ylabel="validation perplexity")
    ax.set_title("geometric mean over languages", fontsize=10)
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def xnli_figure(plt: Any, summary: dict[str, Any], looks: Looks) -> Any:
    langs, xnli = summary["languages"] + ["avg"], summary["xnli"]
    fig, ax = plt.subplots(figsize=(11, 4))
    _grouped_bars(
        ax,
        {variant: [100 * stats["mean"][c] for c in langs] for variant, stats in xnli.items()},
        langs,
        looks,
        yerr={variant: [100 * stats["std"][c] for c in langs] for variant, stats in xnli.items()},
        capsize=2,
    )
    ax.axhline(100 / 3, color="grey", linestyle="--", linewidth=1, label="chance")
    top = max(100 * s["mean"][c] for s in xnli.values() for c in langs)
    ax.set(ylabel="XNLI dev accuracy (%)", ylim=(25, max(50, 5 + top)))
    ax.legend(ncol=4)
    return fig


def retrieval_figure(plt: Any, summary: dict[str, Any], looks: Looks) -> Any:
    others = [lang for lang in summary["languages"] if lang != "en"]
    align = summary["alignment"]
    fig, ax = plt.subplots(figsize=(11, 4))
    retrieval = {variant: [100 * res["retrieval"][lang] for lang in others] for variant, res in align.items()}
    _grouped_bars(ax, retrieval, others, looks)
    ax.set(ylabel="en → xx retrieval, top-1 (%)")
    ax.legend()
    return fig


def retrieval_by_layer_figure(plt: Any, summary: dict[str, Any], looks: Looks) -> Any:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for variant, res in summary["alignment"].items():
        per_layer = _layer_means(res)
        ax.plot(range(len(per_layer)), [100 * v for v in per_layer], label=variant, **looks.line(variant))
    ax.set(xlabel="layer (0 = embeddings)", ylabel="retrieval top-1 (%), mean of both ways")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def budgets_figure(plt: Any, summary: dict[str, Any], looks: Looks) -> Any:
    """Retrieval against pretraining tokens, and XNLI beside it when some variant was fine-tuned at
    two budgets or more (``study.budget_seeds``): with one point each there is no curve to draw."""
    budgets = summary["budgets"]
    scored = {v: [p for p in points if p["xnli_en"] is not None] for v, points in budgets.items()}
    with_xnli = any(len(points) > 1 for points in scored.values())
    fig, axes = plt.subplots(1, 2 if with_xnli else 1, figsize=(11 if with_xnli else 6, 4), squeeze=False)
    retrieval_ax = axes[0][-1]
    for variant, points in budgets.items():
        colour = looks(variant)["color"]
        if with_xnli:
            tokens = [p["tokens"] for p in scored[variant]]
            for key, style, name in (("xnli_others", "-o", "other languages"), ("xnli_en", "--s", "English")):
                values = [100 * p[key] for p in scored[variant]]
                axes[0][0].plot(tokens, values, style, color=colour, label=f"{variant}: {name}")
        if all(p["retrieval_top1"] is not None for p in points):
            retrieval_ax.plot(
                [p["tokens"] for p in points],
                [100 * p["retrieval_top1"] for p in points],
                "-o",
                color=colour,
                label=variant,
            )
    if with_xnli:
        axes[0][0].axhline(100 / 3, color="grey", linestyle=":", linewidth=1, label="chance")
        axes[0][0].set(xscale="log", xlabel="pretraining tokens", ylabel="XNLI dev accuracy (%)")
    retrieval_ax.set(xscale="log", xlabel="pretraining tokens", ylabel="retrieval en → xx, top-1 (%)")
    for ax in axes[0]:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def figures(summary: dict[str, Any]) -> dict[str, Any]:
    """``{file name: figure}`` of every plot the summary has the figures for."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    looks = Looks(summary)
    out = {
        "perplexity.png": perplexity_figure(plt, summary, looks),
        "xnli_accuracy.png": xnli_figure(plt, summary, looks),
    }
    align = summary.get("alignment", {})
    if align:
        out["retrieval.png"] = retrieval_figure(plt, summary, looks)
        if all("by_layer" in res for res in align.values()):
            out["retrieval_by_layer.png"] = retrieval_by_layer_figure(plt, summary, looks)
    if summary.get("budgets"):
        out["budgets.png"] = budgets_figure(plt, summary, looks)
    return out


def plots(summary: dict[str, Any], folder: Path) -> list[Path]:
    """Perplexity curves, per-language accuracy bars and retrieval bars as PNG."""
    import matplotlib.pyplot as plt

    made = figures(summary)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fig in made.items():
        fig.tight_layout()
        written.append(folder / name)
        fig.savefig(written[-1], dpi=120)
        plt.close(fig)
    return written
