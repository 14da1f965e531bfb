"""How every text input is read: one function, so corpora, vocabulary and XNLI files agree.

- UTF-8, strictly: an invalid byte stops the command with the file, line and column
  (``corpus.txt:1207: invalid UTF-8 ...``) instead of silently becoming U+FFFD.
- A byte-order mark at the start of the file is dropped.
- Only ``\\n`` ends a line and a ``\\r`` before it is dropped, so CRLF files read like LF files,
  while U+2028, form feeds or a lone ``\\r`` inside a sentence never split it (that would misalign
  parallel files).
- Lines come back as they are, blank ones included, so parallel files stay line-aligned; callers
  drop blank lines (:func:`is_blank`) themselves: mono and vocabulary lines one by one, parallel
  files pair by pair (a pair is dropped when either side is blank).
"""

from __future__ import annotations

from pathlib import Path

from xlm_hf.errors import DataError

#: Characters a line may consist of and still be blank: every whitespace character, plus the
#: invisible ones that text normalisation deletes (BOM, zero-width space/joiners, word joiner).
#: (The whitespace list is every character whose `str.isspace()` is true, as of Unicode 15.)
BLANK_CHARS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
    "\ufeff\u200b\u200c\u200d\u2060"
)


def is_blank(line: str) -> bool:
    """True when `line` has nothing but whitespace and invisible characters (it would give no token)."""
    return not line.strip(BLANK_CHARS)


def read_text_lines(path: str | Path) -> list[str]:
    """Lines of a UTF-8 text file without their terminators (see the module docstring)."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - data.rfind(b"\n", 0, err.start)
        raise DataError(
            f"{path}:{line}: invalid UTF-8 (byte 0x{data[err.start]:02x} at byte {column} of the line); "
            "convert the file to UTF-8, or drop the bad bytes with `iconv -f utf-8 -t utf-8 -c`"
        ) from None
    lines = text.removeprefix("\ufeff").split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def non_blank_lines(paths: list[str] | list[Path]) -> list[str]:
    """The stripped non-blank lines of `paths`, in order (monolingual text, vocabulary input)."""
    out: list[str] = []
    for path in paths:
        out += [s for s in (line.strip(BLANK_CHARS) for line in read_text_lines(path)) if s]
    return out
