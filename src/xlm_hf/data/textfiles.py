"""How every text input is read: one reader, so corpora, vocabulary and XNLI files agree.

- UTF-8, strictly: an invalid byte stops the command with the file, line and column
  (``corpus.txt:1207: invalid UTF-8 ...``) instead of silently becoming U+FFFD.
- A byte-order mark at the start of the file is dropped.
- Only ``\\n`` ends a line and a ``\\r`` before it is dropped, so CRLF files read like LF files,
  while U+2028, form feeds or a lone ``\\r`` inside a sentence never split it (that would misalign
  parallel files).
- Lines come back as they are, blank ones included, so parallel files stay line-aligned; callers
  drop blank lines (:func:`is_blank`) themselves: mono and vocabulary lines one by one, parallel
  files pair by pair (a pair is dropped when either side is blank).
- Compressed files (gzip, bzip2, xz, and zstd when `zstandard` is installed) are recognised by
  their first bytes, whatever their name, and decompressed as they are read: a file is streamed
  line by line, never held whole. Archives and compressions we cannot read are named in the error.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from xlm_hf.errors import DataError

#: Characters a line may consist of and still be blank: every whitespace character, plus the
#: invisible ones that text normalisation deletes (BOM, zero-width space/joiners, word joiner).
#: (The whitespace list is every character whose `str.isspace()` is true, as of Unicode 15.)
BLANK_CHARS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
    "\ufeff\u200b\u200c\u200d\u2060"
)

#: First bytes of the compressed formats and archives a corpus may come in.
MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"PK\x03\x04", "zip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"\x04\x22\x4d\x18", "lz4"),
)
#: What to do with a file we cannot stream.
UNREADABLE = {
    "zip": "a zip archive: extract it (unzip) and give the text files",
    "7z": "a 7z archive: extract it (7z x) and give the text files",
    "lz4": "lz4-compressed: decompress it (lz4 -d), or recompress it with gzip, xz or zstd",
}
#: Characters read when a file is checked before any work (see `check_text_file`).
CHECK_CHARS = 1 << 16


def is_blank(line: str) -> bool:
    """True when `line` has nothing but whitespace and invisible characters (it would give no token)."""
    return not line.strip(BLANK_CHARS)


def compression(path: str | Path) -> str | None:
    """The compression or archive format of `path` from its first bytes, None for plain text."""
    with open(path, "rb") as f:
        head = f.read(8)
    return next((name for magic, name in MAGIC if head.startswith(magic)), None)


def _zstd_reader(raw: BinaryIO, path: str | Path) -> BinaryIO:
    try:
        import zstandard
    except ImportError:
        raise DataError(
            f"{path}: zstd-compressed, and the zstandard package is not installed "
            "(pip install zstandard, or decompress it: zstd -d)"
        ) from None
    return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True))


@contextmanager
def open_bytes(path: str | Path) -> Iterator[tuple[BinaryIO, BinaryIO]]:
    """(decompressed stream, raw file) of `path`; the raw file's position tells the progress."""
    with ExitStack() as stack:
        try:
            kind = compression(path)
            raw = stack.enter_context(open(path, "rb"))
        except OSError as err:
            raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
        if kind in UNREADABLE:
            raise DataError(f"{path}: {UNREADABLE[kind]}")
        if kind == "gzip":
            stream: BinaryIO = stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb"))
        elif kind == "bzip2":
            stream = stack.enter_context(bz2.BZ2File(raw, "rb"))
        elif kind == "xz":
            stream = stack.enter_context(lzma.LZMAFile(raw, "rb"))
        elif kind == "zstd":
            stream = stack.enter_context(_zstd_reader(raw, path))
        else:
            stream = raw
        yield stream, raw


