"""Fast, exact Moses pre-processing for XLM: the words `XLMTokenizer._tokenize` makes before BPE.

`XLMTokenizer` runs ~45 punctuation regexes and ~20 Moses regexes on every line, walks every
character in Python twice (non-printing characters, accents) and rebuilds a 10k-character set for
some words ending in a period. This module keeps the reference's steps, order and regexes but:

- compiles every regex once and skips a substitution when a substring every match needs is
  absent (a skipped `re.sub` would have returned its input unchanged);
- uses `str` methods (`isprintable`, `isascii`, `translate`, `split`) where the reference loops
  over characters or expands a regex template per match;
- answers the Moses non-breaking-prefix questions with one regex and sets built once.

Regexes, prefix lists and character classes come from the reference objects: sacremoses' for the
``hf`` pre-processing, `moses2019`'s (sacremoses with the 2019 Perl rules) for ``xlm``. BPE and ids
are `fast_tokenizer`'s. Tests compare the words with the reference on tricky strings and on every
line of the real corpora. Japanese (KyTea) goes through the reference path unchanged.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import Any

import sacremoses
from transformers.models.xlm.tokenization_xlm import replace_unicode_punct, romanian_preprocessing

from xlm_hf.text import moses2019
from xlm_hf.text.pretokenize import rules_language

try:  # the regex parser moved in Python 3.11; the old name still works with a warning
    from re import _parser as sre_parse
    from re._constants import LITERAL, MAX_REPEAT, SUBPATTERN
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse
    from sre_constants import LITERAL, MAX_REPEAT, SUBPATTERN

#: Languages the fast path does not cover (KyTea is rarely installed; the reference handles it).
DELEGATED_LANGUAGES = frozenset({"ja"})

# A whitespace-delimited token of 2+ characters ending in ".", and the first character of the next.
_PERIOD_TOKEN = re.compile(r"(?<!\S)(\S+)\.(?!\S)(?=\s*(\S)?)")

_SPACE = re.compile(r"\s")

# Every character `replace_unicode_punct` rewrites: a line without any of them is left as it is.
_UNICODE_PUNCT = re.compile("[，。、”“∶：？《》）！（；１」「０３２５６９７８４．～’…━〈〉【】％]")


# ----------------------------------------------------------------------------- regex triggers


def required_literal(pattern: str) -> str | None:
    """A substring that every match of `pattern` contains (the longest found), or None.

    Only the top level of the pattern is read: runs of literal characters, groups made only of
    literals, and `x+`-style repeats (which need `x` once). Anything else ends a run, so the
    answer is conservative: a None means "always run the regex".
    """
    best, run = "", ""
    for op, arg in sre_parse.parse(pattern):
        piece, ends_run = None, False
        if op is LITERAL:
            piece = chr(arg)
        elif op is SUBPATTERN and all(o is LITERAL for o, _ in arg[-1]):
            piece = "".join(chr(a) for _, a in arg[-1])
        elif op is MAX_REPEAT and arg[0] >= 1 and len(arg[2]) == 1 and arg[2][0][0] is LITERAL:
            piece, ends_run = chr(arg[2][0][1]), True
        if piece is None:
            best, run = max(best, run, key=len), ""
            continue
        run += piece
        if ends_run:
            best, run = max(best, run, key=len), ""
    best = max(best, run, key=len)
    return best or None


def _compiled_rule(pattern: Any, replacement: str) -> tuple[str | None, re.Pattern, str]:
    """(trigger, compiled regex, replacement); the trigger must occur for the regex to change text."""
    regex = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
    if regex.pattern == " +" and replacement == " ":  # single spaces map to themselves
        return "  ", regex, replacement
    return required_literal(regex.pattern), regex, replacement


def _apply(rules: list[tuple[str | None, re.Pattern, str]], text: str) -> str:
    for trigger, regex, replacement in rules:
        if trigger is None or trigger in text:
            text = regex.sub(replacement, text)
    return text


class PaddingTable(dict):
    """A `str.translate` table that pads with spaces each character a one-character regex matches.

    It replaces Moses' `([^...])` → " <char> " substitution. Python 3.11 expands such a template
    in Python for every match, and Moses pads most punctuation of every line this way. Each
    distinct character is classified once, by the reference regex itself.
    """

    def __init__(self, regex: re.Pattern) -> None:
        super().__init__()
        self.regex = regex

    def __missing__(self, codepoint: int) -> str:
        char = chr(codepoint)
        self[codepoint] = value = f" {char} " if self.regex.fullmatch(char) else char
        return value


# ----------------------------------------------------------------------------- character steps


def fast_replace_unicode_punct(text: str, replace: Any = replace_unicode_punct) -> str:
    """`replace(text)` (HF's `replace_unicode_punct`, or the 2019 script's), run only when the
    line holds one of the characters both rewrite."""
    if text.isascii() or not _UNICODE_PUNCT.search(text):
        return text
    return replace(text)


def fast_remove_non_printing_char(text: str, replacement: str | None = None) -> str:
    """`remove_non_printing_char`: each Unicode C* character dropped (HF) or made `replacement`
    (the 2019 script: a space), checking each distinct character once.

    Every C* character is non-printable, so a printable line is returned as it is.
    """
    if text.isprintable():
        return text
    table = {ord(c): replacement for c in set(text) if unicodedata.category(c)[0] == "C"}
    return text.translate(table) if table else text


def fast_lowercase_and_remove_accent(words: list[str]) -> list[str]:
    """`lowercase_and_remove_accent`: lower, NFD, drop combining marks (Mn), lower, split on " "."""
    text = " ".join(words).lower()
    if text.isascii():  # NFD and Mn removal do nothing to ASCII
        return text.split(" ")
    text = unicodedata.normalize("NFD", text)
    marks = {ord(c): None for c in set(text) if unicodedata.category(c) == "Mn"}
    if marks:
        text = text.translate(marks)
    return text.lower().split(" ")


# ----------------------------------------------------------------------------- Moses


class FastPunctNormalizer:
    """`sacremoses.MosesPunctNormalizer(lang).normalize` (``hf``) or the 2019 normalizer's
    (``xlm``, which keeps the line's edge blanks), with compiled, skippable substitutions."""

    def __init__(self, lang: str, preprocessing: str = "hf") -> None:
        if preprocessing == "xlm":
            reference = moses2019.punct_normalizer(lang)
        else:
            reference = sacremoses.MosesPunctNormalizer(lang=lang)
        if reference.pre_replace_unicode_punct or reference.post_remove_control_chars:
            raise ValueError("FastPunctNormalizer mirrors the default MosesPunctNormalizer only")
        self.strip = preprocessing != "xlm"
        self.rules = [_compiled_rule(p, r) for p, r in reference.substitutions]
        # rules whose trigger is not ASCII cannot match ASCII text, which stays ASCII under the
        # others as long as their replacements are ASCII
        self.ascii_rules = [rule for rule in self.rules if rule[0] is None or rule[0].isascii()]
        if not all(replacement.isascii() for _, _, replacement in self.ascii_rules):
            self.ascii_rules = self.rules

    def normalize(self, text: str) -> str:
        text = _apply(self.ascii_rules if text.isascii() else self.rules, text)
        return text.strip() if self.strip else text


class FastMosesTokenizer:
    """`sacremoses.MosesTokenizer(lang).tokenize(text, return_str=False, escape=False)`, faster;
    with ``xlm``, `moses2019.Tokenizer2019(lang).tokenize(text)` (on text the 2019 cleaning
    scripts produced: no control characters left).

    The steps are those of sacremoses' `tokenize` with its defaults (no aggressive dash split, no
    protected patterns, no escaping), in the same order, using the reference object's regexes
    and language data (CJK letters added for zh, French/Italian or English apostrophe rules); the
    2019 tokenizer adds the fi/sv colon rule, its own apostrophe rules, Perl's character classes
    and always splits the period off the last word.
    """

    def __init__(self, lang: str, preprocessing: str = "hf") -> None:
        xlm = preprocessing == "xlm"
        ref = moses2019.tokenizer(lang) if xlm else sacremoses.MosesTokenizer(lang=lang)
        self.ref = ref
        if ref.DEDUPLICATE_SPACE[0].pattern != r"\s+" or ref.DEDUPLICATE_SPACE[1] != " ":
            raise ValueError("FastMosesTokenizer expects sacremoses' DEDUPLICATE_SPACE to be \\s+ -> ' '")
        self.junk = ref.ASCII_JUNK
        self.pad_not_alnum = ref.PAD_NOT_ISALNUM
        pad_regex, pad_template = ref.PAD_NOT_ISALNUM
        # one character in a group: sacremoses' ([...]), or the 2019 one (moses2019.one_of)
        one_char = xlm or (pad_regex.pattern.startswith("([") and pad_regex.pattern.endswith("])"))
        self.padding = PaddingTable(pad_regex) if one_char and pad_template == r" \1 " else None
        self.commas = [_compiled_rule(p, r) for p, r in (ref.COMMA_SEPARATE_1, ref.COMMA_SEPARATE_2)]
        self.commas.append((",", *ref.COMMA_SEPARATE_3))
        self.colons = [(":", *rule) for rule in ref.COLON_SPLIT] if xlm else []
        if xlm:
            apostrophe = ref.APOSTROPHE_RULES
        elif lang == "en":
            apostrophe = ref.ENGLISH_SPECIFIC_APOSTROPHE
        elif lang in ("fr", "it"):
            apostrophe = ref.FR_IT_SPECIFIC_APOSTROPHE
        else:
            apostrophe = [ref.NON_SPECIFIC_APOSTROPHE]
        self.apostrophe = [("'", p, r) for p, r in apostrophe]
        self.trailing_dot_apostrophe = ref.TRAILING_DOT_APOSTROPHE
        if xlm:  # Perl's classes (Alphabetic; Lowercase, which is what str.islower tests)
            self.has_alpha, self.is_lower = moses2019.has_alphabetic, str.islower
        else:
            alpha, lower = frozenset(ref.IsAlpha), frozenset(ref.IsLower)
            self.has_alpha, self.is_lower = (lambda text: not alpha.isdisjoint(text)), lower.__contains__
        self.last_word_loses_period = xlm
        self.prefixes = frozenset(ref.NONBREAKING_PREFIXES)
        self.numeric_only = frozenset(ref.NUMERIC_ONLY_PREFIXES)

    def tokenize(self, text: str) -> list[str]:
        # `\s+` → " " then strip is " ".join(split()): both use str.isspace's whitespace
        text = " ".join(text.split())
        if not text.isprintable():  # [\000-\037] are all non-printable
            text = self.junk[0].sub(self.junk[1], text).strip()
        if self.padding is not None:
            text = text.translate(self.padding)
        else:  # pragma: no cover - a sacremoses with a different padding rule
            text = self.pad_not_alnum[0].sub(self.pad_not_alnum[1], text)
        text = _apply(self.colons, text)
        if ".." in text:
            text = self.ref.replace_multidots(text)
        text = _apply(self.commas, text)
        text = _apply(self.apostrophe, text)
        if "." in text:
            text = self.nonbreaking_prefixes(text)
        text = " ".join(text.split())
        if ".'" in text:
            text = self.trailing_dot_apostrophe[0].sub(self.trailing_dot_apostrophe[1], text)
        if "MULTI" in text:
            text = self.ref.restore_multidots(text)
        return text.split()

    def nonbreaking_prefixes(self, text: str) -> str:
        """`handles_nonbreaking_prefixes`: split "word." into "word ." unless the period is kept.

        The reference splits the line into tokens and looks at each; here a regex finds the tokens
        ending in a period, with the first character of the token after them. (The reference
        also joins tokens with single spaces; the next step does that for both.) Perl's 2019 loop
        also saw the empty words between two spaces, but such an empty word is always followed by
        a padded symbol, never by a lowercase letter, so the next non-empty word decides the same.
        """
        return _PERIOD_TOKEN.sub(self._period_token, text)

    def _period_token(self, match: re.Match) -> str:
        prefix, following = match.group(1), match.group(2)
        if following is None and self.last_word_loses_period:
            return prefix + " ."
        if (
            ("." in prefix and self.has_alpha(prefix))
            or (prefix in self.prefixes and prefix not in self.numeric_only)
            or (following is not None and self.is_lower(following))
        ):
            return match.group(0)
        if prefix in self.numeric_only and following is not None and following in "0123456789":
            return match.group(0)
        return prefix + " ."


@cache
def punct_normalizer(lang: str, preprocessing: str = "hf") -> FastPunctNormalizer:
    return FastPunctNormalizer(lang, preprocessing)


@cache
def moses_tokenizer(lang: str, preprocessing: str = "hf") -> FastMosesTokenizer:
    return FastMosesTokenizer(lang, preprocessing)


def fast_moses_pipeline(text: str, lang: str, preprocessing: str = "hf") -> str:
    """`XLMTokenizer.moses_pipeline` (``hf``) or `moses2019.moses_pipeline` (``xlm``): unicode
    punctuation, Moses normalisation, non-printing chars."""
    if preprocessing == "xlm":
        text = fast_replace_unicode_punct(text, moses2019.punct_normalizer(lang).replace_unicode_punct)
        text = punct_normalizer(lang, preprocessing).normalize(text)
        return fast_remove_non_printing_char(text, " ")
    text = fast_replace_unicode_punct(text)
    text = punct_normalizer(lang).normalize(text)
    return fast_remove_non_printing_char(text)


def fast_words(text: str, lang: str, preprocessing: str = "hf") -> list[str]:
    """Words before lowercasing and BPE (not ja): as `XLMTokenizer._tokenize` splits them
    (``hf``), or as `moses2019.words` (``xlm``: whitespace-free words, as the scripts printed)."""
    lang = rules_language(lang)
    if preprocessing == "xlm":
        if lang == "zh":
            import rjieba

            return fast_moses_pipeline(" ".join(rjieba.cut(text)), lang, preprocessing).split()
        text = fast_moses_pipeline(text, lang, preprocessing)
        if lang == "th":
            from pythainlp.tokenize import word_tokenize

            return " ".join(word_tokenize(text)).split()
        return moses_tokenizer(lang, preprocessing).tokenize(text)
    if lang == "zh":
        import rjieba

        return fast_moses_pipeline(" ".join(rjieba.cut(text)), lang).split()
    if lang == "th":
        from pythainlp.tokenize import word_tokenize

        return word_tokenize(fast_moses_pipeline(text, lang))
    text = fast_moses_pipeline(text, lang)
    if lang == "ro":
        text = romanian_preprocessing(text)
    return moses_tokenizer(lang).tokenize(text)
