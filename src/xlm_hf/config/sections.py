"""Every recipe section, in one place: the dataclasses a recipe's mappings become, and their checks.

``vocab`` (`VocabConfig`), ``data`` (`DataConfig`), ``model`` (`ModelConfig`), ``xnli``
(`XnliConfig`), ``task`` (`TaskConfig`), ``suite`` (`SuiteConfig`) and ``study`` (`StudyConfig`); the ``training`` sections are transformers'
`TrainingArguments` (`xlm_hf.config.training_args`). Each dataclass checks its own values in
``__post_init__``; `check_pretraining_sections` checks them against each other. How a YAML file
and command-line overrides become these objects is `xlm_hf.config.loader`'s job. Nothing here
imports transformers or torch, so ``xlm-hf vocab`` and study planning start fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from xlm_hf.errors import ConfigError, require

#: The 15 XNLI languages, in the paper's order.
XNLI_LANGUAGES = ["en", "fr", "es", "de", "el", "bg", "ru", "tr", "ar", "vi", "th", "zh", "hi", "sw", "ur"]

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
    # the words BPE learns on: hf = transformers' XLMTokenizer (sacremoses), so a plain XLMTokenizer
    # splits text as in training; xlm = the original XLM scripts (Perl Moses of 2019). Recorded in
    # the tokenizer directory (tokenizer_config.json) and applied wherever xlm-hf encodes with it
    preprocessing: Literal["hf", "xlm"] = "hf"
    valid_fraction: float = 0.0  # lines held out from learning (to measure the unknown rate)
    num_proc: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.languages, "vocab.languages", "must list at least one language")
        require(len(set(self.languages)) == len(self.languages), "vocab.languages", "has duplicates")
        require(self.vocab_size > 14, "vocab.vocab_size", "must be larger than the 14 special tokens")
        require(self.alpha > 0, "vocab.alpha", "must be > 0")
        require(self.sentences_per_language > 0, "vocab.sentences_per_language", "must be > 0")
        require(0 <= self.valid_fraction < 1, "vocab.valid_fraction", "must be in [0, 1)")
        require(self.num_proc >= 1, "vocab.num_proc", "must be >= 1")
        require(self.min_frequency >= 0, "vocab.min_frequency", "must be >= 0")
        require(self.data_dir is not None or bool(self.files), "vocab.data_dir", "give data_dir or files")


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
    # TLM directions trained (`en-fr`: English first; `fr-en` reads the same corpus the other way);
    # default: both directions of every pair in data.para, or in data_dir/para, among `languages`
    tlm_pairs: list[str] | None = None
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
    # which source each step trains: `sample` draws an objective uniformly, then a language or pair
    # with p ∝ tokens^alpha; `xlm` runs the original's cycle: min(5, #languages) MLM (or CLM) steps,
    # then min(5, #pairs) TLM steps, each drawn with p ∝ sentences^alpha
    mixture: Literal["sample", "xlm"] = "sample"
    mlm_probability: float = 0.15
    mask_replace_prob: float = 0.8
    random_replace_prob: float = 0.1
    sample_alpha: float = 0.0  # > 0: targets drawn with weight count^-alpha (rare subwords more often)
    # the original's masking never predicts a sequence's first position and, with sample_alpha > 0,
    # gives </s> weight 0 like the other special tokens; true: predict them like any token
    predict_first_position: bool = False
    sample_alpha_eos: bool = False
    # tokenising processes, sharing each language's lines in chunks; default: one per core (<= 8)
    # and per 2 MB of text to tokenise
    num_proc: int | None = None
    fast_tokenizer: bool = True  # exact fast pre-processing (fast_tokenizer.py); false: XLMTokenizer itself
    # evaluation files (or globs) whose sentences no pretraining line may be: a line equal to one of
    # them after whitespace normalisation is dropped, and the run reports how many (data.decontaminate)
    decontaminate: list[str] = field(default_factory=list)
    cache_dir: str | None = None  # the token store; default $XLM_HF_CACHE or ~/.cache/xlm_hf

    def __post_init__(self) -> None:
        require(self.languages, "data.languages", "must list at least one language")
        require(len(set(self.languages)) == len(self.languages), "data.languages", "has duplicates")
        require(self.objectives, "data.objectives", "must list at least one of mlm, clm, tlm")
        for obj in self.objectives:
            require(obj in OBJECTIVES, "data.objectives", f"unknown objective {obj!r} (use mlm, clm, tlm)")
        require(self.max_seq_length >= 8, "data.max_seq_length", "must be >= 8")
        require(self.valid_size > 0, "data.valid_size", "must be > 0")
        require(self.max_valid_lines >= 1, "data.max_valid_lines", "must be >= 1")
        for name in ("max_lines_per_language", "tlm_tokens_per_batch"):
            require(getattr(self, name) is None or getattr(self, name) >= 1, f"data.{name}", "must be >= 1")
        require(self.tlm_max_len >= 1, "data.tlm_max_len", "must be >= 1")
        if isinstance(self.lang_sampling_alpha, float):
            require(self.lang_sampling_alpha > 0, "data.lang_sampling_alpha", "must be > 0 or 'uniform'")
        require(0 < self.mlm_probability < 1, "data.mlm_probability", "must be in (0, 1)")
        require(
            self.mask_replace_prob >= 0
            and self.random_replace_prob >= 0
            and self.mask_replace_prob + self.random_replace_prob <= 1,
            "data.mask_replace_prob",
            "mask_replace_prob + random_replace_prob must be in [0, 1]",
        )
        require(self.sample_alpha >= 0, "data.sample_alpha", "must be >= 0")
        require(
            not self.sample_alpha_eos or self.sample_alpha > 0,
            "data.sample_alpha_eos",
            "weighs </s> for sample_alpha > 0 (sample_alpha is 0)",
        )
        require(self.num_proc is None or self.num_proc >= 1, "data.num_proc", "must be >= 1")
        for pair in list(self.para) + list(self.tlm_pairs or []):
            require(_is_pair(pair), "data.para", f"pair {pair!r} must look like 'en-fr'")
        require(
            len(set(self.tlm_pairs or [])) == len(self.tlm_pairs or []), "data.tlm_pairs", "has duplicates"
        )
        for pair in self.tlm_pairs or []:
            l1, l2 = pair.split("-")
            require(
                l1 in self.languages and l2 in self.languages,
                "data.tlm_pairs",
                f"{pair!r} uses a language not in data.languages",
            )
        for lang in list(self.mono) + list(self.mono_valid):
            require(lang in self.languages, "data.mono", f"language {lang!r} is not in data.languages")
        needs_mono = any(o in ("mlm", "clm") for o in self.objectives)
        if needs_mono and self.data_dir is None:
            missing = [lang for lang in self.languages if lang not in self.mono]
            require(
                not missing, "data.mono", f"no text for {missing}: add them to data.mono or set data.data_dir"
            )
        require(
            "tlm" not in self.objectives or self.data_dir is not None or bool(self.para),
            "data.para",
            "tlm needs data_dir or data.para",
        )


@dataclass
class ModelConfig:
    """An XLM model: new from these fields, or continued from `model_name_or_path`."""

    tokenizer: str | None = None  # tokenizer dir; default: vocab.output_dir
    # pre-processing before BPE for a tokenizer that records none (a published one: hf unless set;
    # xlm for the published XLM vocabularies, see README); a directory's own record always wins
    preprocessing: Literal["hf", "xlm"] | None = None
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
    # which code runs a training step's forward and backward: xlm_hf's CPU kernels (`cpu_kernels`:
    # faster, fewer activations), the fused GPU path (`fused_training`: no host sync, fused
    # attention, a compiled layer), HF's, or auto: xlm_hf on CPU, fused on CUDA, HF's elsewhere
    training_kernels: Literal["auto", "xlm_hf", "fused", "hf"] = "auto"
    # torch.compile the fused path's layer (one graph shared by all layers); auto: on CUDA only
    compile: bool | Literal["auto"] = "auto"
    # Linear layers of a new model: `hf` draws N(0, 0.02) weights and zero biases; `xlm` keeps
    # PyTorch's default (kaiming-uniform weights, uniform biases in ±1/sqrt(fan_in)), as the
    # original does. Embeddings are N(0, emb_dim^-0.5) either way, the output layer tied to them.
    init: Literal["hf", "xlm"] = "hf"

    def __post_init__(self) -> None:
        require(
            self.init == "hf" or self.model_name_or_path is None,
            "model.init",
            "initialises a new model; model.model_name_or_path continues trained weights",
        )
        for name in ("emb_dim", "n_layers", "n_heads", "max_position_embeddings"):
            require(getattr(self, name) >= 1, f"model.{name}", "must be >= 1")
        require(self.emb_dim % self.n_heads == 0, "model.emb_dim", "must be a multiple of model.n_heads")
        require(0 <= self.dropout < 1, "model.dropout", "must be in [0, 1)")
        require(0 <= self.attention_dropout < 1, "model.attention_dropout", "must be in [0, 1)")


@dataclass(kw_only=True)
class FinetuneConfig:
    """What every fine-tuning recipe says: the model, its training and evaluation data, the
    languages, and how to fine-tune. `XnliConfig` (section ``xnli``) and `TaskConfig` (``task``)
    are its two sections; errors name the section's keys."""

    SECTION: ClassVar[str] = "finetune"

    model_name_or_path: str
    # training data: files, a {lang} template, a directory or hf:<name> (each task's forms); or a
    # list of them, read one after the other (MultiNLI + SNLI)
    train: str | list[str] | None = None
    eval: str  # the evaluation data, in the same forms (a {split} template for dev / test files)
    # pre-processing before BPE for a model whose tokenizer records none (a published one: hf unless
    # set; xlm for the published XLM checkpoints); a recorded setting always wins
    preprocessing: Literal["hf", "xlm"] | None = None
    languages: list[str] = field(default_factory=list)
    mode: Literal["zero-shot", "translate-train", "translate-train-all"] = "zero-shot"
    train_language: str = "en"  # zero-shot: en; translate-train: the language trained on
    selected_by: Literal["train_language", "average"] = "train_language"
    test: Literal["auto", "yes", "no"] = "auto"  # auto: evaluate test when the source has it
    max_seq_length: int = 256
    max_train_examples: int | None = None
    max_eval_examples: int | None = None  # per language and split: the first ones (quick checks)
    # the recipe that makes model_name_or_path, named in the error when the model is missing
    # (fine-tuning never pretrains: `make finetune-xnli` runs `make pretrain` first)
    pretrain_recipe: str | None = None
    # pretrained: the weights of model_name_or_path; random: only its config and tokenizer, with fresh
    # weights drawn from training.seed (the "no pretraining" baseline of a study, same architecture)
    init: Literal["pretrained", "random"] = "pretrained"
    # the new Linear layers (the head; with init: random, every one): `hf` draws N(0, 0.02)
    # weights and zero biases, `xlm` keeps PyTorch's default as the original's nn.Linear(dim, n).
    # A key of this section, not of `model` (the pretraining model's section, which a fine-tuning
    # recipe does not have): the model comes from model_name_or_path, and only its head is new.
    linear_init: Literal["hf", "xlm"] = "hf"
    # dropout on the hidden state before a classifier (HF's `summary_first_dropout`, 0.1 in
    # XLMForSequenceClassification; the original's glue-xnli.py --dropout, 0); None: the model's
    classifier_dropout: float | None = None
    # what a sequence classifier reads: `first`, the state of position 0 (the opening </s>), as XLM
    # and the published XNLI models do; `mean`, the mean of the last states over real tokens,
    # padding excluded. Recorded in the model's config (summary_type), which loading honours.
    # Position 0 is never an MLM/TLM target, so a pretrained encoder never learned to put content there.
    pooling: Literal["first", "mean"] = "first"
    # keep word, position and language embeddings as pretrained: the shared embedding space is what
    # carries English supervision to the other languages, and a small model's fine-tuning can move it
    freeze_embeddings: bool = False
    # the language id given in `langs` at evaluation: the evaluated language (the paper) or the
    # training language (a diagnostic: does the language embedding help or hurt transfer?)
    eval_language_ids: Literal["evaluated", "train_language"] = "evaluated"
    num_proc: int = 1
    # as the model section's: auto runs the fused GPU path on CUDA (fused_training), HF's forward
    # elsewhere; fused anywhere; hf never. compile: torch.compile its layer (auto: on CUDA)
    training_kernels: Literal["auto", "fused", "hf"] = "auto"
    compile: bool | Literal["auto"] = "auto"

    def __post_init__(self) -> None:
        key = f"{self.SECTION}."
        require(self.languages, key + "languages", "must list at least one language")
        if self.mode == "zero-shot" and self.train_language != "en":
            raise ConfigError(f"{key}train_language: zero-shot trains on English (use mode: translate-train)")
        if self.mode != "translate-train-all" and self.train_language not in self.languages:
            raise ConfigError(f"{key}train_language: {self.train_language!r} is not in {key}languages")
        require(self.max_seq_length >= 8, key + "max_seq_length", "must be >= 8")
        for name in ("max_train_examples", "max_eval_examples"):
            if getattr(self, name) is not None:
                require(getattr(self, name) >= 1, key + name, "must be >= 1")
        if self.eval_language_ids == "train_language" and self.mode == "translate-train-all":
            raise ConfigError(f"{key}eval_language_ids: train_language needs one training language")
        require(self.num_proc >= 1, key + "num_proc", "must be >= 1")
        if self.classifier_dropout is not None:
            require(0 <= self.classifier_dropout < 1, key + "classifier_dropout", "must be in [0, 1)")

    @property
    def train_sources(self) -> list[str]:
        if self.train is None:
            return []
        return [self.train] if isinstance(self.train, str) else list(self.train)