def _decoded(data: bytes, path: str | Path, number: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        if number == 1 and data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise DataError(
                f"{path}: UTF-16 (byte-order mark 0x{data[0]:02x} 0x{data[1]:02x}), not UTF-8; "
                "convert it with `iconv -f utf-16 -t utf-8`"
            ) from None
        raise DataError(
            f"{path}:{number}: invalid UTF-8 (byte 0x{data[err.start]:02x} at byte {err.start + 1} of the line); "
            "convert the file to UTF-8, or drop the bad bytes with `iconv -f utf-8 -t utf-8 -c`"
        ) from None


def _corrupt(path: str | Path, err: BaseException) -> DataError:
    kind = compression(path) or "compressed"
    return DataError(
        f"{path}: the {kind} data is corrupt or cut short ({err}); download or compress it again"
    )


def iter_text_lines(path: str | Path, progress: Callable[[int], None] | None = None) -> Iterator[str]:
    """Lines of a UTF-8 text file, one at a time, without their terminators (see the module docstring).

    `progress`, when given, receives the bytes of the file (compressed bytes for a compressed
    file) read since its last call, every few thousand lines and at the end.
    """
    try:
        with open_bytes(path) as (stream, raw):
            number, reported = 0, 0
            for number, data in enumerate(stream, start=1):
                line = _decoded(data, path, number)
                if number == 1:
                    line = line.removeprefix("\ufeff")
                yield line.removesuffix("\n").removesuffix("\r")
                if progress is not None and number % 4096 == 0:
                    position = raw.tell()
                    progress(position - reported)
                    reported = position
            if progress is not None:
                progress(os.fstat(raw.fileno()).st_size - reported)
    except (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile) as err:
        raise _corrupt(path, err) from None
    except OSError as err:  # bz2 reports bad data as an OSError without an errno
        if err.errno is None:
            raise _corrupt(path, err) from None
        raise DataError(f"{path}: cannot read ({err.strerror or err})") from None
    except Exception as err:
        if type(err).__name__ == "ZstdError":
            raise _corrupt(path, err) from None
        raise


def read_text_lines(path: str | Path) -> list[str]:
    """Every line of a UTF-8 text file (see `iter_text_lines`)."""
    return list(iter_text_lines(path))


def non_blank(lines: Iterator[str]) -> Iterator[str]:
    """The stripped non-blank lines of `lines`, in order."""
    for line in lines:
        stripped = line.strip(BLANK_CHARS)
        if stripped:
            yield stripped


def non_blank_lines(paths: list[str] | list[Path]) -> list[str]:
    """The stripped non-blank lines of `paths`, in order (monolingual text, vocabulary input)."""
    return [line for path in paths for line in non_blank(iter_text_lines(path))]


@dataclass
class FileCheck:
    """What `check_text_file` saw: whether it read the whole file, and whether some line has
    text, and some character that tokenisation keeps (not a control or format character)."""

    whole: bool
    has_text: bool
    printable: bool
    lines: int


def check_text_file(path: str | Path) -> FileCheck:
    """Check `path` before any work, without reading it whole: it exists (a symbolic link that
    points nowhere is named as one), is a readable file in a format we can read, and its first
    lines (`CHECK_CHARS` characters) are valid UTF-8."""
    if os.path.islink(path) and not os.path.exists(path):
        raise DataError(
            f"{path}: a dangling symbolic link (it points to {os.readlink(path)}, which does not exist)"
        )
    if os.path.isdir(path):
        raise DataError(f"{path}: a directory, not a text file")
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    if not os.access(path, os.R_OK):
        raise DataError(f"{path}: cannot read (permission denied)")
    read = lines = 0
    has_text = printable = False
    for line in iter_text_lines(path):
        read, lines = read + len(line) + 1, lines + 1
        if not printable and not is_blank(line):
            has_text = True
            # tokenisation drops control and format characters (Unicode categories C*)
            printable = any(not unicodedata.category(c).startswith("C") and not c.isspace() for c in line)
        if read >= CHECK_CHARS:
            return FileCheck(False, has_text, printable, lines)
    return FileCheck(True, has_text, printable, lines)
