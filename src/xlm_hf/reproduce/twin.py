"""The twin study's control language: English enciphered letter by letter into another script.

"twin" is English with every Latin letter replaced by an Armenian one (case kept: A→Ա, a→ա) and
every digit by a Bengali digit; no XNLI language writes either script, so the two languages share
no word and no subword, only punctuation, symbols and the special tokens. Its grammar, word
order and statistics are English's exactly, so whatever the model transfers between en and twin
it must have learned from the two corpora, not from shared strings (the set-up of K et al. 2020
and Dufter & Schütze 2020, with a character cipher instead of shifted token ids, so that the
toolkit's own vocabulary learning and pre-processing run on it unchanged).

Enciphering drops accents (the NFD form's combining marks), which the study's lowercasing and
accent removal drop anyway: left on an Armenian letter, a combining mark would be split off by
Moses as a symbol. Twin takes the English Moses rules (`xlm_hf.text.pretokenize.PREPROCESSED_AS`).
Pre-processing then commutes with enciphering except on lines where an English non-breaking
prefix (``Mr.``, ``U.S.``) keeps its full stop, which the enciphered word no longer matches;
`make_twin_data` measures that share.

`make_twin_data` writes one data directory, laid out as the toolkit's recipes read it:

    mono/en.txt, mono/twin.txt        two disjoint halves of the English lines, the second one
                                      enciphered (MLM sees no sentence beside its translation)
    para/en-twin.en, para/en-twin.twin  English lines outside the halves and their cipher (TLM)
    heldout/en.txt, heldout/twin.txt  lines used nowhere else: the retrieval probe
    xnli/dev/en.tsv, xnli/dev/twin.tsv  English XNLI dev and its enciphered copy (exactly parallel)
    twin_data.json                    settings, line counts, the commutation check
"""

from __future__ import annotations

import json
import logging
import random
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from xlm_hf.atomic_files import atomic_directory, write_json
from xlm_hf.config.sections import TwinConfig
from xlm_hf.data.textfiles import non_blank_lines
from xlm_hf.errors import DataError
from xlm_hf.xnli.data import LABELS, read_pair_tsv

logger = logging.getLogger(__name__)

TWIN = "twin"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_ARMENIAN_CAPITAL_AYB, _ARMENIAN_SMALL_AYB, _BENGALI_ZERO = 0x531, 0x561, 0x9E6
CIPHER = {
    **{ord(c): chr(_ARMENIAN_SMALL_AYB + i) for i, c in enumerate(_LETTERS)},
    **{ord(c.upper()): chr(_ARMENIAN_CAPITAL_AYB + i) for i, c in enumerate(_LETTERS)},
    **{ord(str(d)): chr(_BENGALI_ZERO + d) for d in range(10)},
}
DECIPHER = {ord(v): chr(k) for k, v in CIPHER.items()}


def encipher(text: str) -> str:
    """`text` in twin: ASCII letters and digits mapped, accents dropped (on the NFD form)."""
    decomposed = unicodedata.normalize("NFD", text)
    plain = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return unicodedata.normalize("NFC", plain.translate(CIPHER))


def decipher(text: str) -> str:
    """The inverse of `encipher` on text without accents."""
    return text.translate(DECIPHER)


def commutes(line: str, preprocessing: str = "hf") -> bool:
    """Pre-processing the enciphered line gives the enciphered words of the pre-processed line."""
    from xlm_hf.text.pretokenize import pretokenize

    return pretokenize(encipher(line), TWIN, preprocessing=preprocessing) == [
        encipher(word) for word in pretokenize(line, "en", preprocessing=preprocessing)
    ]


def commutation_check(lines: Iterable[str], preprocessing: str = "hf", examples: int = 5) -> dict[str, Any]:
    """Share of `lines` on which enciphering and pre-processing do not commute, with examples."""
    lines = list(lines)
    failing = [line for line in lines if not commutes(line, preprocessing)]
    return {
        "lines": len(lines),
        "not_commuting": len(failing),
        "share_not_commuting": len(failing) / max(len(lines), 1),
        "examples": failing[:examples],
    }


