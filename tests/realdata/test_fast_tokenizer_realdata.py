"""Real data: FastXLMTokenizer gives XLMTokenizer's ids on every line of ../shared/data/mono.

A 15-language vocabulary is learned on a sample of the same files, then every line of every
language is encoded by both tokenizers (two worker processes; one to three minutes on two cores),
once with the hf pre-processing and once with xlm (the same vocabulary, recording xlm).
"""

from __future__ import annotations

import json
import shutil
from multiprocessing import Pool

import pytest

from tests.realdata.conftest import XNLI15
from xlm_hf.text.pretokenize import RECORD_KEY, xlm_encode

pytestmark = [pytest.mark.realdata, pytest.mark.slow]
CHUNK = 400
_PAIR: dict[str, tuple] = {}


def _compare(job: tuple[str, str, list[str]]) -> tuple[str, int, list[str]]:
    """(lang, lines compared, lines whose ids differ) for one chunk, in a worker process."""
    from transformers import XLMTokenizer

    from xlm_hf.text.fast_tokenizer import FastXLMTokenizer

    tokenizer_dir, lang, lines = job
    if tokenizer_dir not in _PAIR:
        _PAIR[tokenizer_dir] = (
            XLMTokenizer.from_pretrained(tokenizer_dir),
            FastXLMTokenizer.from_pretrained(tokenizer_dir),
        )
    reference, fast = _PAIR[tokenizer_dir]
    differing = [s for s in lines if fast.encode_text(s, lang) != xlm_encode(reference, s, lang)]
    return lang, len(lines), differing


def _compare_every_line(tokenizer_dir: str, shared_data) -> None:
    jobs = []
    for lang in XNLI15:
        text = (shared_data / "mono" / f"{lang}.txt").read_text(encoding="utf-8")
        lines = text.split("\n")  # raw lines, empty ones and edge whitespace included
        if lines[-1] == "":
            lines.pop()
        jobs += [(tokenizer_dir, lang, lines[i : i + CHUNK]) for i in range(0, len(lines), CHUNK)]
    compared = dict.fromkeys(XNLI15, 0)
    differing: dict[str, list[str]] = {lang: [] for lang in XNLI15}
    with Pool(2) as pool:
        for lang, n, bad in pool.imap_unordered(_compare, jobs):
            compared[lang] += n
            differing[lang] += bad
    print("\n| lang | lines compared | identical |")
    for lang in XNLI15:
        print(f"| {lang} | {compared[lang]} | {compared[lang] - len(differing[lang])} |")
    assert sum(compared.values()) > 90_000
    assert not any(differing.values()), {lang: bad[:2] for lang, bad in differing.items() if bad}


def test_every_line_of_every_language_has_the_reference_ids(vocab15, shared_data):
    from xlm_hf.text.fast_tokenizer import FastXLMTokenizer

    assert FastXLMTokenizer.from_pretrained(str(vocab15))._bpe_model is not None  # the compiled BPE
    _compare_every_line(str(vocab15), shared_data)


def test_every_line_has_the_reference_ids_with_the_xlm_preprocessing(vocab15, shared_data, tmp_path):
    """The reference for xlm is `xlm_encode` with `XLMTokenizer`: the 2019 words, then HF's BPE."""
    directory = tmp_path / "v15-xlm"
    shutil.copytree(vocab15, directory)
    config = json.loads((directory / "tokenizer_config.json").read_text())
    (directory / "tokenizer_config.json").write_text(json.dumps({**config, RECORD_KEY: "xlm"}))
    _compare_every_line(str(directory), shared_data)
