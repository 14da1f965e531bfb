"""The whole check: the preflight and the rows, each in a fresh process within the time budget,
the targets, the results file and the README table."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench.gpu_training.runs import PREFLIGHT, REQUIRED, TINY, Run, Sizes, extras_in_order
from xlm_hf.markdown import table

HERE = Path(__file__).resolve().parents[1]  # bench/
RESULTS = HERE / "gpu_results.json"


def run_in_subprocess(spec: dict[str, Any], timeout: float, log) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = {**spec, "output_dir": f"{tmp}/out"}
        path = Path(tmp) / "spec.json"
        path.write_text(json.dumps(spec))
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
        }
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "bench.gpu_training", "--worker", str(path)],
                capture_output=True,
                text=True,
                env=env,
                cwd=HERE.parent,
                timeout=timeout,
            )
            output, failed = proc.stdout + proc.stderr, proc.returncode != 0
        except subprocess.TimeoutExpired as err:
            parts = [p.decode() if isinstance(p, bytes) else p for p in (err.stdout, err.stderr) if p]
            output, failed = "".join(parts) + f"\n[timed out after {timeout:.0f} s]", True
        name, where = spec["run"]["name"], spec["run"]["path"]
        log.write(f"===== {name} {where} ({time.perf_counter() - started:.0f} s)\n{output}\n")
        log.flush()
        if failed or not Path(f"{path}.out").exists():
            lines = [line for line in output.splitlines() if line.strip()]
            error = " | ".join(lines[-3:])[-600:]
            return {
                "name": spec["run"]["name"],
                "path": spec["run"]["path"],
                "error": error,
            }
        return json.loads(Path(f"{path}.out").read_text())


def comparisons(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, from the runs that completed."""
    by = {(r["name"], r["path"]): r for r in runs if "error" not in r}
    out = []

    def add(figure, value, target, met):
        out.append({"figure": figure, "value": value, "target": target, "met": met})

    ours, theirs = by.get(("mlm-95k", "xlm_hf")), by.get(("mlm-95k", "hf"))
    if ours and ours["mfu"] is not None:
        add("MFU of xlm-hf's path, paper model at 95k", ours["mfu"], ">= 0.40", ours["mfu"] >= 0.40)
    if ours and theirs:
        speed = ours["tokens_per_second"] / theirs["tokens_per_second"]
        add("tokens/s, xlm_hf / hf, paper model at 95k", speed, ">= 4x", speed >= 4)
        if ours["peak_memory_mb"] and theirs["peak_memory_mb"]:
            memory = ours["peak_memory_mb"] / theirs["peak_memory_mb"]
            add("peak GPU memory, xlm_hf / hf", memory, "<= 1x", memory <= 1)
        if ours["loss"] is not None and theirs["loss"] is not None:
            add(
                "loss after the same steps, xlm_hf - hf",
                ours["loss"] - theirs["loss"],
                "within bf16 noise",
                None,
            )
    ours, theirs = by.get(("xnli", "xlm_hf")), by.get(("xnli", "hf"))
    if ours and theirs:
        speed = ours["tokens_per_second"] / theirs["tokens_per_second"]
        add("XNLI fine-tuning tokens/s, xlm_hf / hf", speed, ">= 2x", speed >= 2)
    return out


