"""Build a pretraining recipe's token store ahead of the run:
``python -m xlm_hf.data.prepare --config RECIPE [section.key=value ...]``.

Learns the vocabulary when the recipe's is missing, tokenises every language and pair that is
not in the store yet, and prints each entry with its size on disk. A run launched afterwards (on
any number of ranks and nodes that see the same store and input paths) only maps the files;
one launched without it builds the store in its main process while the other ranks wait, which
for a Wikipedia-sized corpus can outlast the process group's timeout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xlm_hf.errors import XlmHfError, one_line


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def prepare(config: str, overrides: list[str]) -> list[tuple[str, int, int, Path]]:
    """(entry, sentences, bytes on disk, folder) of every store entry of the recipe, built when missing."""
    from xlm_hf.data.corpora import check_cache_dir, load_corpora
    from xlm_hf.data.inputs import resolve_inputs
    from xlm_hf.pretrain import load_recipe, tokenizer_dir

    recipe = load_recipe(config, overrides)
    inputs = resolve_inputs(recipe.data)
    check_cache_dir(recipe.data)
    corpora = load_corpora(recipe.data, tokenizer_dir(recipe), seed=recipe.training.seed, inputs=inputs)
    out = []
    for name, folder in corpora.folders.items():
        kind, key = name.split(".", 1)
        store = (corpora.mono_train if kind == "mono" else corpora.para_train)[key]
        out.append((name, len(store), folder_bytes(folder), folder))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m xlm_hf.data.prepare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--config", required=True, help="a pretraining recipe")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="section.key=value ...")
    args = parser.parse_args(argv)
    try:
        entries = prepare(args.config, args.overrides)
    except XlmHfError as err:
        print(f"xlm_hf.data.prepare: error: {one_line(err)}", file=sys.stderr)
        return 2
    for name, sentences, size, folder in entries:
        print(f"{name:<14} {sentences:>14,} training sentences {size / 2**20:12,.1f} MiB  {folder}")
    print(f"{sum(e[2] for e in entries) / 2**20:,.1f} MiB in {len(entries)} entries")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