@dataclass(kw_only=True)
class XnliConfig(FinetuneConfig):
    """XNLI: what to fine-tune, on which training data, evaluated on which languages. The
    ``pair-classification`` task with XNLI's data forms and labels (`xlm_hf.tasks.presets`)."""

    SECTION: ClassVar[str] = "xnli"

    train: str | list[str]
    eval: str  # DIR/{dev,test}/<lang>.tsv, an XNLI-1.0 dir or file, or hf:facebook/xnli
    languages: list[str] = field(default_factory=lambda: list(XNLI_LANGUAGES))

    def __post_init__(self) -> None:
        if not self.train_sources:
            raise ConfigError("xnli.train: must name at least one training set")
        single_file = any(
            Path(t).is_file() or Path(t).suffix in (".tsv", ".jsonl", ".json") for t in self.train_sources
        )
        if self.mode != "zero-shot" and single_file:
            raise ConfigError(
                f"xnli.train: {self.mode} needs one training set per language: a directory of "
                "multinli.train.<lang>.tsv files or hf:<name>, not a single file"
            )
        super().__post_init__()


#: The task types `xlm-hf finetune` knows (`xlm_hf.tasks`).
TASK_TYPES = ("classification", "pair-classification", "token-classification", "extractive-qa", "retrieval")


