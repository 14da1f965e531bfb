"""``make bench``: run every benchmark, print a table (ours vs baseline, same run) and write
``bench/results.json``; ``--readme`` copies that table into docs/benchmarks.md (between the bench markers).

Each bench module exposes ``run(quick: bool = False) -> list[dict]`` (rows: see `bench.rows`).
A module that is not there (a bench that lives on another branch) is reported as not available.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path

from bench.rows import check_row, rewrite_readme, table

BENCHES = ("pretraining", "attention", "lm_head", "packing", "data_prep", "data_scale")
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
BENCH_PAGE = HERE.parent / "docs" / "benchmarks.md"


def load_bench(name: str):
    """The module ``bench.<name>``, or None when it does not exist."""
    try:
        return importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as err:
        if err.name == f"bench.{name}":
            return None
        raise


def machine() -> str:
    import os

    return f"{platform.machine()} {os.cpu_count()} CPU cores ({platform.processor() or platform.system()})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--only", nargs="+", choices=BENCHES, help="run only these benches")
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help="results file (default bench/results.json)"
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="run nothing: rewrite docs/benchmarks.md's table from the results file",
    )
    args = parser.parse_args(argv)
    if args.readme:
        results = json.loads(args.output.read_text(encoding="utf-8"))
        if not rewrite_readme(BENCH_PAGE, results):
            print(f"{BENCH_PAGE} has no bench markers", file=sys.stderr)
            return 1
        print(f"docs/benchmarks.md table rewritten from {args.output}")
        return 0

    import torch
    import transformers

    started = time.time()
    rows, unavailable = [], {}
    for name in args.only or BENCHES:
        module = load_bench(name)
        if module is None:
            unavailable[name] = "not available (no module bench." + name + ")"
            print(f"{name}: not available", file=sys.stderr)
            continue
        t0 = time.time()
        print(f"{name} ...", file=sys.stderr)
        new = module.run(quick=args.quick)
        for row in new:
            check_row(row)
        rows += new
        print(table(new), file=sys.stderr)
        print(f"{name}: {time.time() - t0:.0f} s\n", file=sys.stderr)
    results = {
        "meta": {
            "date": time.strftime("%Y-%m-%d", time.gmtime()),
            "machine": machine(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "quick": args.quick,
            "seconds": round(time.time() - started),
        },
        "rows": rows,
        "unavailable": unavailable,
    }
    args.output.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(table(rows))
    for name, why in unavailable.items():
        print(f"{name}: {why}")
    print(f"\n{len(rows)} figures in {time.time() - started:.0f} s -> {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
