"""Learn an XLM vocabulary (joint BPE over sampled languages) into an `XLMTokenizer` directory.

The XLM recipe: normalise every language exactly as it will be encoded (`vocab.preprocessing`: hf =
`XLMTokenizer`'s rules, xlm = the original XLM scripts; see `text.py`; the setting is recorded in
the directory's tokenizer_config.json), draw
training sentences per language with smoothed probabilities p ∝ n^alpha (small languages are
repeated), learn word-final `</w>` merges, and lay out ids as XLM does: 0 `<s>`, 1 `</s>`,
2 `<pad>`, 3 `<unk>`, 4–13 `<special0..9>`, then tokens by descending count (ties by string).
Merges are learned by the compiled `tokenizers` BPE trainer; Python only normalises text.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import unicodedata
from collections import Counter
from collections.abc import Iterable
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from xlm_hf.atomic_files import atomic_directory, write_json
from xlm_hf.config.sections import VocabConfig
from xlm_hf.data.inputs import expand
from xlm_hf.data.sampling import smoothed_probabilities
from xlm_hf.data.textfiles import check_text_file, non_blank_lines
from xlm_hf.data.tokenise import init_worker
from xlm_hf.errors import ConfigError
from xlm_hf.launch import run_command
from xlm_hf.text.pretokenize import RECORD_KEY, pretokenize
from xlm_hf.text.special_tokens import SPECIAL_TOKENS

logger = logging.getLogger(__name__)

EOW = "</w>"
META_FILE = "xlm_hf_vocab.json"


def language_files(config: VocabConfig) -> dict[str, list[Path]]:
    """Text files per language: explicit `files` (a file, a glob or a list, as `data.mono` takes
    them), else DIR/mono/<lang>.txt and DIR/para/*.<lang>. Each is checked before any is read."""
    found: dict[str, list[Path]] = {}
    for lang in config.languages:
        paths: list[Path] = []
        if config.files.get(lang):
            paths = [Path(p) for p in expand(config.files[lang], f"vocab.files.{lang}", hub=False)]
        elif config.data_dir is not None:
            data_dir = Path(config.data_dir)
            mono = data_dir / "mono" / f"{lang}.txt"
            if mono.is_file():
                paths.append(mono)
            if config.use_parallel:
                paths += sorted((data_dir / "para").glob(f"*-*.{lang}"))
        if not paths:
            raise ConfigError(
                f"vocab.languages: no text for {lang!r} (looked in {config.data_dir}/mono and para)"
            )
        for path in paths:
            check_text_file(path)
        found[lang] = paths
    return found


def read_lines(paths: Iterable[Path]) -> list[str]:
    """Non-blank stripped lines (strict UTF-8, BOM and CRLF handled: see `xlm_hf.data.textfiles`)."""
    return non_blank_lines(list(paths))


def sample_sentences(
    lines_per_lang: dict[str, list[str]], alpha: float, per_language: int, seed: int
) -> dict[str, list[str]]:
    """Draw round(p_l · per_language · L) sentences per language; lines repeat when a language is small."""
    rng = random.Random(seed)
    langs = list(lines_per_lang)
    probs = smoothed_probabilities([len(lines_per_lang[lang]) for lang in langs], alpha).tolist()
    total = per_language * len(langs)
    sampled = {}
    for lang, p in zip(langs, probs):
        lines, want = lines_per_lang[lang], max(1, round(p * total))
        reps, rest = divmod(want, len(lines))
        sampled[lang] = lines * reps + rng.sample(lines, rest)
    return sampled


def _pretokenize_job(job: tuple[str, bool, str, list[str]]) -> list[str]:
    lang, lower, preprocessing, lines = job
    return [" ".join(pretokenize(line, lang, lower, preprocessing)) for line in lines]


def normalise(
    lines: list[str], lang: str, lowercase: bool, num_proc: int, desc: str = "", preprocessing: str = "hf"
) -> dict[str, str]:
    """Normalised form of each distinct line (each line is processed once)."""
    distinct = list(dict.fromkeys(lines))
    chunk = max(1, min(2000, math.ceil(len(distinct) / (4 * num_proc))))
    jobs = [(lang, lowercase, preprocessing, distinct[i : i + chunk]) for i in range(0, len(distinct), chunk)]
    out: list[str] = []
    bar = tqdm(total=len(distinct), desc=desc or f"normalise {lang}", unit="line", leave=False)
    if num_proc > 1:
        with Pool(num_proc, initializer=init_worker, initargs=(os.getpid(),)) as pool:
            for done in pool.imap(_pretokenize_job, jobs):
                out += done
                bar.update(len(done))
    else:
        for job in jobs:
            out += _pretokenize_job(job)
            bar.update(len(job[-1]))
    bar.close()
    return dict(zip(distinct, out))


def learn_bpe(
    sentences: Iterable[str], vocab_size: int, min_frequency: int
) -> tuple[list[str], list[tuple[str, str]]]:
    """(tokens, merges) learned by the `tokenizers` BPE trainer on whitespace-split words."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>", end_of_word_suffix=EOW))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[],
        end_of_word_suffix=EOW,
        show_progress=False,
    )
    tokenizer.train_from_iterator(sentences, trainer=trainer)
    model = json.loads(tokenizer.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return list(model["vocab"]), merges


def character_alphabet(lines: Iterable[str], lowercase: bool) -> set[str]:
    """Every printable character of the training lines, as it looks after normalisation.

    Sampling for BPE sees a fraction of the lines; adding all their characters keeps rare ones
    (a zh character met once) out of `<unk>` at almost no cost in vocabulary size.
    """
    chars = set().union(*map(set, lines)) if lines else set()
    out: set[str] = set()
    for char in chars:
        if char.isspace() or unicodedata.category(char).startswith("C"):
            continue
        if lowercase:  # the same steps as XLM's lowercase_and_remove_accent, one character at a time
            decomposed = unicodedata.normalize("NFD", char.lower())
            out.update(c.lower() for c in decomposed if unicodedata.category(c) != "Mn")
        else:
            out.add(char)
    return {c for c in out if c and not c.isspace()}


def order_vocabulary(
    tokens: Iterable[str], word_counts: Counter, segment, alphabet: Iterable[str] = ()
) -> list[str]:
    """Specials first, then tokens by descending count in the training words (ties by string)."""
    counts: Counter = Counter()
    for word, n in word_counts.items():
        for piece in segment(word):
            counts[piece] += n
    pool = set(tokens) | set(counts) | set(alphabet)
    # every character alone and word-final, so a character seen only in one position never maps to <unk>
    for token in list(pool):
        base = token[: -len(EOW)] if token.endswith(EOW) else token
        if len(base) == 1:
            pool.update((base, base + EOW))
    pool -= set(SPECIAL_TOKENS)
    pool.discard("<unk>")
    return SPECIAL_TOKENS + sorted(pool, key=lambda t: (-counts.get(t, 0), t))


#: VocabConfig fields that do not change the vocabulary learned (where and how fast it is written)
_NOT_SETTINGS = ("output_dir", "num_proc")
_PATHS = ("data_dir", "files")


def recorded_settings(config: VocabConfig) -> dict:
    """The fields of `config` that decide the vocabulary: what ``xlm_hf_vocab.json`` records."""
    values = {k: v for k, v in dataclasses.asdict(config).items() if k not in _NOT_SETTINGS}
    return json.loads(json.dumps(values))


def check_reusable(config: VocabConfig) -> None:
    """Refuse to reuse the tokenizer in ``config.output_dir`` when it was learned with other settings.

    A run names its vocabulary by the recipe's `vocab` section; training with a directory that
    section did not make would record a vocabulary that was never used.
    """
    meta_path = Path(config.output_dir) / META_FILE
    try:
        recorded = json.loads(meta_path.read_text(encoding="utf-8")).get("settings")
    except (OSError, ValueError):
        recorded = None
    if recorded is None:
        raise ConfigError(
            f"vocab.output_dir: {config.output_dir} holds a tokenizer without recorded vocab settings "
            f"({META_FILE}); rebuild it with `xlm-hf vocab`, or point model.tokenizer at it and drop the "
            "vocab section"
        )
    mine = recorded_settings(config)
    # paths are recorded but not compared: the same corpus reached from another clone or mount is
    # the same vocabulary
    for key in sorted((set(recorded) | set(mine)) - set(_PATHS)):
        if recorded.get(key) != mine.get(key):
            raise ConfigError(
                f"vocab.{key}: {config.output_dir} was learned with {key}={recorded.get(key)!r}, the recipe "
                f"says {mine.get(key)!r}; rebuild it (`xlm-hf vocab`) or choose another vocab.output_dir"
            )


def build_vocab(config: VocabConfig) -> Path:
    """Learn the vocabulary described by `config` and write a loadable tokenizer directory."""
    from tokenizers import Tokenizer
    from transformers import XLMTokenizer

    output_dir = Path(config.output_dir)
    if output_dir.exists() and any(output_dir.iterdir()) and not (output_dir / "vocab.json").exists():
        raise ConfigError(
            f"vocab.output_dir: {output_dir} exists and is not a vocabulary: refusing to replace it"
        )
    languages = sorted(config.languages)
    files = language_files(config)
    lines: dict[str, list[str]] = {}
    heldout: dict[str, list[str]] = {}
    for lang in languages:
        all_lines = read_lines(files[lang])
        if not all_lines:
            raise ConfigError(f"vocab.languages: the files for {lang!r} hold no text ({files[lang][0]})")
        random.Random(f"{config.seed}-{lang}").shuffle(all_lines)
        n_valid = int(len(all_lines) * config.valid_fraction)
        heldout[lang], lines[lang] = all_lines[:n_valid], all_lines[n_valid:]
    sampled = sample_sentences(lines, config.alpha, config.sentences_per_language, config.seed)

    normalised: list[str] = []
    word_counts: Counter = Counter()
    for lang in languages:
        norm = normalise(
            sampled[lang],
            lang,
            config.lowercase_and_remove_accent,
            config.num_proc,
            preprocessing=config.preprocessing,
        )
        for line in sampled[lang]:
            normalised.append(norm[line])
            word_counts.update(norm[line].split())
        logger.info("%s: %d lines, %d sampled for BPE", lang, len(lines[lang]), len(sampled[lang]))

    tokens, merges = learn_bpe(normalised, config.vocab_size - len(SPECIAL_TOKENS), config.min_frequency)
    bpe = Tokenizer.from_str(_bpe_json(tokens, merges)).model
    alphabet = set().union(
        *(character_alphabet(lines[lang], config.lowercase_and_remove_accent) for lang in languages)
    )
    vocab = order_vocabulary(tokens, word_counts, lambda w: [t.value for t in bpe.tokenize(w)], alphabet)

    with atomic_directory(output_dir, replace=True) as tmp:
        (tmp / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}, ensure_ascii=False))
        (tmp / "merges.txt").write_text("".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
        lang2id = {lang: i for i, lang in enumerate(languages)}
        tokenizer = XLMTokenizer(
            vocab_file=str(tmp / "vocab.json"),
            merges_file=str(tmp / "merges.txt"),
            lang2id=lang2id,
            id2lang={i: lang for lang, i in lang2id.items()},
            do_lowercase_and_remove_accent=config.lowercase_and_remove_accent,
            **{RECORD_KEY: config.preprocessing},  # tokenizer_config.json: copied by save_pretrained
        )
        tokenizer.save_pretrained(str(tmp))
        meta = {
            "settings": recorded_settings(config),
            "languages": languages,
            "alpha": config.alpha,
            "vocab_size": len(vocab),
            "merges": len(merges),
            "lines": {lang: len(lines[lang]) for lang in languages},
            "sampled": {lang: len(sampled[lang]) for lang in languages},
            "seed": config.seed,
        }
        write_json(tmp / META_FILE, meta)
        if any(heldout.values()):
            (tmp / "heldout").mkdir()
            for lang, held in heldout.items():
                (tmp / "heldout" / f"{lang}.txt").write_text(
                    "".join(s + "\n" for s in held), encoding="utf-8"
                )
    logger.info("vocabulary of %d tokens (%d merges) written to %s", len(vocab), len(merges), output_dir)
    return output_dir


def _bpe_json(tokens: list[str], merges: list[tuple[str, str]]) -> str:
    """A minimal `tokenizers` JSON holding the learned BPE model (used to segment words fast)."""
    model = {
        "type": "BPE",
        "dropout": None,
        "unk_token": "<unk>",
        "continuing_subword_prefix": None,
        "end_of_word_suffix": EOW,
        "fuse_unk": False,
        "byte_fallback": False,
        "vocab": {t: i for i, t in enumerate(["<unk>", *[t for t in tokens if t != "<unk>"]])},
        "merges": [list(m) for m in merges],
    }
    return json.dumps(
        {
            "version": "1.0",
            "model": model,
            "added_tokens": [],
            "normalizer": None,
            "pre_tokenizer": None,
            "post_processor": None,
            "decoder": None,
            "truncation": None,
            "padding": None,
        }
    )


def tokenizer_dir(recipe: Any) -> Path:
    """The local tokenizer directory of a pretraining recipe (`config.recipes.PretrainRecipe`): learned
    from its `vocab` section when missing (and refused
    when the one there was learned with other settings), or fetched once from the hub when
    `model.tokenizer` is a hub id (e.g. a published XLM vocabulary)."""
    from xlm_hf.text.tokenizer_files import check_tokenizer_dir, fetch_hub_tokenizer, looks_like_hub_id

    key = "model.tokenizer" if recipe.model.tokenizer else "vocab.output_dir"
    name = recipe.model.tokenizer or (
        recipe.vocab.output_dir if recipe.vocab else recipe.model.model_name_or_path
    )
    path = Path(name)
    learned_here = recipe.vocab is not None and Path(recipe.vocab.output_dir).resolve() == path.resolve()
    if (path / "vocab.json").exists():
        if learned_here:
            check_reusable(recipe.vocab)
        check_tokenizer_dir(path, key)
        return path
    if learned_here:
        logger.info("no tokenizer at %s yet: learning it from the recipe's vocab section", path)
        return build_vocab(recipe.vocab)
    if not path.exists() and looks_like_hub_id(name):
        return fetch_hub_tokenizer(name, Path(recipe.training.output_dir) / "source-tokenizer", key)
    check_tokenizer_dir(path, key)  # names what is missing
    return path


def main(argv: list[str] | None = None) -> int:
    """``xlm-hf vocab --config RECIPE`` (also ``python -m xlm_hf.vocab``)."""
    return run_command("vocab", DESCRIPTION, argv, _command)


DESCRIPTION = "learn an XLM BPE vocabulary into a tokenizer directory"


def _command(config: str, overrides: list[str]) -> None:
    from xlm_hf.config.loader import load_sections

    # a vocab recipe, or a pretraining recipe (its vocab section); the other sections are not read
    sections = load_sections(config, overrides, {"vocab": VocabConfig}, ignore=("data", "model", "training"))
    path = build_vocab(sections["vocab"])
    print(f"vocabulary written to {path}")


if __name__ == "__main__":
    raise SystemExit(main())