@dataclass(kw_only=True)
class TaskConfig(FinetuneConfig):
    """A cross-lingual task for ``xlm-hf finetune``: its type, where its data are and how to read them.

    ``train`` and ``eval`` take a file, a list of files, or a template with ``{lang}`` (and, for
    ``eval``, ``{split}``: dev, then test when it exists), or ``hf:<name>[:<config>]`` (the config may
    hold ``{lang}``). A ``retrieval`` task trains nothing: its ``eval`` template has ``{side}``, the
    evaluated language's file and the training language's (`train_language`, the pivot)."""

    SECTION: ClassVar[str] = "task"

    type: Literal[
        "classification", "pair-classification", "token-classification", "extractive-qa", "retrieval"
    ]
    name: str | None = None  # in tables and file names; default: the recipe file's name
    # `xnli`: XNLI's data forms and labels (per-language TSV directories, XNLI-1.0, XNLI-MT, MultiNLI)
    preset: Literal["xnli"] | None = None
    # table columns (TSV with or without a header, CSV, JSON, JSONL): the text, the second text of a
    # pair, the label; a header-less TSV takes them in that order. Keys: text, text_pair, label
    columns: dict[str, str] = field(default_factory=dict)
    labels: list[str] | None = (
        None  # label (or tag) names in id order; default: as found in the training data
    )
    # extractive QA: question tokens kept, window stride over long contexts, longest answer, n-best
    max_query_length: int = 64
    doc_stride: int = 128
    max_answer_length: int = 30
    n_best: int = 20
    # retrieval: the layer whose mean-pooled states are compared (0 = embeddings); None: every layer,
    # the best one reported beside the last
    layer: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.type == "retrieval":
            require(self.train is None, "task.train", "a retrieval task trains nothing: remove it")
            require(
                "{side}" in self.eval,
                "task.eval",
                "a retrieval task's eval needs {side} (the two files of a pair)",
            )
        else:
            require(bool(self.train_sources), "task.train", "must name at least one training set")
        if self.classifier_dropout is not None or self.pooling != "first":
            require(
                self.type in ("classification", "pair-classification"),
                "task.classifier_dropout" if self.classifier_dropout is not None else "task.pooling",
                "applies to sequence classifiers only",
            )
        if self.preset == "xnli":
            require(self.type == "pair-classification", "task.preset", "xnli is a pair-classification preset")
        for role in self.columns:
            require(
                role in ("text", "text_pair", "label"),
                "task.columns",
                f"unknown role {role!r} (text, text_pair, label)",
            )
        if self.labels is not None:
            require(
                len(set(self.labels)) == len(self.labels) >= 2,
                "task.labels",
                "needs two or more distinct names",
            )
        for name in ("max_query_length", "doc_stride", "max_answer_length", "n_best"):
            require(getattr(self, name) >= 1, f"task.{name}", "must be >= 1")
        if self.type == "extractive-qa":
            require(self.doc_stride < self.max_seq_length, "task.doc_stride", "must be below max_seq_length")
            require(
                self.max_query_length + 3 < self.max_seq_length,
                "task.max_query_length",
                "leaves no room for the context: max_query_length + 3 must be below max_seq_length",
            )
        if self.layer is not None:
            require(self.layer >= 0, "task.layer", "must be >= 0 (0 = the embeddings)")


