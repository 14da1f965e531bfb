"""``make bench``: run every benchmark and print a table (ours vs baseline, same process, same data)."""

from __future__ import annotations

import argparse

from bench import lm_head, packing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    args = parser.parse_args()
    for bench in (lm_head, packing):
        print(bench.run(quick=args.quick))
        print()


if __name__ == "__main__":
    main()
