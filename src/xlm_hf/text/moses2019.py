"""The original XLM pre-processing: ``tools/tokenize.sh`` over Perl Moses as of 2019-01-17, in Python.

XLM prepared every language with four Moses scripts of commit 49b388a (replace-unicode-punctuation,
normalize-punctuation ``-l lang``, remove-non-printing-char, tokenizer ``-no-escape -l lang``;
PyThaiNLP instead of the tokenizer for th, KyTea for ja, the Stanford segmenter before the scripts
for zh), then ``tools/lowercase_and_remove_accent.py``. sacremoses ports a later Moses and makes
choices of its own, so `XLMTokenizer` splits some lines differently from the text the published
XLM vocabularies were learned on. The classes here are sacremoses' with only those rules replaced:

- punctuation: ‘ and ‚ become ``"``; French quotes between no-break spaces keep a space outside;
  the quote-before-period rule applies to every language but en and cs (sacremoses: de, es, fr
  only) and also at the end of a line, where the Perl regex matched the line's newline;
  ``\\d`` is ASCII (the script worked on bytes); ``１`` became ``"`` and ``。 *`` ate spaces only;
- non-printing characters (Unicode C*) become a space, where sacremoses deletes them;
- tokenizer: Perl's own Unicode classes (Alphabetic, Lowercase, N; sacremoses' lists are older
  and count Indic viramas and nuktas as letters, which Perl splits off: "प्रदेश" → "प ् रदेश",
  after which accent removal deletes the virama); the last word of a line always loses its final
  period; the nonbreaking prefix lists and the way Perl read them (a blank after an entry is part
  of it); the fi/sv colon rule and the ga/so apostrophe rules sacremoses leaves out.

Words are the whitespace-separated tokens the scripts printed. zh is segmented by rjieba, as in
`XLMTokenizer` (the Stanford segmenter is not reproduced), then normalised as above.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import unicodedata
from functools import cache
from itertools import repeat

import sacremoses

from xlm_hf.text.moses2019_data import OTHER_ALPHABETIC, PREFIXES_2019, SACREMOSES_PREFIX_DIGESTS

MOSES_COMMIT = "49b388ac79107d96b70255d59ce556e37d6b89ad"

# ----------------------------------------------------------------------------- Perl's Unicode classes

_OTHER_ALPHABETIC_STARTS = [first for first, _ in OTHER_ALPHABETIC]

#: Perl's ``\s`` on a decoded line (Python's ``\s`` also matches U+001C-U+001F, which Perl deletes).
PERL_SPACES = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def is_alphabetic(char: str) -> bool:
    """Perl's ``\\p{IsAlpha}``: Unicode's Alphabetic property (letters, Nl, Other_Alphabetic)."""
    category = unicodedata.category(char)
    if category[0] == "L" or category == "Nl":
        return True
    code = ord(char)
    i = bisect.bisect_right(_OTHER_ALPHABETIC_STARTS, code) - 1
    return i >= 0 and code <= OTHER_ALPHABETIC[i][1]


def has_alphabetic(text: str) -> bool:
    return any(map(is_alphabetic, text))


# one letter per code point: which of Perl's classes it is in (Ll, other Alphabetic, Nl, Nd, No)
_CLASS_LETTERS = {"Ll": "a", "Lu": "b", "Lt": "b", "Lm": "b", "Lo": "b", "Nl": "c", "Nd": "d", "No": "e"}
_CLASS_MEMBERS = {"Alpha": "abc", "Alnum": "abcd", "N": "cde", "Ll": "a"}


@cache
def _code_point_letters() -> str:
    letters = list(map(_CLASS_LETTERS.get, map(unicodedata.category, map(chr, range(0x110000))), repeat("x")))
    for first, last in OTHER_ALPHABETIC:  # marks and symbols (categories M*, So): "x" so far
        letters[first : last + 1] = "b" * (last - first + 1)
    return "".join(letters)


def _ranges(members: str, start: int, stop: int) -> str:
    """Class syntax for the runs of code points in [start, stop) that are in the class `members`."""
    runs = re.finditer(f"[{members}]+", _code_point_letters()[start:stop])
    return "".join(
        re.escape(chr(start + run.start()))
        + (f"-{re.escape(chr(start + run.end() - 1))}" if run.end() - run.start() > 1 else "")
        for run in runs
    )


@cache
def _class_parts(name: str) -> tuple[str, str]:
    """(BMP, astral) class syntax of Perl's class `name` (Alpha, Alnum, N or Ll)."""
    members = _CLASS_MEMBERS[name]
    return _ranges(members, 0, 0x10000), _ranges(members, 0x10000, 0x110000)