def markdown(results: dict[str, Any]) -> str:
    """The README table of the runs (and the targets below it)."""

    def row(r: dict[str, Any]) -> list[Any]:
        if "error" in r:
            return [r["name"], r["path"], f"failed: {r['error'][:80]}", *[""] * 6]
        mfu = f"{100 * r['mfu']:.1f} %" if r["mfu"] is not None else "-"
        memory = f"{r['peak_memory_mb'] / 1024:.1f} GB" if r["peak_memory_mb"] is not None else "-"
        syncs = r["host_syncs_per_step"] if r["host_syncs_per_step"] is not None else "-"
        loss = f"{r['loss']:.3f}" if r["loss"] is not None else "-"
        return [
            r["name"],
            r["path"],
            f"{r['tokens_per_second']:,.0f}",
            mfu,
            memory,
            f"{r['step_ms']:.1f} ms",
            f"{r['compile_seconds']:.0f} s",
            syncs,
            loss,
        ]

    header = ["run", "path", "tokens/s", "MFU", "peak memory", "step", "compile", "host syncs / step", "loss"]
    versions = results["versions"]
    lines = [
        f"{results['gpu']}, {results['date']} (torch {versions['torch']}, transformers {versions['transformers']}):",
        "",
        *table(header, [row(r) for r in results["runs"]]),
        "",
    ]
    met = {None: "-", True: "yes", False: "no"}
    targets = [[c["figure"], f"{c['value']:.3g}", c["target"], met[c["met"]]] for c in results["targets"]]
    return "\n".join(lines + table(["target", "value", "goal", "met"], targets)) + "\n"


def _one(
    run: Run, sizes: Sizes, deadline: float, wanted: list[str], log, whole_limit: bool = False
) -> dict[str, Any] | None:
    """One run in a subprocess, within what is left of the budget (None: not wanted, or no time;
    `whole_limit`: only when all of the run's allowance is left)."""
    if wanted and f"{run.name}:{run.path}" not in wanted and run.name not in wanted:
        return None
    left = deadline - time.perf_counter()
    if left < (run.limit if whole_limit else 30):
        print(f"skipped {run.name} {run.path}: {left:.0f} s of the budget left", file=sys.stderr)
        return None
    sizes = replace(sizes, timed=min(sizes.timed, run.timed or sizes.timed))
    spec = {"run": asdict(run), "sizes": asdict(sizes)}
    result = run_in_subprocess(spec, min(run.limit, left), log)
    summary = result.get("error") or f"{result['tokens_per_second']:,.0f} tokens/s"
    print(f"{run.name:14s} {run.path:7s} {summary}", file=sys.stderr)
    return result


def main() -> int:
    tiny = os.environ.get("GPU_CHECK_TINY", "") not in ("", "0")
    sizes = TINY if tiny else Sizes()
    budget = float(os.environ.get("GPU_CHECK_BUDGET", "450"))  # seconds for all runs together
    results_path = Path(os.environ.get("GPU_CHECK_RESULTS", RESULTS))
    out_dir = Path(os.environ["GPU_CHECK_OUT"]) if os.environ.get("GPU_CHECK_OUT") else None
    wanted = os.environ.get("GPU_CHECK_RUNS", "").split()
    deadline = time.perf_counter() + budget
    log_path = (out_dir or results_path.parent) / "gpu_check.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    with open(log_path, "w", encoding="utf-8") as log:
        spec = {"run": asdict(PREFLIGHT), "sizes": asdict(sizes)}
        limit = 600 if tiny else PREFLIGHT.limit  # a cold compile on a shared CPU takes minutes
        if wanted and "preflight" not in wanted:  # a subset of runs: the preflight only when named
            checks = {"skipped": "GPU_CHECK_RUNS does not name it"}
        else:
            checks = run_in_subprocess(spec, min(limit, budget), log)
        print(f"preflight: {json.dumps(checks)}", file=sys.stderr)
        for run in REQUIRED:
            runs.append(_one(run, sizes, deadline, wanted, log))
        for run in extras_in_order([r for r in runs if r is not None]):
            runs.append(_one(run, sizes, deadline, wanted, log, whole_limit=True))
    runs = [r for r in runs if r is not None]
    first = next((r for r in runs if "error" not in r), {})
    results = {
        "gpu": first.get("gpu", "unknown"),
        "date": datetime.date.today().isoformat(),
        "versions": first.get("versions", {"torch": "?", "transformers": "?"}),
        "sizes": asdict(sizes),
        "preflight": checks,
        "runs": runs,
        "targets": comparisons(runs),
    }
    text = json.dumps(results, indent=1) + "\n"
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(text)
    if out_dir is not None:
        (out_dir / "gpu_results.json").write_text(text)
    print(markdown(results))
    return 0 if runs and all("error" not in r for r in runs) else 1