@dataclass
class SuiteConfig:
    """A suite for ``xlm-hf evaluate``: task recipes run on one model, reported in one table."""

    model_name_or_path: str
    output_dir: str
    tasks: dict[str, str]  # task name -> its task recipe (recipes/tasks/*.yaml)
    # `pretrained` fine-tunes the model; `random` its architecture with fresh weights (the baseline)
    init: Literal["pretrained", "random"] = "pretrained"
    overrides: dict[str, Any] = field(default_factory=dict)  # section.key -> value, for every task
    task_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # per task name

    def __post_init__(self) -> None:
        require(self.tasks, "suite.tasks", "must name at least one task recipe")
        for name, path in self.tasks.items():
            require(
                re.fullmatch(r"[\w.-]+", name) is not None,
                f"suite.tasks.{name}",
                "a task name is letters, digits, . - _",
            )
            require(Path(path).is_file(), f"suite.tasks.{name}", f"no recipe {path}")
        unknown = [name for name in self.task_overrides if name not in self.tasks]
        require(
            not unknown, "suite.task_overrides", f"{unknown[0] if unknown else ''!r} is not in suite.tasks"
        )


@dataclass
class TwinConfig:
    """The twin study's data (`xlm_hf.reproduce.twin`): English text, pooled and split into roles."""

    english: list[str]  # English text files: held-out lines, TLM lines, then two MLM halves
    heldout_lines: int = 1000  # the retrieval probe's lines, used nowhere else
    tlm_lines: int = 15000  # TLM pairs: a line and its cipher
    xnli_dev: str | None = None  # English XNLI dev TSV, written beside its enciphered copy
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.english, "study.twin.english", "must list at least one file")
        for path in self.english + ([self.xnli_dev] if self.xnli_dev else []):
            key = "study.twin.xnli_dev" if path == self.xnli_dev else "study.twin.english"
            require(Path(path).is_file(), key, f"no file {path}")
        require(self.heldout_lines >= 2, "study.twin.heldout_lines", "must be >= 2")
        require(self.tlm_lines >= 1, "study.twin.tlm_lines", "must be >= 1")


