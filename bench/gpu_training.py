"""GPU training, side by side in one run: xlm-hf's GPU path against HF's way (``bash bench/gpu_check.sh``).

First a preflight on the device (a tiny model: the fused path's loss and gradients against HF's,
eager and compiled; whether its attention layouts reach the flash and memory-efficient kernels;
the host syncs of one fused step), then the rows (each run a fresh subprocess, so compile
caches, memory peaks and crashes stay its own):

- ``mlm-95k``: the paper's model (emb 1024, 12 layers, 8 heads, GELU, dropout 0.1), MLM on packed
  streams of 256 tokens, 64 per step, bf16 autocast with fp32 master weights, a 95k vocabulary
  padded as ``make bench`` pads it (the ids in use are those of a 3k vocabulary; the rest never
  occur, but the output layer has all 95k rows). ``xlm_hf``: `PretrainTrainer` over
  `MixtureBatches` and `MaskingCollator`, `XLMWithTargetedLMHead` on the fused path
  (``training_kernels: fused``, which ``auto`` picks on CUDA; ``compile: auto``). ``hf``: what
  HF's ``run_mlm.py`` does: the same blocks as a dataset, `DataCollatorForLanguageModeling`,
  `XLMWithLMHeadModel` (logits at every position) and a plain `Trainer`, same hyperparameters.
- ``xnli``: sentence-pair classification, 32 pairs per step: `XnliTrainer`, `ClassificationCollator`
  (bucketed lengths) and `FusedXLMForSequenceClassification` against a plain `Trainer`,
  `DataCollatorWithPadding` and `XLMForSequenceClassification`, the same model.
- extras, each run when its whole allowance of time is left: ``mlm-tlm-hf-forward-sdpa`` and
  ``-eager`` (the toolkit's GPU runs before the fused path: `PretrainTrainer` on an MLM + TLM
  mixture with HF's forward, ``model.attention: sdpa`` or ``eager``: the configuration in which
  SDPA was slower; the profiles and sync counts say why), then ``mlm-95k-eager`` and
  ``xnli-eager`` (the fused path without ``torch.compile``: what compiling adds; an uncompiled
  twin runs first when its compiled run failed), and ``xnli-cudagraphs`` (the layer compiled with
  ``mode="reduce-overhead"``: CUDA graphs, an experiment for host-bound XNLI steps that no recipe
  offers yet). TLM pairs are 20-84 tokens, so those batches pad.

Data: synthetic, so that the GPU machine needs neither Moses nor ``datasets``: sentences of 8-40
tokens, each on one of 64 topics whose tokens follow a Zipf law over their own ranking of the 3k
ids (predicting a masked token needs its context), joined into streams with ``</s>`` as the
toolkit packs them; XNLI pairs whose label is the topic offset between premise and hypothesis.
Both paths read the same blocks or pairs; the order and masks are each trainer's own.

Each run: `Sizes.warmup` steps (``torch.compile`` happens in the first; `compile_seconds` is the
warm-up time beyond that of steady steps), `Sizes.timed` timed steps (CUDA synchronised at both
ends), one step
under ``torch.cuda.set_sync_debug_mode("warn")`` (host syncs counted, with where they come from),
one under the torch profiler (top operators by device time, and the device's busy share of the
step's wall time). tokens/s counts non-pad input tokens (summed on the device by a forward hook,
read once at the end). MFU = FLOPs per token (``make bench``'s formula, `bench.pretraining`) x
tokens/s / the GPU's dense bf16 peak (989 TFLOP/s for an H100 or H200). Peak memory is
``torch.cuda.max_memory_allocated`` through the timed steps. The loss is the mean logged over the
last `Sizes.log_every` of them. All runs together stay within ``GPU_CHECK_BUDGET`` seconds (450).

``GPU_CHECK_TINY=1``: a tiny model and a few steps, which runs on a CPU (the tests do this).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from xlm_hf.text.special_tokens import BOS, EOS, MASK, N_SPECIAL, PAD, SPECIAL_TOKENS, UNK

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "gpu_results.json"
GPU_IMAGE_LACKS = (
    "sacremoses",
    "evaluate",
    "xlm_hf.text.pretokenize",
    "xlm_hf.data.corpora",
    "xlm_hf.xnli.data",
)
DENSE_BF16_PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # TFLOP/s, dense, by GPU name


@dataclass(frozen=True)
class Sizes:
    emb_dim: int = 1024
    n_layers: int = 12
    n_heads: int = 8
    seq: int = 256
    vocab: int = 95000
    base_vocab: int = 3000  # ids in use: a 3k vocabulary padded to `vocab`, as `make bench` does
    batch: int = 64
    xnli_batch: int = 32
    xnli_max_len: int = 128
    warmup: int = 5
    timed: int = 80
    log_every: int = 20  # a loss logged every 20 steps: 4 host reads in the timed steps, for both paths


TINY = Sizes(
    emb_dim=32,
    n_layers=2,
    n_heads=4,
    seq=32,
    vocab=500,
    base_vocab=200,
    batch=4,
    xnli_batch=4,
    xnli_max_len=40,
    warmup=2,
    timed=5,
    log_every=3,  # never a divisor of warmup + timed (+ 1): no logging inside the sync-check step
)


@dataclass(frozen=True)
class Run:
    name: str
    path: str  # xlm_hf: the toolkit's training code; hf: HF's way (run_mlm / run_glue: plain Trainer)
    task: str  # mlm (packed streams) | mlm-tlm (the mixture with padded TLM pairs) | xnli
    kernels: str = "fused"  # the toolkit's model.training_kernels (fused is what auto picks on CUDA)
    attention: str = "eager"  # model.attention, for HF's forward
    compile: bool | str = "auto"  # model.compile, for the fused path
    limit: float = 120.0  # seconds it may take on an H200, start-up and compilation included
    timed: int | None = None  # fewer timed steps for a diagnostic extra
    # a torch.compile mode for the shared layer, as an experiment the recipes do not offer yet
    # ("reduce-overhead": CUDA graphs, for host-bound small batches)
    compile_mode: str | None = None


REQUIRED = [
    Run("mlm-95k", "hf", "mlm", limit=150),
    Run("mlm-95k", "xlm_hf", "mlm", limit=170),
    Run("xnli", "hf", "xnli", limit=60),
    Run("xnli", "xlm_hf", "xnli", limit=150),
]
EXTRAS = [  # run while time is left, each only if its whole allowance is
    # the toolkit's GPU runs before the fused path: HF's forward, with SDPA modules and without
    Run("mlm-tlm-hf-forward-sdpa", "xlm_hf", "mlm-tlm", "hf", "sdpa", limit=100, timed=30),
    Run("mlm-tlm-hf-forward-eager", "xlm_hf", "mlm-tlm", "hf", "eager", limit=90, timed=30),
    # the fused path uncompiled: what torch.compile adds
    Run("mlm-95k-eager", "xlm_hf", "mlm", compile=False, limit=60, timed=40),
    Run("xnli-eager", "xlm_hf", "xnli", compile=False, limit=60, timed=40),
    # XNLI steps are host-bound (the device is busy about 30 % of a step): CUDA graphs, measured
    Run("xnli-cudagraphs", "xlm_hf", "xnli", compile_mode="reduce-overhead", limit=90, timed=40),
]


def extras_in_order(done: list[dict[str, Any]]) -> list[Run]:
    """`EXTRAS`, the uncompiled twin of a compiled run that failed first: its numbers stand in."""
    failed = {r["name"] for r in done if "error" in r and r["path"] == "xlm_hf"}
    return sorted(EXTRAS, key=lambda run: not (run.compile is False and run.name[: -len("-eager")] in failed))


# ----------------------------------------------------------------------------- data


def sentences(n_tokens: int, base_vocab: int, seed: int, topics: int = 64):
    """(token ids of all sentences concatenated, each sentence's length, each sentence's topic)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    words = base_vocab - N_SPECIAL
    cdf = np.cumsum(1.0 / np.arange(1, words + 1))
    cdf /= cdf[-1]  # Zipf's law over a topic's own ranking of the words
    rankings = np.stack([rng.permutation(words) for _ in range(topics)]) + N_SPECIAL
    lengths = rng.integers(8, 41, n_tokens // 8 + 1)
    lengths = lengths[: int(np.searchsorted(np.cumsum(lengths), n_tokens)) + 1]
    topic = rng.integers(0, topics, len(lengths))
    ranks = np.minimum(np.searchsorted(cdf, rng.random(int(lengths.sum()))), words - 1)
    return rankings[np.repeat(topic, lengths), ranks], lengths, topic


def stream_blocks(sizes: Sizes, n_blocks: int):
    from xlm_hf.data.sources import pack_flat

    ids, lengths, _ = sentences(n_blocks * sizes.seq, sizes.base_vocab, seed=0)
    return pack_flat(ids, lengths, sizes.seq)[:n_blocks]


def xnli_pairs(sizes: Sizes, n_pairs: int) -> list[dict[str, Any]]:
    """``</s> premise </s> hypothesis </s>`` pairs; label = (hypothesis topic - premise topic) mod 3."""
    import numpy as np

    ids, lengths, topic = sentences(n_pairs * 2 * 24, sizes.base_vocab, seed=1)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    limit = sizes.xnli_max_len - 3
    pairs = []
    for i in range(0, min(len(lengths) - 1, 2 * n_pairs), 2):
        premise = ids[starts[i] : starts[i + 1]].tolist()[: limit // 2 + limit % 2]
        hypothesis = ids[starts[i + 1] : starts[i + 2]].tolist()[: limit // 2]
        input_ids = [EOS, *premise, EOS, *hypothesis, EOS]
        label = int((topic[i + 1] - topic[i]) % 3)
        pairs.append({"input_ids": input_ids, "langs": [0] * len(input_ids), "labels": label})
    return pairs


def word_tokenizer(vocab: int):
    """A tokenizer whose ids are the model's, for HF's collators (the data are ids already)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    words = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    words.update({f"w{i}": i for i in range(N_SPECIAL, vocab)})
    backend = Tokenizer(WordLevel(words, unk_token="<unk>"))
    backend.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<special1>",
        model_input_names=["input_ids", "attention_mask"],
    )


class ListDataset:
    """A map-style dataset over a list (the plain `Trainer` path samples and collates it)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]


# ----------------------------------------------------------------------------- one run (subprocess)


def model_config(sizes: Sizes, num_labels: int | None = None):
    from transformers import XLMConfig

    extra = {"num_labels": num_labels} if num_labels else {}
    return XLMConfig(
        vocab_size=sizes.vocab,
        emb_dim=sizes.emb_dim,
        n_layers=sizes.n_layers,
        n_heads=sizes.n_heads,
        dropout=0.1,
        attention_dropout=0.1,
        gelu_activation=True,
        max_position_embeddings=512,
        n_langs=1,
        embed_init_std=sizes.emb_dim**-0.5,
        pad_token_id=PAD,
        eos_token_id=EOS,
        bos_token_id=BOS,
        unk_index=UNK,
        mask_index=MASK,
        mask_token_id=MASK,
        **extra,
    )


def training_values(sizes: Sizes, task: str, device: str) -> dict[str, Any]:
    """The hyperparameters both paths share (the recipe defaults of the toolkit for the task)."""
    steps = sizes.warmup + sizes.timed + 2
    pretraining = task.startswith("mlm")
    return {
        "max_steps": steps,
        "per_device_train_batch_size": sizes.batch if pretraining else sizes.xnli_batch,
        "learning_rate": 1e-4 if pretraining else 2e-5,
        "adam_beta2": 0.98,
        "max_grad_norm": 5.0 if pretraining else 1.0,
        "lr_scheduler_type": "inverse_sqrt" if pretraining else "linear",
        "warmup_steps": 10 if pretraining else 0,
        "bf16": device == "cuda",
        "use_cpu": device != "cuda",
        "logging_steps": sizes.log_every,
        "eval_strategy": "no",
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "seed": 0,
        "remove_unused_columns": False,
    }


def _timer(sizes: Sizes, device: str, model, pad_id: int):
    """A callback that times the steps, counts tokens, host syncs, and profiles one step."""
    import torch
    from transformers import TrainerCallback

    cuda = device == "cuda"
    tokens = torch.zeros((), dtype=torch.int64, device=device)  # summed on the device, read at the end

    def count(module, args, kwargs):
        if module.training:
            mask = kwargs.get("attention_mask")
            ids = kwargs["input_ids"]
            tokens.add_(mask.sum() if mask is not None else (ids != pad_id).sum())

    model.register_forward_pre_hook(count, with_kwargs=True)

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.perf_counter()
            self.marks: dict[str, Any] = {}
            self.syncs: list[str] = []
            self.profile: dict[str, Any] = {}
            self._warnings = self._profiler = None

        def _now(self) -> float:
            if cuda:
                torch.cuda.synchronize()
            return time.perf_counter()

        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == sizes.warmup + sizes.timed + 1:  # the profiled step
                from torch.profiler import ProfilerActivity, profile

                activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
                self._profiler = profile(activities=activities)
                self._profiler.__enter__()
                self.marks["profile_start"] = self._now()

        def on_step_end(self, args, state, control, **kwargs):
            step = state.global_step
            if step == sizes.warmup:
                self.marks["warmup_end"] = self._now()
                self.marks["tokens_start"] = tokens.clone()
            elif step == sizes.warmup + sizes.timed:
                self.marks["timed_end"] = self._now()
                self.marks["tokens_end"] = tokens.clone()
                self.marks["peak_memory"] = torch.cuda.max_memory_allocated() if cuda else None
                if cuda:  # the next step: every synchronising CUDA call warns
                    self._warnings = warnings.catch_warnings(record=True)
                    self.syncs_seen = self._warnings.__enter__()
                    warnings.simplefilter("always")
                    torch.cuda.set_sync_debug_mode("warn")
            elif step == sizes.warmup + sizes.timed + 1:
                if self._warnings is not None:
                    torch.cuda.set_sync_debug_mode("default")
                    self._warnings.__exit__(None, None, None)
                    self.syncs = [
                        f"{Path(w.filename).name}:{w.lineno}"
                        for w in self.syncs_seen
                        if "synchronizing" in str(w.message)
                    ]
            elif step == sizes.warmup + sizes.timed + 2 and self._profiler is not None:
                wall = self._now() - self.marks["profile_start"]
                self._profiler.__exit__(None, None, None)
                self.profile = profile_summary(self._profiler, wall, cuda)
                if TRACE_FILE is not None:  # the whole timeline, for a closer look off the device
                    export_trace(self._profiler, TRACE_FILE)
                self._profiler = None

    return Timer()


TRACE_FILE: Path | None = None  # set by `worker` when GPU_CHECK_TRACE names a folder


def export_trace(profiler, path: Path) -> None:
    """The profiled step as a gzipped Chrome trace (chrome://tracing, Perfetto)."""
    import gzip
    import shutil

    raw = path.with_suffix("")  # trace-....json
    profiler.export_chrome_trace(str(raw))
    with open(raw, "rb") as source, gzip.open(path, "wb") as target:
        shutil.copyfileobj(source, target)
    raw.unlink()


# Kernel kinds, by name (the first pattern that matches): where a step's device time goes.
KERNEL_KINDS = (
    ("matmul", ("nvjet", "gemm", "cutlass", "xmma", "cublas", "Kernel2", "splitK")),
    ("attention", ("flash", "fmha", "sdpa", "attention", "cudnn")),
    ("optimizer", ("multi_tensor_apply", "adam")),
    ("compiled (Triton)", ("triton_",)),
    ("embedding / index", ("embedding", "index", "scatter", "gather", "radix", "sort", "segment")),
    ("layer norm", ("layer_norm", "LayerNorm")),
    ("reduction", ("reduce_kernel", "Reduce")),
    ("copy / cast / fill", ("copy", "Memcpy", "Memset", "fill", "cat", "CatArray")),
    ("elementwise", ("elementwise",)),
)


def kernel_kind(name: str) -> str:
    return next((kind for kind, marks in KERNEL_KINDS if any(m in name for m in marks)), "other")


def profile_summary(profiler, wall_seconds: float, cuda: bool, n: int = 12) -> dict[str, Any]:
    """Where one step's time went. On a GPU: the device kernels alone (operators launch kernels, so
    summing both would count the device time twice), grouped by kind and the top `n`, the device's
    busy share of the step's wall time (well under 1: the host held the GPU up), and the host
    operators with the most self time. On a CPU: the operators with the most self time."""
    from torch.autograd import DeviceType

    events = list(profiler.key_averages())
    if cuda:  # kernels, copies and sets; not the spans of annotated regions (Optimizer.step#...)
        timed = [
            e
            for e in events
            if e.device_type == DeviceType.CUDA
            and e.self_device_time_total > 0
            and not getattr(e, "is_user_annotation", False)
            and not e.key.startswith(("Optimizer.", "ProfilerStep"))
        ]
        time_of = {id(e): e.self_device_time_total for e in timed}  # microseconds
    else:
        timed = [e for e in events if e.self_cpu_time_total > 0]
        time_of = {id(e): e.self_cpu_time_total for e in timed}
    timed.sort(key=lambda e: time_of[id(e)], reverse=True)
    total = sum(time_of.values()) or 1.0
    kinds: Counter[str] = Counter()
    launches: Counter[str] = Counter()
    for e in timed if cuda else ():
        kinds[kernel_kind(e.key)] += time_of[id(e)]
        launches[kernel_kind(e.key)] += e.count
    host = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:6] if cuda else []
    return {
        "wall_ms": round(1000 * wall_seconds, 2),
        "device_busy_ms": round(total / 1000, 2),
        "device_busy_share": round(total / 1e6 / wall_seconds, 3) if cuda else None,
        "kernels": sum(e.count for e in timed) if cuda else None,
        "by_kind": [
            {
                "kind": kind,
                "ms": round(us / 1000, 3),
                "share": round(us / total, 3),
                "kernels": launches[kind],
            }
            for kind, us in kinds.most_common()
        ],
        "top": [
            {
                "op": e.key[:90],
                "self_ms": round(time_of[id(e)] / 1000, 3),
                "share": round(time_of[id(e)] / total, 3),
                "calls": e.count,
            }
            for e in timed[:n]
        ],
        # where the host's time went (launches, Python, waiting in a sync such as cudaStreamSynchronize)
        "top_host": [{"op": e.key[:90], "self_ms": round(e.self_cpu_time_total / 1000, 3)} for e in host],
    }


def tlm_pairs(sizes: Sizes, n_pairs: int) -> tuple[list[list[int]], list[list[int]]]:
    """Sentence pairs for TLM batches (``</s> A </s> </s> B </s>``, 20-84 tokens: padded batches)."""
    ids, lengths, _ = sentences(n_pairs * 2 * 26, sizes.base_vocab, seed=2)
    starts = [0, *lengths.cumsum().tolist()]
    rows = [ids[starts[i] : starts[i + 1]].tolist() for i in range(len(lengths))]
    return rows[0 : 2 * n_pairs : 2], rows[1 : 2 * n_pairs : 2]


def _pretraining_trainer(run: Run, sizes: Sizes, device: str, output_dir: str):
    import torch
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments, XLMWithLMHeadModel

    from xlm_hf.config.training_args import PretrainingArguments
    from xlm_hf.data.collators import MaskingCollator
    from xlm_hf.data.mixture import MixtureBatches
    from xlm_hf.data.sources import stream_source, tlm_source
    from xlm_hf.model.heads import XLMWithTargetedLMHead, set_attention
    from xlm_hf.training.trainer import PretrainTrainer

    steps = sizes.warmup + sizes.timed + 2
    blocks = stream_blocks(sizes, steps * sizes.batch)
    values = {**training_values(sizes, run.task, device), "output_dir": output_dir}
    torch.manual_seed(0)
    with torch.device(device):
        if run.path == "xlm_hf":
            model = XLMWithTargetedLMHead(model_config(sizes))
            model.training_kernels, model.compile_encoder = run.kernels, run.compile
        else:
            model = XLMWithLMHeadModel(model_config(sizes))
        set_attention(model, run.attention)
    timer = _timer(sizes, device, model, PAD)
    if run.path == "hf":
        trainer = Trainer(
            model=model,
            args=TrainingArguments(**values),
            train_dataset=ListDataset([{"input_ids": row.tolist()} for row in blocks]),
            data_collator=DataCollatorForLanguageModeling(word_tokenizer(sizes.vocab), mlm_probability=0.15),
            callbacks=[timer],
        )
        return trainer, timer
    masking = MaskingCollator(vocab_size=sizes.vocab, mask_token_id=MASK, pad_token_id=PAD)
    sources = [stream_source("mlm", "en", 0, blocks, sizes.batch, masking)]
    if run.task == "mlm-tlm":
        sources.append(
            tlm_source("en-fr", (0, 0), *tlm_pairs(sizes, steps * sizes.batch), sizes.batch, None, masking)
        )
    mixture = MixtureBatches(sources, 0.7, seed=0)
    trainer = PretrainTrainer(
        model=model, args=PretrainingArguments(**values), mixture=mixture, callbacks=[timer]
    )
    return trainer, timer


def _xnli_trainer(run: Run, sizes: Sizes, device: str, output_dir: str):
    import torch
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, XLMForSequenceClassification

    from xlm_hf.config.training_args import XnliTrainingArguments
    from xlm_hf.model.fused_training import LENGTH_BUCKET
    from xlm_hf.model.heads import use_training_kernels
    from xlm_hf.xnli.inputs import ClassificationCollator
    from xlm_hf.xnli.trainer import XnliTrainer

    steps = sizes.warmup + sizes.timed + 2
    pairs = xnli_pairs(sizes, steps * sizes.xnli_batch)
    values = {**training_values(sizes, run.task, device), "output_dir": output_dir}
    torch.manual_seed(0)
    with torch.device(device):
        model = XLMForSequenceClassification(model_config(sizes, num_labels=3))
    timer = _timer(sizes, device, model, PAD)
    if run.path == "hf":  # run_glue's way: no language ids, pad to the longest of the batch
        rows = [{"input_ids": p["input_ids"], "labels": p["labels"]} for p in pairs]
        trainer = Trainer(
            model=model,
            args=TrainingArguments(**values),
            train_dataset=ListDataset(rows),
            data_collator=DataCollatorWithPadding(word_tokenizer(sizes.vocab)),
            callbacks=[timer],
        )
        return trainer, timer
    model = use_training_kernels(model, run.kernels, run.compile)
    if run.compile_mode is not None:  # this process's shared layer, compiled in that mode
        from xlm_hf.model import fused_training

        fused_training._compiled_layer = torch.compile(
            fused_training._layer, fullgraph=True, mode=run.compile_mode
        )
    args = XnliTrainingArguments(**{**values, "num_train_epochs": 1.0, "load_best_model_at_end": False})
    if device == "cuda":  # as `finetune_xnli.run` sets them for the fused path on CUDA
        args.accelerator_config.non_blocking = True
        args.dataloader_num_workers = max(args.dataloader_num_workers, 1)
    trainer = XnliTrainer(
        model=model,
        args=args,
        train_dataset=ListDataset(pairs),
        data_collator=ClassificationCollator(PAD, length_bucket=LENGTH_BUCKET, max_length=512),
        callbacks=[timer],
    )
    return trainer, timer


PREFLIGHT = Run("preflight", "xlm_hf", "preflight", limit=90)


def preflight(device: str) -> dict[str, Any]:
    """Before the timed runs, on the device: the fused path's loss and gradients against HF's (fp32,
    dropout off, a tiny model: streams, causal, padded TLM; compiled too), whether its attention
    layouts reach the fused kernels meant for them, and the host syncs of one fused step."""
    import torch
    from torch.nn import functional as F

    from xlm_hf.data.collators import CausalCollator, MaskingCollator
    from xlm_hf.data.sources import tlm_example
    from xlm_hf.model.fused_training import prepare_batch
    from xlm_hf.model.heads import XLMWithTargetedLMHead

    config = model_config(TINY)
    config.dropout = config.attention_dropout = 0.0
    torch.manual_seed(0)
    with torch.device(device):
        model = XLMWithTargetedLMHead(config).train()
    gen = torch.Generator().manual_seed(0)
    masking = MaskingCollator(
        vocab_size=TINY.vocab, mask_token_id=MASK, pad_token_id=PAD, mlm_probability=0.3
    )
    rows = [{"input_ids": row, "langs": 0} for row in torch.from_numpy(stream_blocks(TINY, 4))]
    firsts, seconds = tlm_pairs(TINY, 4)
    batches = {
        "stream": (masking(rows, gen), False),
        "causal": (CausalCollator()(rows), True),
        "padded": (masking([tlm_example(a, b, 0, 0) for a, b in zip(firsts, seconds)], gen), False),
    }

    def step(kernels: str, compiled: bool, batch: dict, causal: bool):
        model.training_kernels, model.compile_encoder = kernels, compiled
        inputs = prepare_batch(batch, PAD, 512) if kernels == "fused" else batch
        inputs = {k: v.to(device) if torch.is_tensor(v) else v for k, v in inputs.items()}
        model.zero_grad(set_to_none=True)
        loss = model(**inputs, causal=causal, num_items_in_batch=torch.tensor(9, device=device)).loss
        loss.backward()
        return loss.detach(), torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    out: dict[str, Any] = {"device": device}
    checks = [(name, False) for name in batches] + [("stream", True), ("padded", True)]
    for name, compiled in checks:
        try:
            hf, ours = step("hf", False, *batches[name]), step("fused", compiled, *batches[name])
            out[f"{name}{' compiled' if compiled else ''}: loss, gradient rel. diff vs HF"] = [
                float((ours[0] - hf[0]).abs() / hf[0].abs()),
                float((ours[1] - hf[1]).norm() / hf[1].norm()),
            ]
        except Exception as err:  # a report, not a stop: the timed runs still run
            out[f"{name}{' compiled' if compiled else ''}"] = f"failed: {type(err).__name__}: {err}"[:300]
    if device != "cuda":
        return out
    from torch.nn.attention import SDPBackend, sdpa_kernel

    base = torch.randn(8, 256, 3, 8, 128, device=device, dtype=torch.bfloat16, requires_grad=True)
    q, k, v = base.permute(2, 0, 3, 1, 4).unbind(0)  # the layer's layout: views of one qkv product
    bias = torch.zeros(8, 1, 1, 256, device=device, dtype=torch.bfloat16)
    bias[..., 200:] = torch.finfo(torch.bfloat16).min
    kernels = {
        "flash, no mask": (SDPBackend.FLASH_ATTENTION, {}),
        "flash, is_causal": (SDPBackend.FLASH_ATTENTION, {"is_causal": True}),
        "memory-efficient, key-padding bias": (SDPBackend.EFFICIENT_ATTENTION, {"attn_mask": bias}),
    }
    for label, (backend, kwargs) in kernels.items():
        try:
            with sdpa_kernel([backend]):
                F.scaled_dot_product_attention(q, k, v, dropout_p=0.1, **kwargs).sum().backward()
            out[f"kernel {label}"] = "ok"
        except RuntimeError as err:
            out[f"kernel {label}"] = f"unavailable: {str(err).splitlines()[0][:200]}"
    step("fused", False, *batches["padded"])  # warmed up: handles and caches exist
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            step("fused", False, *batches["padded"])
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [f"{Path(w.filename).name}:{w.lineno}" for w in seen if "synchroniz" in str(w.message)]
    out["host syncs in one fused step (padded batch, eager)"] = Counter(syncs).most_common(8)
    return out


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One run in this (fresh) process; returns its figures."""
    import torch
    import transformers

    from bench.pretraining import flops_per_token

    sizes, run = Sizes(**spec["sizes"]), Run(**spec["run"])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    global TRACE_FILE
    if os.environ.get("GPU_CHECK_TRACE"):
        TRACE_FILE = Path(os.environ["GPU_CHECK_TRACE"]) / f"trace-{run.name}-{run.path}.json.gz"
    if run.task == "preflight":
        return preflight(device)
    build = _xnli_trainer if run.task == "xnli" else _pretraining_trainer
    trainer, timer = build(run, sizes, device, spec["output_dir"])
    started = time.perf_counter()
    output = trainer.train()
    total_seconds = time.perf_counter() - started
    marks = timer.marks
    seconds = marks["timed_end"] - marks["warmup_end"]
    tokens = int(marks["tokens_end"] - marks["tokens_start"])
    step_seconds = seconds / sizes.timed
    warmup_seconds = marks["warmup_end"] - timer.started
    pretraining = run.task != "xnli"
    seq = sizes.seq if pretraining else tokens / (sizes.timed * sizes.xnli_batch)  # mean real length
    flops = flops_per_token(
        sizes.emb_dim, sizes.n_layers, round(seq), sizes.vocab, 0.15 if pretraining else 0.0
    )
    if run.task == "mlm-tlm":  # TLM steps have other lengths: no one FLOP count per token
        flops = None
    gpu = torch.cuda.get_device_name() if device == "cuda" else f"none (CPU: {platform.processor() or 'x86'})"
    peak = next((v for name, v in DENSE_BF16_PEAK.items() if name in gpu), None)
    tokens_per_second = tokens / seconds
    logged = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    dynamo = sys.modules.get("torch._dynamo")
    graphs = dynamo.utils.counters["stats"]["unique_graphs"] if dynamo is not None else 0
    optimizer = trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer") else trainer.optimizer
    return {
        "name": run.name,
        "path": run.path,
        "settings": {
            "task": run.task,
            "training_kernels": run.kernels,
            "attention": run.attention,
            "compile": run.compile,
            "compile_mode": run.compile_mode,
        }
        if run.path == "xlm_hf"
        else {"task": run.task, "attention": run.attention},
        "tokens_per_second": tokens_per_second,
        "mfu": flops["total"] * tokens_per_second / peak if peak and flops else None,
        "peak_memory_mb": marks["peak_memory"] / 2**20 if marks["peak_memory"] is not None else None,
        "loss": logged[-1] if logged else None,
        "gpu": gpu,
        "date": datetime.date.today().isoformat(),
        "step_ms": 1000 * step_seconds,
        "timed_steps": sizes.timed,
        "tokens_per_step": tokens / sizes.timed,
        "warmup_seconds": warmup_seconds,
        "compile_seconds": max(0.0, warmup_seconds - sizes.warmup * step_seconds),
        "compiled_graphs": graphs,
        "train_loss": output.training_loss,
        "loss_curve": logged,
        "host_syncs_per_step": len(timer.syncs) if device == "cuda" else None,
        "host_sync_sources": Counter(timer.syncs).most_common(8),
        "profile": timer.profile,
        # the profiled step runs slower (the profiler's own host work): the device's busy time over
        # a steady step is the fairer share (well under 1: the host holds the GPU up)
        "device_busy_share_of_step": (
            timer.profile["device_busy_ms"] / (1000 * step_seconds) if device == "cuda" else None
        ),
        "flops_per_token": flops,
        "optimizer": f"{type(optimizer).__name__} fused={optimizer.defaults.get('fused')}",
        "mixed_precision": "bf16" if device == "cuda" else "no",
        "sizes": asdict(sizes),
        "batch": sizes.batch if pretraining else sizes.xnli_batch,
        "total_seconds": total_seconds,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        # what would need a package the GPU machine's image lacks (Moses, `datasets` for corpora):
        # none of it may be imported (transformers itself imports `datasets` only where installed)
        "needs_packages_absent_on_the_gpu_image": [m for m in GPU_IMAGE_LACKS if sys.modules.get(m)],
    }


# ----------------------------------------------------------------------------- the whole check


def run_in_subprocess(spec: dict[str, Any], timeout: float, log) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = {**spec, "output_dir": f"{tmp}/out"}
        path = Path(tmp) / "spec.json"
        path.write_text(json.dumps(spec))
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
        }
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "bench.gpu_training", "--worker", str(path)],
                capture_output=True,
                text=True,
                env=env,
                cwd=HERE.parent,
                timeout=timeout,
            )
            output, failed = proc.stdout + proc.stderr, proc.returncode != 0
        except subprocess.TimeoutExpired as err:
            parts = [p.decode() if isinstance(p, bytes) else p for p in (err.stdout, err.stderr) if p]
            output, failed = "".join(parts) + f"\n[timed out after {timeout:.0f} s]", True
        name, where = spec["run"]["name"], spec["run"]["path"]
        log.write(f"===== {name} {where} ({time.perf_counter() - started:.0f} s)\n{output}\n")
        log.flush()
        if failed or not Path(f"{path}.out").exists():
            lines = [line for line in output.splitlines() if line.strip()]
            error = " | ".join(lines[-3:])[-600:]
            return {
                "name": spec["run"]["name"],
                "path": spec["run"]["path"],
                "error": error,
            }
        return json.loads(Path(f"{path}.out").read_text())


def comparisons(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets, from the runs that completed."""
    by = {(r["name"], r["path"]): r for r in runs if "error" not in r}
    out = []

    def add(figure, value, target, met):
        out.append({"figure": figure, "value": value, "target": target, "met": met})

    ours, theirs = by.get(("mlm-95k", "xlm_hf")), by.get(("mlm-95k", "hf"))
    if ours and ours["mfu"] is not None:
        add("MFU of xlm-hf's path, paper model at 95k", ours["mfu"], ">= 0.40", ours["mfu"] >= 0.40)
    if ours and theirs:
        speed = ours["tokens_per_second"] / theirs["tokens_per_second"]
        add("tokens/s, xlm_hf / hf, paper model at 95k", speed, ">= 4x", speed >= 4)
        if ours["peak_memory_mb"] and theirs["peak_memory_mb"]:
            memory = ours["peak_memory_mb"] / theirs["peak_memory_mb"]
            add("peak GPU memory, xlm_hf / hf", memory, "<= 1x", memory <= 1)
        if ours["loss"] is not None and theirs["loss"] is not None:
            add(
                "loss after the same steps, xlm_hf - hf",
                ours["loss"] - theirs["loss"],
                "within bf16 noise",
                None,
            )
    ours, theirs = by.get(("xnli", "xlm_hf")), by.get(("xnli", "hf"))
    if ours and theirs:
        speed = ours["tokens_per_second"] / theirs["tokens_per_second"]
        add("XNLI fine-tuning tokens/s, xlm_hf / hf", speed, ">= 2x", speed >= 2)
    return out


def markdown(results: dict[str, Any]) -> str:
    """The README table of the runs (and the targets below it)."""
    lines = [
        f"{results['gpu']}, {results['date']} (torch {results['versions']['torch']}, transformers "
        f"{results['versions']['transformers']}):",
        "",
        "| run | path | tokens/s | MFU | peak memory | step | compile | host syncs / step | loss |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        if "error" in r:
            lines.append(f"| {r['name']} | {r['path']} | failed: {r['error'][:80]} | | | | | | |")
            continue
        mfu = f"{100 * r['mfu']:.1f} %" if r["mfu"] is not None else "-"
        memory = f"{r['peak_memory_mb'] / 1024:.1f} GB" if r["peak_memory_mb"] is not None else "-"
        syncs = r["host_syncs_per_step"] if r["host_syncs_per_step"] is not None else "-"
        loss = f"{r['loss']:.3f}" if r["loss"] is not None else "-"
        lines.append(
            f"| {r['name']} | {r['path']} | {r['tokens_per_second']:,.0f} | {mfu} | {memory} | "
            f"{r['step_ms']:.1f} ms | {r['compile_seconds']:.0f} s | {syncs} | {loss} |"
        )
    lines += ["", "| target | value | goal | met |", "|---|---|---|---|"]
    for c in results["targets"]:
        met = "-" if c["met"] is None else "yes" if c["met"] else "no"
        lines.append(f"| {c['figure']} | {c['value']:.3g} | {c['target']} | {met} |")
    return "\n".join(lines) + "\n"


def _one(
    run: Run, sizes: Sizes, deadline: float, wanted: list[str], log, whole_limit: bool = False
) -> dict[str, Any] | None:
    """One run in a subprocess, within what is left of the budget (None: not wanted, or no time;
    `whole_limit`: only when all of the run's allowance is left)."""
    if wanted and f"{run.name}:{run.path}" not in wanted and run.name not in wanted:
        return None
    left = deadline - time.perf_counter()
    if left < (run.limit if whole_limit else 30):
        print(f"skipped {run.name} {run.path}: {left:.0f} s of the budget left", file=sys.stderr)
        return None
    sizes = replace(sizes, timed=min(sizes.timed, run.timed or sizes.timed))
    spec = {"run": asdict(run), "sizes": asdict(sizes)}
    result = run_in_subprocess(spec, min(run.limit, left), log)
    summary = result.get("error") or f"{result['tokens_per_second']:,.0f} tokens/s"
    print(f"{run.name:14s} {run.path:7s} {summary}", file=sys.stderr)
    return result


def main() -> int:
    tiny = os.environ.get("GPU_CHECK_TINY", "") not in ("", "0")
    sizes = TINY if tiny else Sizes()
    budget = float(os.environ.get("GPU_CHECK_BUDGET", "450"))  # seconds for all runs together
    results_path = Path(os.environ.get("GPU_CHECK_RESULTS", RESULTS))
    out_dir = Path(os.environ["GPU_CHECK_OUT"]) if os.environ.get("GPU_CHECK_OUT") else None
    wanted = os.environ.get("GPU_CHECK_RUNS", "").split()
    deadline = time.perf_counter() + budget
    log_path = (out_dir or results_path.parent) / "gpu_check.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    with open(log_path, "w", encoding="utf-8") as log:
        spec = {"run": asdict(PREFLIGHT), "sizes": asdict(sizes)}
        limit = 600 if tiny else PREFLIGHT.limit  # a cold compile on a shared CPU takes minutes
        if wanted and "preflight" not in wanted:  # a subset of runs: the preflight only when named
            checks = {"skipped": "GPU_CHECK_RUNS does not name it"}
        else:
            checks = run_in_subprocess(spec, min(limit, budget), log)
        print(f"preflight: {json.dumps(checks)}", file=sys.stderr)
        for run in REQUIRED:
            runs.append(_one(run, sizes, deadline, wanted, log))
        for run in extras_in_order([r for r in runs if r is not None]):
            runs.append(_one(run, sizes, deadline, wanted, log, whole_limit=True))
    runs = [r for r in runs if r is not None]
    first = next((r for r in runs if "error" not in r), {})
    results = {
        "gpu": first.get("gpu", "unknown"),
        "date": datetime.date.today().isoformat(),
        "versions": first.get("versions", {"torch": "?", "transformers": "?"}),
        "sizes": asdict(sizes),
        "preflight": checks,
        "runs": runs,
        "targets": comparisons(runs),
    }
    text = json.dumps(results, indent=1) + "\n"
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(text)
    if out_dir is not None:
        (out_dir / "gpu_results.json").write_text(text)
    print(markdown(results))
    return 0 if runs and all("error" not in r for r in runs) else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        spec_path = Path(sys.argv[2])
        with contextlib.redirect_stdout(sys.stderr):
            result = worker(json.loads(spec_path.read_text()))
        Path(f"{spec_path}.out").write_text(json.dumps(result))
    else:
        raise SystemExit(main())
