"""Real data: the xlm pre-processing gives the original XLM pipeline's words on every oracle line.

``../shared/data/xlm-preprocess/<lang>.{in,out}.txt``: 2,000 lines per language (mono text, then
XNLI dev premises and hypotheses) and what tools/tokenize.sh (Perl Moses of 2019-01-17) and
tools/lowercase_and_remove_accent.py printed for them. zh is absent (Stanford segmenter).
"""

from __future__ import annotations

import pytest

from xlm_hf.text.fast_moses import fast_lowercase_and_remove_accent, fast_words
from xlm_hf.text.pretokenize import pretokenize

pytestmark = pytest.mark.realdata

ORACLE_LANGUAGES = ["ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi"]


def _lines(path) -> list[str]:
    lines = path.read_text(encoding="utf-8").split("\n")  # one line per "\n", as the scripts read them
    return lines[:-1] if lines[-1] == "" else lines


def _first_difference(lang: str, path, inputs: list[str], got: list[list[str]], expected: list[list[str]]):
    for number, (line, words, want) in enumerate(zip(inputs, got, expected), start=1):
        if words != want:
            at = next((i for i, (a, b) in enumerate(zip(words, want)) if a != b), min(len(words), len(want)))
            return (
                f"{lang}: {sum(g != e for g, e in zip(got, expected))} of {len(inputs)} lines differ; first at "
                f"{path}:{number}: {line!r}\n  got      ...{words[max(0, at - 3) : at + 4]}\n"
                f"  expected ...{want[max(0, at - 3) : at + 4]}"
            )
    return None


@pytest.mark.parametrize("lang", ORACLE_LANGUAGES)
def test_every_line_has_the_original_words(shared_data, lang):
    folder = shared_data / "xlm-preprocess"
    inputs, outputs = _lines(folder / f"{lang}.in.txt"), _lines(folder / f"{lang}.out.txt")
    assert len(inputs) == len(outputs) == 2000
    expected = [line.split() for line in outputs]
    reference = [pretokenize(line, lang, preprocessing="xlm") for line in inputs]
    problem = _first_difference(lang, folder / f"{lang}.in.txt", inputs, reference, expected)
    assert problem is None, problem
    fast = [[w for w in fast_lowercase_and_remove_accent(fast_words(s, lang, "xlm")) if w] for s in inputs]
    problem = _first_difference(lang, folder / f"{lang}.in.txt", inputs, fast, expected)
    assert problem is None, "fast path: " + str(problem)