def perl_class(name: str) -> str:
    r"""The inside of a `re` character class equal to Perl's ``\p{IsAlpha}``, ``\p{IsAlnum}``
    (Alphabetic or Nd), ``\p{IsN}`` or ``\p{Ll}`` (`name`: Alpha, Alnum, N or Ll), as ranges.

    Built from one pass over every code point, once per process (under a second). Python's
    ``str.islower`` already is Perl's ``\p{IsLower}`` (Unicode's Lowercase property).
    """
    return "".join(_class_parts(name))


_ASTRAL = "\U00010000-\U0010ffff"


def one_of(*names: str, extra: str = "", negate: bool = False) -> str:
    """A regex for one character in Perl's classes `names` or the (BMP) class items `extra`: what
    ``[...]`` (``[^...]`` with `negate`) of them would match, only faster.

    `re` tests a class's BMP characters with one bitmap but its astral ranges one by one (about
    300 for Alphabetic), which made every character a line was scanned for ten times slower.
    Astral characters therefore get their own branch, tried only for an astral character.
    """
    bmp = "".join(_class_parts(name)[0] for name in names) + extra
    astral = "".join(_class_parts(name)[1] for name in names)
    if negate:
        return f"(?:[^{bmp}{_ASTRAL}]|(?=[{_ASTRAL}])(?![{astral}]).)" if astral else f"[^{bmp}]"
    return f"(?:[{bmp}]|(?=[{_ASTRAL}])[{astral}])" if astral else f"[{bmp}]"


# ----------------------------------------------------------------------------- the three cleaning scripts


#: sacremoses pattern -> the 2019 rule, where they differ (replace-unicode-punctuation.perl)
UNICODE_PUNCTUATION_2019 = {
    r"。\s*": ("。 *", ". "),  # spaces only: the script matched bytes
    r"．\s*": ("． *", ". "),
    "１": ("１", '"'),  # a slip in the script, kept in XLM's data
}

#: sacremoses pattern -> the 2019 rule, where they differ (normalize-punctuation.perl)
NORMALIZE_PUNCTUATION_2019 = {
    r"(\d) %": (r"([0-9]) %", r"\g<1>%"),  # \d on bytes is ASCII
    "‘": ("‘", '"'),
    "‚": ("‚", '"'),
    "’": ("’", '"'),
    "\u00a0«\u00a0": ("\u00a0«\u00a0", ' "'),
    "\u00a0»\u00a0": ("\u00a0»\u00a0", '" '),
}


class PunctNormalizer2019(sacremoses.MosesPunctNormalizer):
    """replace-unicode-punctuation.perl and normalize-punctuation.perl ``-l lang`` of 2019.

    `normalize` keeps the blanks at the ends of the line, as the script did (the tokenizer strips
    them; PyThaiNLP sees them).
    """

    REPLACE_UNICODE_PUNCTUATION = [
        UNICODE_PUNCTUATION_2019.get(pattern, (pattern, replacement))
        for pattern, replacement in sacremoses.MosesPunctNormalizer.REPLACE_UNICODE_PUNCTUATION
    ]
    #: "quotation", followed by comma: everywhere but en (its own rule) and cs/cz (none). The
    #: script saw the line with its newline, which `[^<]` matched: hence `|$` at the end of the text.
    QUOTATION_FOLLOWED_BY_COMMA = [(r',"', r'",'), (r'(\.+)"(\s*[^<]|$)', r'"\g<1>\g<2>')]

    def __init__(self, lang: str = "en") -> None:
        super().__init__(lang=lang, norm_quote_commas=False, norm_numbers=False)
        rules = [NORMALIZE_PUNCTUATION_2019.get(p, (p, r)) for p, r in self.substitutions]
        if lang == "en":
            rules += self.EN_QUOTATION_FOLLOWED_BY_COMMA
        elif lang not in ("cs", "cz"):
            rules += self.QUOTATION_FOLLOWED_BY_COMMA
        separator = "," if lang in ("de", "es", "cz", "cs", "fr") else "."
        rules.append(("([0-9])\u00a0([0-9])", rf"\g<1>{separator}\g<2>"))
        self.substitutions = rules

    def normalize(self, text: str) -> str:
        for pattern, replacement in self.substitutions:
            text = re.sub(pattern, replacement, text)
        return text


def remove_non_printing_char(text: str) -> str:
    """remove-non-printing-char.perl: every Unicode C* character becomes a space."""
    return "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)


@cache
def punct_normalizer(lang: str) -> PunctNormalizer2019:
    return PunctNormalizer2019(lang)


