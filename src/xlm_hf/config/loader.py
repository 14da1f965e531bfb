"""Reading recipes: YAML sections, ``${VAR}`` interpolation, command-line overrides, typed coercion.

A recipe file has one mapping per section (``vocab``, ``data``, ``model``, ``training``, ``xnli``,
``study``). Every value is checked against the section dataclass's type hint; unknown keys, wrong
types and impossible values raise :class:`ConfigError` with one line naming the key. Strings may
use ``${VAR}`` or ``${VAR:-default}`` (environment variables, plus ``XLM_HF_SAMPLE``: the embedded
sample corpus), which is how ``make ... DATA_DIR=...`` reaches a recipe.

This module needs only yaml: the sections themselves live in `xlm_hf.config.sections`, the training
sections (transformers' `TrainingArguments`) in `xlm_hf.config.training_args`.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from xlm_hf import SAMPLE_DIR
from xlm_hf.errors import ConfigError

# innermost first: a default may itself hold ${...}, resolved on an earlier pass
_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-((?:(?!\$\{)[^}])*))?\}")


def interpolate(value: str, key: str) -> str:
    """Replace ``${VAR}`` / ``${VAR:-default}`` from the environment (innermost first)."""
    env = {"XLM_HF_SAMPLE": str(SAMPLE_DIR), **os.environ}

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if env.get(name):
            return env[name]
        if default is not None:
            return default
        raise ConfigError(f"{key}: environment variable {name} is not set (used as ${{{name}}})")

    for _ in range(10):  # nested defaults such as ${XNLI_DIR:-${DATA_DIR}/xnli}
        new = _ENV_PATTERN.sub(repl, value)
        if new == value:
            break
        value = new
    return value


def read_recipe_file(path: str | os.PathLike | None) -> dict[str, Any]:
    """The YAML mapping of a recipe (empty without a path)."""
    if path is None:
        return {}
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"--config: {path} is a directory; give a recipe file (e.g. {path}/<name>.yaml)")
    if not path.is_file():
        raise ConfigError(f"--config: recipe file {path} does not exist")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"--config: cannot read {path} ({err.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not valid UTF-8 (byte {data[err.start]:#04x}); save the recipe as UTF-8"
        ) from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f":{where.line + 1}" if where is not None else ""
        raise ConfigError(f"{path}{line}: invalid YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping of sections")
    return raw


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """``section.key=value``, ``--section.key=value`` or ``--section.key value`` → {"section.key": value}.

    Values are read as YAML, so ``[en, fr]``, ``true`` and ``1e-4`` mean what they look like. A key
    may go deeper into a mapping: ``data.mono.en=corpora/en/*.txt`` sets one language of
    ``data.mono``, ``data.para.en-fr='[a.en, a.fr]'`` one pair.
    """
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        arg = args[i].removeprefix("--")
        if "=" in arg:
            key, text = arg.split("=", 1)
        elif i + 1 < len(args):
            key, text = arg, args[i + 1]
            i += 1
        else:
            raise ConfigError(f"{arg}: override has no value (use {arg}=VALUE)")
        if "." not in key or "" in key.split("."):
            raise ConfigError(f"{key}: overrides are section.key=value (e.g. training.max_steps=10)")
        try:
            out[key] = yaml.safe_load(text) if text != "" else ""
        except yaml.YAMLError:
            out[key] = text
        i += 1
    return out


def merge_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`raw` with every dotted override set, creating the mappings a nested key goes through."""
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for dotted, value in overrides.items():
        *parents, last = dotted.split(".")
        node = merged
        for depth, name in enumerate(parents):
            child = node.get(name)
            if child is None:
                child = node[name] = {}
            elif isinstance(child, dict):
                child = node[name] = dict(child)  # never edit the recipe's own mapping
            else:
                where = ".".join(parents[: depth + 1])
                raise ConfigError(f"{dotted}: {where} is {child!r}, not a mapping of keys")
            node = child
        node[last] = value
    return merged


def build_section(cls: type, values: Any, name: str) -> Any:
    """Instantiate dataclass `cls` from a mapping, checking keys and types; errors name the key."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{name}: must be a mapping of keys to values")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"{name}.{key}: unknown key for section '{name}'")
        kwargs[key] = coerce(_interpolate_all(value, f"{name}.{key}"), hints.get(key, Any), f"{name}.{key}")
    missing = [
        k
        for k, f in known.items()
        if k not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{name}.{missing[0]}: required key is missing")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as err:
        message = " ".join(str(err).split())
        raise ConfigError(f"{name}: {message}") from None


def load_sections(
    path: str | os.PathLike | None,
    overrides: list[str] | dict[str, Any],
    sections: dict[str, type],
    optional: tuple[str, ...] = (),
    ignore: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Read a recipe, apply overrides and build each section; a missing optional section is None.

    Sections named in `ignore` may be present and are left to the command that owns them.
    """
    raw = read_recipe_file(path)
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    merged = merge_overrides(raw, overrides)
    for name in merged:
        if name not in sections and name not in ignore:
            raise ConfigError(f"{name}: unknown section (expected {', '.join(sections)})")
    return {
        name: None if name in optional and name not in merged else build_section(cls, merged.get(name), name)
        for name, cls in sections.items()
    }


# ----------------------------------------------------------------------------- type checks


def _interpolate_all(value: Any, key: str) -> Any:
    if isinstance(value, str):
        return interpolate(value, key)
    if isinstance(value, list):
        return [_interpolate_all(v, key) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate_all(v, key) for k, v in value.items()}
    return value


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against type hint `tp`; convert only where YAML is ambiguous (``1e-4`` → float)."""
    origin = typing.get_origin(tp)
    if tp is Any or tp is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(f"{key}: must not be null")
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(value, arg, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: {value!r} is not {_type_name(tp)}")
    if origin is Literal:
        if isinstance(value, bool) and _yaml_word(value) in typing.get_args(tp):
            return _yaml_word(value)
        if value in typing.get_args(tp):
            return value
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, typing.get_args(tp)))}")
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)[:1] or (Any,)
        return [coerce(v, item, key) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        kt, vt = typing.get_args(tp) or (Any, Any)
        return {coerce(k, kt, key): coerce(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, bool):  # YAML reads an unquoted `no` as false: eval_strategy=no means "no"
            return _yaml_word(value)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if dataclasses.is_dataclass(tp):  # a nested section, such as study.twin
        return build_section(tp, value, key)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            choices = ", ".join(str(m.value) for m in tp)
            raise ConfigError(f"{key}: {value!r} is not one of {choices}") from None
    return value  # types the recipe layer does not check (passed to their owner, which validates)


def _yaml_word(value: bool) -> str:
    return "yes" if value else "no"


def _type_name(tp: Any) -> str:
    return " or ".join(getattr(a, "__name__", str(a)) for a in typing.get_args(tp) if a is not type(None))
