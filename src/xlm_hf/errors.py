"""The one error mechanism: problems with a recipe or an input file end a command with one line.

`XlmHfError` and its two kinds are what the CLI catches: it prints the message on one line and
exits with status 2 (``--debug`` adds the traceback). Errors raised deep inside datasets,
transformers or Python's codecs are converted to one of these where our code calls them, so the
message can name the recipe key or the file and line.
"""

from __future__ import annotations


class XlmHfError(ValueError):
    """A problem the user can fix: reported as one line, exit status 2."""


class ConfigError(XlmHfError):
    """A recipe problem, reported as one line that names the key (``data.languages: ...``)."""


class DataError(XlmHfError):
    """A bad input file, reported as one line that names the file and line (``corpus.txt:12: ...``)."""


def one_line(message: object) -> str:
    """`message` with any line breaks folded into spaces."""
    return " ".join(str(message).splitlines())