def moses_pipeline(text: str, lang: str) -> str:
    """The three cleaning scripts of tools/tokenize.sh on one line."""
    normalizer = punct_normalizer(lang)
    text = normalizer.replace_unicode_punct(text)
    return remove_non_printing_char(normalizer.normalize(text))


# ----------------------------------------------------------------------------- tokenizer.perl


def perl_prefix_table(entries: list[str]) -> dict[str, int]:
    """Prefix -> 1 (keeps its period) or 2 (keeps it before a number), as tokenizer.perl read a file.

    Perl kept an entry as written (a trailing blank is part of it, so "Fil " never matches),
    skipped "" and "0" (false in Perl) and lines opening with "#", and a later line wins.
    """
    table = {}
    for item in entries:
        if item and item != "0" and item[0] != "#":
            numeric = re.search(r"(.*)\s+#NUMERIC_ONLY#", item)
            table[numeric.group(1) if numeric else item] = 2 if numeric else 1
    return table


def sacremoses_prefix_file(lang: str) -> str:
    """The text of sacremoses' bundled nonbreaking_prefix.<lang> (a module from 0.2, files before)."""
    name = f"nonbreaking_prefix.{lang}"
    try:
        from sacremoses._data_nonbreaking_prefixes import NONBREAKING_PREFIXES

        return NONBREAKING_PREFIXES[name]
    except ImportError:  # sacremoses < 0.2
        from importlib.resources import files

        return (files("sacremoses") / "data" / "nonbreaking_prefixes" / name).read_text(encoding="utf-8")


@cache
def nonbreaking_prefixes(lang: str) -> dict[str, int]:
    """The 2019 prefix table of `lang`; languages without a 2019 list used the English one."""
    if lang not in PREFIXES_2019 and lang not in SACREMOSES_PREFIX_DIGESTS:
        lang = "en"
    if lang in PREFIXES_2019:
        return perl_prefix_table(list(PREFIXES_2019[lang]))
    text = sacremoses_prefix_file(lang)
    if hashlib.sha256(text.encode()).hexdigest()[:16] != SACREMOSES_PREFIX_DIGESTS[lang]:
        raise RuntimeError(
            f"sacremoses' nonbreaking_prefix.{lang} is no longer the list of Moses {MOSES_COMMIT[:7]}: "
            "the xlm pre-processing would drift (pin sacremoses or add the 2019 list to moses2019_data)"
        )
    return perl_prefix_table(text.split("\n"))


