"""Typed recipes: YAML of dataclass fields, command-line overrides, validation before any work.

A recipe file has one mapping per section (``vocab``, ``data``, ``model``, ``training``, ``xnli``).
Every value is checked against the field's type hint; unknown keys, wrong types and impossible
values raise :class:`ConfigError` with one line naming the key. Strings may use ``${VAR}`` or
``${VAR:-default}`` (environment variables, plus ``XLM_HF_SAMPLE``: the embedded sample corpus),
which is how ``make ... DATA_DIR=...`` reaches a recipe.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from xlm_hf import SAMPLE_DIR
from xlm_hf.errors import ConfigError  # defined with the other user errors; imported from here too

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- sections


@dataclass
class VocabConfig:
    """Learn a joint BPE vocabulary the XLM way (``xlm-hf vocab``)."""

    languages: list[str]
    output_dir: str
    data_dir: str | None = None  # DIR/mono/<lang>.txt (+ DIR/para/*.<lang> when use_parallel)
    # lang -> a file, a glob or a list of them (what data.mono takes)
    files: dict[str, str | list[str]] = field(default_factory=dict)
    use_parallel: bool = True  # also learn from the <lang> side of DIR/para/*
    vocab_size: int = 10000  # specials + learned BPE tokens (XNLI-15: 95k); characters of the corpus
    # that the sampled sentences missed are added on top, so no character becomes <unk>
    alpha: float = 0.5  # p_lang ∝ n_lang^alpha when sampling training sentences
    sentences_per_language: int = 100000  # mean sentences per language drawn for learning merges
    min_frequency: int = 2
    lowercase_and_remove_accent: bool = True
    valid_fraction: float = 0.0  # lines held out from learning (to measure the unknown rate)
    num_proc: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        _require(self.languages, "vocab.languages", "must list at least one language")
        _require(len(set(self.languages)) == len(self.languages), "vocab.languages", "has duplicates")
        _require(self.vocab_size > 14, "vocab.vocab_size", "must be larger than the 14 special tokens")
        _require(self.alpha > 0, "vocab.alpha", "must be > 0")
        _require(self.sentences_per_language > 0, "vocab.sentences_per_language", "must be > 0")
        _require(0 <= self.valid_fraction < 1, "vocab.valid_fraction", "must be in [0, 1)")
        _require(self.num_proc >= 1, "vocab.num_proc", "must be >= 1")
        _require(self.min_frequency >= 0, "vocab.min_frequency", "must be >= 0")
        _require(self.data_dir is not None or bool(self.files), "vocab.data_dir", "give data_dir or files")


OBJECTIVES = ("mlm", "clm", "tlm")


@dataclass
class DataConfig:
    """Pretraining corpora, streams, TLM pairs, sampling and masking."""

    languages: list[str]
    objectives: list[str] = field(default_factory=lambda: ["mlm"])
    data_dir: str | None = None  # DIR/mono/<lang>.txt and DIR/para/<l1>-<l2>.<lang>
    # lang -> a file, a glob, a list of them, or hf:<name>[:<config>]; mono_valid: the same for
    # validation (else lines are held out)
    mono: dict[str, str | list[str]] = field(default_factory=dict)
    mono_valid: dict[str, str | list[str]] = field(default_factory=dict)
    para: dict[str, list[str]] = field(default_factory=dict)  # "en-fr" -> [en file, fr file] or [hf:...]
    tlm_pairs: list[str] | None = None  # default: every pair found among `languages`
    text_column: str = "text"  # column of hub datasets (parallel hub datasets: `translation`)
    max_seq_length: int = 256  # stream block size (bptt)
    # cap on training lines per language / pair (every line is read, as the seeded hold-out is
    # drawn from all of them; only the lines kept are tokenised)
    max_lines_per_language: int | None = None
    valid_size: float = 0.05  # held-out lines: a fraction (< 1) or a count (>= 1) ...
    max_valid_lines: int = 5000  # ... never more than this many per language / pair
    tlm_max_len: int = 100  # longest sentence (tokens) of a TLM pair
    tlm_long_pairs: Literal["drop", "truncate"] = "drop"
    tlm_tokens_per_batch: int | None = None  # TLM batches of similar length up to this many tokens per device
    lang_sampling_alpha: float | Literal["uniform"] = 0.7  # p ∝ n^alpha over (objective, language)
    mlm_probability: float = 0.15
    mask_replace_prob: float = 0.8
    random_replace_prob: float = 0.1
    sample_alpha: float = 0.0  # > 0: targets drawn with weight count^-alpha (rare subwords more often)
    # tokenising processes, sharing each language's lines in chunks; default: one per core (<= 8)
    # and per 2 MB of text to tokenise
    num_proc: int | None = None
    fast_tokenizer: bool = True  # exact fast pre-processing (fast_text.py); false: XLMTokenizer itself
    cache_dir: str | None = None  # the token store; default $XLM_HF_CACHE or ~/.cache/xlm_hf

    def __post_init__(self) -> None:
        _require(self.languages, "data.languages", "must list at least one language")
        _require(len(set(self.languages)) == len(self.languages), "data.languages", "has duplicates")
        _require(self.objectives, "data.objectives", "must list at least one of mlm, clm, tlm")
        for obj in self.objectives:
            _require(obj in OBJECTIVES, "data.objectives", f"unknown objective {obj!r} (use mlm, clm, tlm)")
        _require(self.max_seq_length >= 8, "data.max_seq_length", "must be >= 8")
        _require(self.valid_size > 0, "data.valid_size", "must be > 0")
        _require(self.max_valid_lines >= 1, "data.max_valid_lines", "must be >= 1")
        for name in ("max_lines_per_language", "tlm_tokens_per_batch"):
            _require(getattr(self, name) is None or getattr(self, name) >= 1, f"data.{name}", "must be >= 1")
        _require(self.tlm_max_len >= 1, "data.tlm_max_len", "must be >= 1")
        if isinstance(self.lang_sampling_alpha, float):
            _require(self.lang_sampling_alpha > 0, "data.lang_sampling_alpha", "must be > 0 or 'uniform'")
        _require(0 < self.mlm_probability < 1, "data.mlm_probability", "must be in (0, 1)")
        _require(
            self.mask_replace_prob >= 0
            and self.random_replace_prob >= 0
            and self.mask_replace_prob + self.random_replace_prob <= 1,
            "data.mask_replace_prob",
            "mask_replace_prob + random_replace_prob must be in [0, 1]",
        )
        _require(self.sample_alpha >= 0, "data.sample_alpha", "must be >= 0")
        _require(self.num_proc is None or self.num_proc >= 1, "data.num_proc", "must be >= 1")
        for pair in list(self.para) + list(self.tlm_pairs or []):
            _require(_is_pair(pair), "data.para", f"pair {pair!r} must look like 'en-fr'")
        for pair in self.tlm_pairs or []:
            l1, l2 = pair.split("-")
            _require(
                l1 in self.languages and l2 in self.languages,
                "data.tlm_pairs",
                f"{pair!r} uses a language not in data.languages",
            )
        for lang in list(self.mono) + list(self.mono_valid):
            _require(lang in self.languages, "data.mono", f"language {lang!r} is not in data.languages")
        needs_mono = any(o in ("mlm", "clm") for o in self.objectives)
        if needs_mono and self.data_dir is None:
            missing = [lang for lang in self.languages if lang not in self.mono]
            _require(
                not missing, "data.mono", f"no text for {missing}: add them to data.mono or set data.data_dir"
            )
        _require(
            "tlm" not in self.objectives or self.data_dir is not None or bool(self.para),
            "data.para",
            "tlm needs data_dir or data.para",
        )


@dataclass
class ModelConfig:
    """An XLM model: new from these fields, or continued from `model_name_or_path`."""

    tokenizer: str | None = None  # tokenizer dir; default: vocab.output_dir
    model_name_or_path: str | None = None  # continue from an HF XLM directory (languages must match)
    emb_dim: int = 1024
    n_layers: int = 12
    n_heads: int = 8
    dropout: float = 0.1
    attention_dropout: float = 0.1
    gelu_activation: bool = True
    max_position_embeddings: int = 512
    use_lang_emb: bool = True
    sinusoidal_embeddings: bool = False
    causal: bool = False  # saved in config.json: True for a CLM-only model
    attention: Literal["eager", "sdpa"] = "eager"  # sdpa: fused attention kernel (same weights and loss)
    # which code runs a training step's forward and backward: xlm_hf's (`fast_training`: faster,
    # fewer activations), HF's, or auto: xlm_hf's on CPU, HF's on GPUs (fused kernels there)
    training_kernels: Literal["auto", "xlm_hf", "hf"] = "auto"

    def __post_init__(self) -> None:
        for name in ("emb_dim", "n_layers", "n_heads", "max_position_embeddings"):
            _require(getattr(self, name) >= 1, f"model.{name}", "must be >= 1")
        _require(self.emb_dim % self.n_heads == 0, "model.emb_dim", "must be a multiple of model.n_heads")
        _require(0 <= self.dropout < 1, "model.dropout", "must be in [0, 1)")
        _require(0 <= self.attention_dropout < 1, "model.attention_dropout", "must be in [0, 1)")


# ----------------------------------------------------------------------------- loading


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
    if not path.is_file():
        raise ConfigError(f"--config: recipe file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f":{where.line + 1}" if where is not None else ""
        raise ConfigError(f"{path}{line}: invalid YAML ({getattr(err, 'problem', err)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping of sections")
    return raw


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """``section.key=value``, ``--section.key=value`` or ``--section.key value`` → {"section.key": value}.

    Values are read as YAML, so ``[en, fr]``, ``true`` and ``1e-4`` mean what they look like.
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
        if key.count(".") != 1:
            raise ConfigError(f"{key}: overrides are section.key=value (e.g. training.max_steps=10)")
        try:
            out[key] = yaml.safe_load(text) if text != "" else ""
        except yaml.YAMLError:
            out[key] = text
        i += 1
    return out


