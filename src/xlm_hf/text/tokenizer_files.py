"""Tokenizer directories: what an `XLMTokenizer` directory must hold, and loading one with one-line errors.

`XLMTokenizer.from_pretrained` on a directory missing ``merges.txt`` fails deep inside with
``TypeError: expected str, bytes or os.PathLike object, not NoneType``; a hub id that is not there
(or a hub that cannot be reached) fails with a network traceback. Both become a `ConfigError`
naming the recipe key, the directory and the missing file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from xlm_hf.errors import ConfigError, one_line

#: the files `XLMTokenizer` needs (``tokenizer_config.json`` is optional: defaults apply)
REQUIRED_FILES = ("vocab.json", "merges.txt")

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def looks_like_hub_id(name: str) -> bool:
    """``owner/name`` that is not a relative path (``./x``, ``../x``) or an absolute one."""
    return bool(_HUB_ID.fullmatch(name)) and not name.startswith((".", "/"))


def check_tokenizer_dir(path: str | Path, key: str) -> None:
    """`path` is a directory with every file `XLMTokenizer` needs, and its vocabulary parses."""
    path = Path(path)
    if not path.is_dir():
        what = "does not exist" if not path.exists() else "is not a directory"
        raise ConfigError(f"{key}: tokenizer directory {path} {what} (build one with `xlm-hf vocab`)")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ConfigError(
            f"{key}: tokenizer directory {path} has no {' and no '.join(missing)} "
            "(copy the whole directory, or rebuild it with `xlm-hf vocab`)"
        )
    try:
        json.loads((path / "vocab.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"{key}: {path / 'vocab.json'} is not a readable JSON vocabulary ({err})") from None


def load_tokenizer(path: str | Path, key: str):
    """`XLMTokenizer` of a checked local directory, or of a hub id (`from_pretrained` resolves it)."""
    from transformers import XLMTokenizer

    if Path(path).exists() or not looks_like_hub_id(str(path)):
        check_tokenizer_dir(path, key)
    try:
        return XLMTokenizer.from_pretrained(str(path))
    except (OSError, ValueError, TypeError) as err:
        raise ConfigError(f"{key}: cannot load a tokenizer from {path} ({one_line(err)})") from None


def fetch_hub_tokenizer(hub_id: str, local: Path, key: str) -> Path:
    """A hub tokenizer saved once into `local` (later runs reuse it without the network)."""
    if (local / "vocab.json").exists():
        check_tokenizer_dir(local, key)
        return local
    try:
        tokenizer = load_tokenizer(hub_id, key)
    except ConfigError:
        raise ConfigError(
            f"{key}: {hub_id} is not a local directory, and no hub tokenizer of that name could be "
            "loaded (offline, or no such repository); give the path of a tokenizer directory"
        ) from None
    tokenizer.save_pretrained(str(local))
    return local