class Tokenizer2019(sacremoses.MosesTokenizer):
    """tokenizer.perl ``-no-escape -l lang`` of 2019 (no aggressive hyphens, no protected patterns).

    The rules sacremoses has the same are inherited (multi-dots, the trailing ``.'``); those built
    on character classes are rebuilt on Perl's classes.
    """

    def __init__(self, lang: str = "en") -> None:
        super().__init__(lang=lang)
        self.PERL_SPACE = re.compile(f"[{PERL_SPACES}]+"), " "
        # fi, sv: a colon inside a word works like an apostrophe (USA:n), unless no lowercase follows
        colon = r"\:" if lang in ("fi", "sv") else ""
        pad = one_of("Alnum", extra=rf"\s\.{colon}\'\`\,\-", negate=True)  # one character
        self.PAD_NOT_ISALNUM = re.compile(f"({pad})"), r" \1 "
        self.COLON_SPLIT = [(re.compile(rf"(:)(?=$|{one_of('Ll', negate=True)})"), r" \1 ")] if colon else []
        not_number, number = one_of("N", negate=True), one_of("N")
        self.COMMA_SEPARATE_1 = re.compile(rf"({not_number})[,]"), r"\1 , "
        self.COMMA_SEPARATE_2 = re.compile(rf"[,]({not_number})"), r" , \1"
        self.COMMA_SEPARATE_3 = re.compile(rf"({number})[,]$"), r"\1 ,"
        self.APOSTROPHE_RULES = self.apostrophe_rules(lang)
        table = nonbreaking_prefixes(lang)
        self.NONBREAKING_PREFIXES = [prefix for prefix, kind in table.items() if kind == 1]
        self.NUMERIC_ONLY_PREFIXES = [prefix for prefix, kind in table.items() if kind == 2]
        self._prefix_kind = table

    @staticmethod
    def apostrophe_rules(lang: str) -> list[tuple[re.Pattern, str]]:
        """en splits contractions to the right (it 's), fr/it/ga to the left (l' homme), so keeps
        glottal stops inside words, every other language pads every apostrophe."""
        alpha, not_alpha = one_of("Alpha"), one_of("Alpha", negate=True)
        if lang == "en":
            rules = [
                (rf"({not_alpha})[']({not_alpha})", r"\1 ' \2"),
                (rf"({one_of('Alpha', 'N', negate=True)})[']({alpha})", r"\1 ' \2"),
                (rf"({alpha})[']({not_alpha})", r"\1 ' \2"),
                (rf"({alpha})[']({alpha})", r"\1 '\2"),
                (rf"({one_of('N')})[']([s])", r"\1 '\2"),
            ]
        elif lang in ("fr", "it", "ga", "so"):
            rules = [
                (rf"({not_alpha})[']({not_alpha})", r"\1 ' \2"),
                (rf"({not_alpha})[']({alpha})", r"\1 ' \2"),
                (rf"({alpha})[']({not_alpha})", r"\1 ' \2"),
            ]
            if lang != "so":
                rules.append((rf"({alpha})[']({alpha})", r"\1' \2"))
        else:
            rules = [(r"\'", " ' ")]
        return [(re.compile(pattern), replacement) for pattern, replacement in rules]

    def keeps_period(self, prefix: str, following: str) -> bool:
        """Whether "prefix." followed by the word `following` keeps its period (not the last word)."""
        kind = self._prefix_kind.get(prefix)
        if ("." in prefix and has_alphabetic(prefix)) or kind == 1 or following[:1].islower():
            return True
        return kind == 2 and following[:1] != "" and following[0] in "0123456789"

    def handles_nonbreaking_prefixes(self, text: str) -> str:
        """Split the period off every "word." unless it is kept; the last word always loses it."""
        words = text.split(" ")  # Perl's split(/\s/): empty fields stay, trailing ones go
        while words and not words[-1]:
            words.pop()
        last = len(words) - 1
        for i, word in enumerate(words):
            if len(word) > 1 and word.endswith("."):
                prefix = word[:-1]
                if i == last or not self.keeps_period(prefix, words[i + 1]):
                    words[i] = prefix + " ."
        return " ".join(words)

    def tokenize(self, text: str) -> list[str]:  # type: ignore[override]
        """The words tokenizer.perl prints for one line."""
        text = self.PERL_SPACE[0].sub(" ", text)
        text = self.ASCII_JUNK[0].sub("", text)
        text = re.sub(" +", " ", text).strip(" ")
        for regex, replacement in [self.PAD_NOT_ISALNUM, *self.COLON_SPLIT]:
            text = regex.sub(replacement, text)
        text = self.replace_multidots(text)
        for regex, replacement in [self.COMMA_SEPARATE_1, self.COMMA_SEPARATE_2, self.COMMA_SEPARATE_3]:
            text = regex.sub(replacement, text)
        for regex, replacement in self.APOSTROPHE_RULES:
            text = regex.sub(replacement, text)
        text = self.handles_nonbreaking_prefixes(text)
        text = re.sub(" +", " ", text).strip(" ")
        text = self.TRAILING_DOT_APOSTROPHE[0].sub(self.TRAILING_DOT_APOSTROPHE[1], text)
        return self.restore_multidots(text).split()


@cache
def tokenizer(lang: str) -> Tokenizer2019:
    return Tokenizer2019(lang)


# ----------------------------------------------------------------------------- tools/tokenize.sh


def words(text: str, lang: str) -> list[str]:
    """The words tools/tokenize.sh prints for one line of `lang` (before lowercasing)."""
    if lang == "zh":
        import rjieba

        return moses_pipeline(" ".join(rjieba.cut(text)), lang).split()
    text = moses_pipeline(text, lang)
    if lang == "th":
        from pythainlp.tokenize import word_tokenize

        return " ".join(word_tokenize(text)).split()
    if lang == "ja":
        return " ".join(kytea_words(text)).split()
    return tokenizer(lang).tokenize(text)


def lowercase_and_remove_accent(line: str) -> str:
    """tools/lowercase_and_remove_accent.py on one line: lower, NFD, drop marks (Mn), lower."""
    line = unicodedata.normalize("NFD", line.lower())
    return "".join(c for c in line if unicodedata.category(c) != "Mn").lower()


def kytea_words(text: str) -> list[str]:
    """Japanese words by KyTea, as `XLMTokenizer` segments them (needs Mykytea and its model)."""
    try:
        import Mykytea
    except ImportError:
        raise ImportError("ja text needs KyTea and its Python wrapper (pip install kytea)") from None
    import os

    return list(Mykytea.Mykytea(f"-model {os.path.expanduser('~')}/local/share/kytea/model.bin").getWS(text))