def shared_tokens(tokenizer: Any, english: list[str], twin: list[str]) -> dict[str, Any]:
    """The BPE tokens that occur in both languages' encodings of `english` / `twin`."""
    from xlm_hf.text.pretokenize import xlm_tokenize

    seen = {
        lang: {t for line in lines for t in xlm_tokenize(tokenizer, line, lang)}
        for lang, lines in (("en", english), (TWIN, twin))
    }
    both = sorted(seen["en"] & seen[TWIN])
    return {
        "tokens": {"en": len(seen["en"]), TWIN: len(seen[TWIN])},
        "shared": both,
        # `</w>` marks a word's end, not a letter of it
        "shared_with_a_letter_or_digit": [
            t for t in both if any(c.isalnum() for c in t.removesuffix("</w>"))
        ],
    }


def _unique(lines: Iterable[str], used: set[str]) -> list[str]:
    out = []
    for line in lines:
        if line not in used and any(c.isalpha() for c in line):
            used.add(line)
            out.append(line)
    return out


def _shuffled(lines: list[str], seed: int) -> list[str]:
    lines = list(lines)
    random.Random(seed).shuffle(lines)
    return lines


def make_twin_data(config: TwinConfig, output_dir: str | Path) -> dict[str, Any]:
    """Write the twin study's data directory (atomically) and return what ``twin_data.json`` holds.

    The English lines of every file are pooled (stripped, deduplicated, kept only with a letter)
    and shuffled with the seed; the first `heldout_lines` are the probe's, the next `tlm_lines`
    the TLM pairs', and the rest is cut into the two MLM halves, so no line plays two roles.
    """
    pool = _shuffled(_unique(non_blank_lines(config.english), set()), config.seed)
    needed = config.heldout_lines + config.tlm_lines + 2
    if len(pool) < needed:
        raise DataError(
            f"study.twin.english: {len(pool)} distinct lines, fewer than the {needed} that "
            "heldout_lines + tlm_lines + two MLM lines need"
        )
    heldout, pool = pool[: config.heldout_lines], pool[config.heldout_lines :]
    para, pool = pool[: config.tlm_lines], pool[config.tlm_lines :]
    half = len(pool) // 2
    english_half, twin_half = pool[:half], pool[half : 2 * half]
    xnli = read_pair_tsv(config.xnli_dev) if config.xnli_dev else []

    logger.info(
        "twin data: checking that enciphering commutes with pre-processing (%d lines)",
        len(twin_half) + len(para) + len(heldout),
    )
    record = {
        "settings": asdict(config),  # the study reuses the directory while these are unchanged
        "lines": {
            "mono_en": len(english_half),
            "mono_twin": len(twin_half),
            "para": len(para),
            "heldout": len(heldout),
            "xnli_dev": len(xnli),
        },
        "cipher": "Latin letters -> Armenian letters (case kept), digits -> Bengali digits; accents dropped",
        "commutation": commutation_check(twin_half + para + heldout),
    }
    files = {
        "mono/en.txt": english_half,
        "mono/twin.txt": [encipher(line) for line in twin_half],
        "para/en-twin.en": para,
        "para/en-twin.twin": [encipher(line) for line in para],
        "heldout/en.txt": heldout,
        "heldout/twin.txt": [encipher(line) for line in heldout],
    }
    if xnli:
        for lang, cipher in (("en", str), (TWIN, encipher)):
            files[f"xnli/dev/{lang}.tsv"] = [
                "\t".join([cipher(row["premise"]), cipher(row["hypothesis"]), LABELS[row["label"]]])
                for row in xnli
            ]
    with atomic_directory(output_dir, replace=True) as tmp:
        for name, lines in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        write_json(tmp / "twin_data.json", record)
    share = record["commutation"]["share_not_commuting"]
    logger.info(
        "twin data in %s: %s; enciphering and pre-processing differ on %.1f %% of lines",
        output_dir,
        json.dumps(record["lines"]),
        100 * share,
    )
    return record
