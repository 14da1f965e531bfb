"""Build a pretraining recipe's token store ahead of the run:
``xlm-hf prepare-data --config RECIPE [section.key=value ...]`` (also ``python -m xlm_hf.prepare_data``).

Learns the vocabulary when the recipe's is missing, tokenises every language and pair that is
not in the store yet (or is damaged: it is rebuilt), and prints each entry with its size on disk.
Entries it builds are marked as built ahead: a run that finds one damaged stops and names it,
rather than rebuilding it while every other rank and node waits. A run launched afterwards (on
any number of ranks and nodes that see the same store and input paths) only maps the files;
one launched without it builds the store in its main process while the other ranks wait, which
for a Wikipedia-sized corpus can outlast the process group's timeout.
"""

from __future__ import annotations

from pathlib import Path

from xlm_hf.launch import run_command

DESCRIPTION = "build a pretraining recipe's token store (and vocabulary) ahead of the run"


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def prepare(config: str, overrides: list[str]) -> list[tuple[str, int, int, Path]]:
    """(entry, sentences, bytes on disk, folder) of every store entry of the recipe, built when missing."""
    from xlm_hf.config.recipes import load_pretrain_recipe
    from xlm_hf.data.corpora import check_cache_dir, load_corpora
    from xlm_hf.data.inputs import resolve_inputs
    from xlm_hf.vocab import tokenizer_dir

    recipe = load_pretrain_recipe(config, overrides)
    inputs = resolve_inputs(recipe.data)
    check_cache_dir(recipe.data)
    corpora = load_corpora(
        recipe.data, tokenizer_dir(recipe), seed=recipe.training.seed, inputs=inputs, ahead=True
    )
    out = []
    for name, folder in corpora.folders.items():
        kind, key = name.split(".", 1)
        store = (corpora.mono_train if kind == "mono" else corpora.para_train)[key]
        out.append((name, len(store), folder_bytes(folder), folder))
    return out


def main(argv: list[str] | None = None) -> int:
    """``xlm-hf prepare-data --config RECIPE`` (also ``python -m xlm_hf.prepare_data``)."""
    return run_command("prepare-data", DESCRIPTION, argv, _command)


def _command(config: str, overrides: list[str]) -> None:
    entries = prepare(config, overrides)
    for name, sentences, size, folder in entries:
        print(f"{name:<14} {sentences:>14,} training sentences {size / 2**20:12,.1f} MiB  {folder}")
    print(f"{sum(e[2] for e in entries) / 2**20:,.1f} MiB in {len(entries)} entries")


if __name__ == "__main__":
    raise SystemExit(main())
