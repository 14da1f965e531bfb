"""The evaluation files the xtreme-lite suite needs beyond ../shared/data/tasks as it is:

- **Tatoeba, realigned.** The English sides ``tatoeba/<xx>-en.en`` are sorted, not line-aligned
  with ``<xx>-en.<xx>``. ``para/en-<xx>.*`` holds every Tatoeba pair, so each xx sentence finds
  its English translation there; a pair is kept when that translation is one of the English side's
  sentences (so the set of English sentences stays the benchmark's).
- **TyDiQA-GoldP English with gold answers.** The dev files carry no answer texts; 10 % of the
  English training questions (whole articles, seeded) become ``dev-en.json``, the rest
  ``train-en.json``.

    python studies/suite_data.py [--data ../shared/data] [--out runs/suite-data]

Prints what it kept. Run before ``xlm-hf evaluate --config recipes/suites/xtreme-lite.yaml``.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path


def realign_tatoeba(data: Path, out: Path) -> dict[str, int]:
    kept = {}
    for source in sorted((data / "tasks" / "tatoeba").glob("*-en.en")):
        lang = source.name.split("-")[0]
        xx_lines = (source.parent / f"{lang}-en.{lang}").read_text(encoding="utf-8").splitlines()
        english = set(source.read_text(encoding="utf-8").splitlines())
        para = data / "para" / f"en-{lang}"
        translation = dict(
            zip(
                Path(f"{para}.{lang}").read_text(encoding="utf-8").splitlines(),
                Path(f"{para}.en").read_text(encoding="utf-8").splitlines(),
                strict=True,
            )
        )
        pairs = [(x, translation[x]) for x in xx_lines if translation.get(x) in english]
        (out / "tatoeba").mkdir(parents=True, exist_ok=True)
        (out / "tatoeba" / f"{lang}-en.{lang}").write_text(
            "".join(x + "\n" for x, _ in pairs), encoding="utf-8"
        )
        (out / "tatoeba" / f"{lang}-en.en").write_text("".join(e + "\n" for _, e in pairs), encoding="utf-8")
        kept[lang] = len(pairs)
    return kept


def split_tydiqa(data: Path, out: Path, share: float = 0.1, seed: int = 0) -> tuple[int, int]:
    squad = json.loads((data / "tasks" / "tydiqa" / "train-en.json").read_text(encoding="utf-8"))
    articles = list(squad["data"])
    random.Random(seed).shuffle(articles)
    n_dev = max(1, round(share * len(articles)))
    (out / "tydiqa").mkdir(parents=True, exist_ok=True)
    counts = []
    for name, part in (("dev-en.json", articles[:n_dev]), ("train-en.json", articles[n_dev:])):
        (out / "tydiqa" / name).write_text(
            json.dumps({"version": squad.get("version"), "data": part}), encoding="utf-8"
        )
        counts.append(sum(len(p["qas"]) for a in part for p in a["paragraphs"]))
    return counts[1], counts[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/suite-data"))
    args = parser.parse_args()
    kept = realign_tatoeba(args.data, args.out)
    print("tatoeba pairs kept:", ", ".join(f"{lang} {n}" for lang, n in kept.items()))
    train, dev = split_tydiqa(args.data, args.out)
    print(f"tydiqa English: {train} training and {dev} dev questions")


if __name__ == "__main__":
    main()