def merge_overrides(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for dotted, value in overrides.items():
        section, key = dotted.split(".")
        if not isinstance(merged.setdefault(section, {}), dict):
            raise ConfigError(f"{section}: must be a mapping")
        merged[section][key] = value
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


def check_training(args: Any) -> None:
    """Sizes of the training section that TrainingArguments itself accepts but cannot train with."""
    for name in ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"):
        _require(getattr(args, name) >= 1, f"training.{name}", "must be >= 1")
    for name in ("logging_steps", "save_steps", "eval_steps"):
        value = getattr(args, name)
        _require(value is None or value > 0, f"training.{name}", "must be > 0")
    _require(args.learning_rate >= 0, "training.learning_rate", "must be >= 0")
    _require(args.max_steps > 0 or args.num_train_epochs > 0, "training.num_train_epochs", "must be > 0")


def _require(ok: Any, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{key}: {message}")


def _is_pair(pair: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_]+-[A-Za-z_]+", pair)) and len(set(pair.split("-"))) == 2


# ----------------------------------------------------------------------------- training sections
# TrainingArguments is reused as-is; the subclasses only change defaults to the XLM settings.

from transformers import TrainingArguments  # noqa: E402  (after the plain sections on purpose)


def cpu_only_machine() -> bool:
    """No CUDA, MPS or XPU device: everything runs on the CPU anyway."""
    import torch

    xpu = getattr(torch, "xpu", None)
    return not (
        torch.cuda.is_available()
        or torch.backends.mps.is_available()
        or (xpu is not None and xpu.is_available())
    )


class _CpuByDefault:
    """Default ``use_cpu`` to true on a machine without an accelerator. Two reasons: accelerate
    joins several CPU processes (torchrun) into one gloo group only when asked for the CPU (without
    it every process would silently train its own copy of the model), and bf16 on the CPU is
    refused unless ``use_cpu`` is set."""

    def __post_init__(self) -> None:
        # `accelerate launch` with a CPU config exports ACCELERATE_USE_CPU; TrainingArguments then
        # builds a CPU process group but still reports cuda:0 as its device on a GPU machine
        launched_on_cpu = os.environ.get("ACCELERATE_USE_CPU", "false").lower() in ("1", "true", "yes")
        if not self.use_cpu and (launched_on_cpu or cpu_only_machine()):
            self.use_cpu = True
        super().__post_init__()


@dataclass
class PretrainingArguments(_CpuByDefault, TrainingArguments):
    """TrainingArguments with XLM's pretraining defaults (Adam β2 0.98, inverse-sqrt, clip 5)."""

    output_dir: str | None = "runs/pretrain"
    per_device_train_batch_size: int = 32
    per_device_eval_batch_size: int = 32
    max_steps: int = 100000
    learning_rate: float = 1e-4
    adam_beta2: float = 0.98
    max_grad_norm: float = 5.0
    lr_scheduler_type: str = "inverse_sqrt"
    warmup_steps: float = 4000
    logging_steps: float = 50
    eval_strategy: str = "steps"
    eval_steps: float | None = 1000
    save_steps: float = 1000
    save_total_limit: int | None = 2
    remove_unused_columns: bool = False
    report_to: None | str | list[str] = "none"
    overwrite_output_dir: bool = False  # write into an output_dir that holds another run (see run_dir)


@dataclass
class XnliTrainingArguments(_CpuByDefault, TrainingArguments):
    """TrainingArguments with the XNLI protocol's defaults (per-epoch eval, keep the best model)."""

    output_dir: str | None = "runs/xnli"
    per_device_train_batch_size: int = 8
    per_device_eval_batch_size: int = 64
    learning_rate: float = 5e-6
    adam_beta2: float = 0.98
    num_train_epochs: float = 5.0
    eval_strategy: str = "epoch"
    save_strategy: str = "epoch"
    save_total_limit: int | None = 1
    load_best_model_at_end: bool = True
    logging_steps: float = 50
    remove_unused_columns: bool = False
    report_to: None | str | list[str] = "none"
    overwrite_output_dir: bool = False  # write into an output_dir that holds another run (see run_dir)


def resolve_mixed_precision(args: TrainingArguments) -> str:
    """The one mixed-precision setting of the run: the launch config's (``accelerate launch`` passes
    it as ACCELERATE_MIXED_PRECISION) when it asks for fp16/bf16, else the recipe's. Both asking for
    different precisions is an error, never a silent choice."""
    launcher = os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    recipe = "bf16" if args.bf16 else "fp16" if args.fp16 else "no"
    if launcher != "no" and recipe != "no" and launcher != recipe:
        raise ConfigError(
            f"training.{recipe}: the recipe asks for {recipe} but the launch config asks for {launcher} "
            f"(mixed_precision); keep one of them"
        )
    if launcher != "no" and recipe == "no":
        args.bf16, args.fp16 = launcher == "bf16", launcher == "fp16"
        args.mixed_precision = launcher
    chosen = launcher if launcher != "no" else recipe
    source = "launch config" if launcher != "no" else "recipe" if recipe != "no" else "default"
    logger.info("mixed precision: %s (from the %s)", chosen, source)
    return chosen