#: The study variant fine-tuned from fresh weights (no pretraining).
RANDOM = "random"


@dataclass
class StudyConfig:
    """Which recipes make the variants, how they are changed for the study, and which seeds."""

    output_dir: str
    pretrain: dict[str, str]  # variant name → pretraining recipe
    finetune: str  # XNLI recipe, the same for every variant
    variants: list[str] = field(default_factory=lambda: [RANDOM, "mlm", "mlm-tlm"])
    random_init_from: str = "mlm"  # whose config and tokenizer the random variant uses
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    pretrain_overrides: dict[str, Any] = field(default_factory=dict)  # for every variant
    variant_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # variant → its own
    finetune_overrides: dict[str, Any] = field(default_factory=dict)
    alignment_sentences: int = 500
    # a twin study (`xlm_hf.reproduce.twin`): its data is written to <output_dir>/data first, and the
    # retrieval probe uses its held-out lines (en<->twin) instead of XNLI premises
    twin: TwinConfig | None = None
    # pretraining budgets: steps (checkpoints of the pretraining runs, so multiples of their
    # save_steps) at which every pretrained variant is also fine-tuned, with budget_seeds, and probed:
    # the points of an accuracy-against-pretraining-tokens curve, the full run being the last one
    budgets: list[int] = field(default_factory=list)
    budget_seeds: list[int] | None = None  # default: the first of `seeds`; []: retrieval only
    reference: dict[str, dict[str, float]] = field(default_factory=dict)  # published rows, for the table

    def __post_init__(self) -> None:
        for variant in self.variants:
            if variant != RANDOM and variant not in self.pretrain:
                raise ConfigError(f"study.variants: {variant!r} has no recipe in study.pretrain")
        if RANDOM in self.variants and self.random_init_from not in self.pretrain:
            raise ConfigError(f"study.random_init_from: {self.random_init_from!r} is not in study.pretrain")
        for name, recipe in [*self.pretrain.items(), ("finetune", self.finetune)]:
            if not Path(recipe).is_file():
                key = "study.finetune" if name == "finetune" else f"study.pretrain.{name}"
                raise ConfigError(f"{key}: no recipe file {recipe}")
        for variant in self.variant_overrides:
            if variant not in self.pretrain:
                raise ConfigError(f"study.variant_overrides: {variant!r} is not in study.pretrain")
        if not self.seeds:
            raise ConfigError("study.seeds: must list at least one seed")
        if self.alignment_sentences < 2:
            raise ConfigError("study.alignment_sentences: must be >= 2")
        if any(b < 1 for b in self.budgets) or len(set(self.budgets)) != len(self.budgets):
            raise ConfigError("study.budgets: must be distinct step counts >= 1")
        if self.budget_seeds is None:
            self.budget_seeds = self.seeds[:1]


def check_pretraining_sections(data: DataConfig, model: ModelConfig, vocab: VocabConfig | None) -> None:
    """A pretraining recipe's sections against each other, before any work starts."""
    require(
        data.max_seq_length <= model.max_position_embeddings,
        "data.max_seq_length",
        "longer than model.max_position_embeddings",
    )
    require(
        "tlm" not in data.objectives or data.tlm_max_len + 2 <= model.max_position_embeddings,
        "data.tlm_max_len",
        "a TLM half would not fit model.max_position_embeddings",
    )
    if vocab is not None:
        extra = [lang for lang in data.languages if lang not in vocab.languages]
        require(not extra, "data.languages", f"{extra} are not in vocab.languages")
    require(
        model.tokenizer or vocab or model.model_name_or_path,
        "model.tokenizer",
        "give a tokenizer directory, a vocab section or model.model_name_or_path",
    )


def _is_pair(pair: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_]+-[A-Za-z_]+", pair)) and len(set(pair.split("-"))) == 2
