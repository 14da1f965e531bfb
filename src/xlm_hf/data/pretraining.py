"""From the token stores to what the trainer consumes: batch sources and fixed validation sets.

Start-up is O(sentences) numpy at most and reads no token of a training split: a stream's blocks
and batches are arithmetic on its length, and the TLM length buckets (a sort of every pair) are
kept beside the store (`store.cached_arrays`), so later runs and the other ranks map them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from xlm_hf.config.sections import DataConfig
from xlm_hf.data.batches import length_batches, length_buckets
from xlm_hf.data.collators import CausalCollator, MaskingCollator, word_weights_from_counts
from xlm_hf.data.corpora import Corpora
from xlm_hf.data.mixture import MixtureBatches
from xlm_hf.data.sources import (
    PAD,
    Source,
    StreamBlocks,
    TlmExamples,
    cut_blocks,
    select_pairs,
    stream_source,
    tlm_source,
)
from xlm_hf.data.store import PairStore, cached_arrays
from xlm_hf.data.validation import ValidationSet
from xlm_hf.errors import ConfigError

logger = logging.getLogger(__name__)

VALIDATION_SEED = 1234  # validation masks are drawn once from this seed: comparable across evals


@dataclass
class PretrainingData:
    sources: list[Source]
    validation: list[ValidationSet]
    packing: dict[str, float] = field(default_factory=dict)  # per stream source: non-pad fraction
    dropped_pairs: dict[str, int] = field(default_factory=dict)
    decontaminated: dict[str, int] = field(default_factory=dict)  # store entry -> lines kept out


def token_counts(corpora: Corpora, vocab_size: int) -> torch.Tensor:
    """How often each id occurs in the training data (for `sample_alpha` target weights)."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for store in corpora.mono_train.values():
        counts += store.token_counts(vocab_size)
    for pairs in corpora.para_train.values():
        counts += pairs.ids1.token_counts(vocab_size) + pairs.ids2.token_counts(vocab_size)
    counts[1] += sum(len(store) for store in corpora.mono_train.values())  # each sentence ends with </s>
    return torch.from_numpy(counts)


def tlm_buckets(
    pairs: PairStore,
    config: DataConfig,
    batch_size: int,
    tokens_per_batch: int | None,
    min_rows: int,
    folder=None,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(store rows in batch order, batch bounds, tokens, pairs too long) of a pair store's
    training batches; kept in the entry `folder` when there is one (both directions share them)."""
    settings = [config.tlm_max_len, config.tlm_long_pairs, batch_size, tokens_per_batch, min_rows]

    def compute() -> dict[str, np.ndarray]:
        rows, lengths, n_long = select_pairs(pairs, config.tlm_max_len, config.tlm_long_pairs)
        order, bounds = length_buckets(lengths, batch_size, tokens_per_batch, min_rows)
        return {"rows": rows[order], "bounds": bounds, "sizes": np.array([int(lengths.sum()), n_long])}

    if folder is None:
        index = compute()
    else:
        name = "tlm-" + hashlib.sha256(json.dumps(settings).encode()).hexdigest()[:16]
        index = cached_arrays(folder, name, compute)
    n_tokens, n_long = (int(x) for x in index["sizes"])
    return index["rows"], index["bounds"], n_tokens, n_long


def build_pretraining_data(
    config: DataConfig,
    corpora: Corpora,
    tokenizer,
    batch_size: int,
    eval_batch_size: int,
    parts: int = 1,
) -> PretrainingData:
    """Training sources of global batches and the fixed validation batches. A global batch is
    `batch_size` per device × `parts` (ranks × accumulation steps), TLM token budgets likewise."""
    lang2id = tokenizer.lang2id
    weights = None
    if config.sample_alpha > 0:
        counts = token_counts(corpora, len(tokenizer))
        weights = word_weights_from_counts(counts, config.sample_alpha, predict_eos=config.sample_alpha_eos)
    masking = MaskingCollator(
        vocab_size=len(tokenizer),
        mask_token_id=tokenizer.mask_token_id,
        pad_token_id=tokenizer.pad_token_id,
        mlm_probability=config.mlm_probability,
        mask_replace_prob=config.mask_replace_prob,
        random_replace_prob=config.random_replace_prob,
        word_weights=weights,
        predict_first_position=config.predict_first_position,
    )
    causal = CausalCollator(pad_token_id=tokenizer.pad_token_id)
    out = PretrainingData([], [], decontaminated=dict(corpora.decontaminated))
    for objective in (o for o in config.objectives if o in ("mlm", "clm")):
        collate = masking if objective == "mlm" else causal
        for lang in config.languages:
            store = corpora.mono_train[lang]
            # a corpus holds no <pad> as a rule: the counts kept in the store say so without a scan
            pads = None if store.counts is None or store.token_counts(PAD + 1)[PAD] else 0
            blocks = StreamBlocks(store.tokens, config.max_seq_length, lang2id[lang], pads)
            if len(blocks) < parts:
                logger.warning(
                    "%s: %s has fewer than %d training tokens (a block per rank and accumulation step); skipped",
                    objective,
                    lang,
                    config.max_seq_length * parts,
                )
                continue
            source = stream_source(objective, lang, lang2id[lang], blocks, batch_size * parts, collate, parts)
            out.packing[f"{objective}.{lang}"] = source.n_tokens / (len(blocks) * config.max_seq_length)
            out.sources.append(source)
            valid = cut_blocks(corpora.mono_valid[lang].tokens, config.max_seq_length, keep_tail=True)
            examples = [{"input_ids": row, "langs": lang2id[lang]} for row in torch.from_numpy(valid)]
            out.validation.append(
                _fixed_batches(objective, lang, examples, _chunks(len(examples), eval_batch_size), collate)
            )
    if "tlm" in config.objectives:
        tokens_per_batch = config.tlm_tokens_per_batch and config.tlm_tokens_per_batch * parts
        corpus_batches = {}  # corpus -> its length buckets and validation rows, shared by both directions
        for pair, train in corpora.para_train.items():
            rows, bounds, n_tokens, n_long = tlm_buckets(
                train,
                config,
                batch_size * parts,
                tokens_per_batch,
                parts,
                corpora.folders.get(f"para.{pair}"),
            )
            out.dropped_pairs[pair] = n_long if config.tlm_long_pairs == "drop" else 0
            valid = corpora.para_valid[pair]
            valid_rows, valid_lengths, _ = select_pairs(valid, config.tlm_max_len, "truncate")
            valid_batches = length_batches(valid_lengths, eval_batch_size)
            corpus_batches[pair] = ((rows, bounds, n_tokens), valid_rows, valid_batches)
        for name, corpus in tlm_directions(config.tlm_pairs, list(corpus_batches)):
            buckets, valid_rows, valid_batches = corpus_batches[corpus]
            if len(buckets[0]) < parts:
                continue
            a, b = name.split("-")
            first = (
                1 if name == corpus else 2
            )  # the corpus read the other way round: its second language first
            lang_ids = (lang2id[a], lang2id[b])
            examples = TlmExamples(corpora.para_train[corpus], lang_ids, config.tlm_max_len, first)
            out.sources.append(
                tlm_source(name, lang_ids, examples, None, batch_size * parts, None, masking, buckets=buckets)
            )
            valid_examples = TlmExamples(corpora.para_valid[corpus], lang_ids, config.tlm_max_len, first)
            examples = [valid_examples[row] for row in valid_rows.tolist()]
            out.validation.append(_fixed_batches("tlm", name, examples, valid_batches, masking))
    if not out.sources:
        raise ConfigError("data: no training data (every language and pair is empty or too short)")
    out.validation = [v for v in out.validation if v.batches]
    return out


def tlm_directions(listed: list[str] | None, corpora: list[str]) -> list[tuple[str, str]]:
    """(direction, corpus) of every TLM source: the `listed` directions (``data.tlm_pairs``;
    ``en-fr`` puts English first) or, by default, both directions of every corpus.

    >>> tlm_directions(None, ["en-fr"])
    [('en-fr', 'en-fr'), ('fr-en', 'en-fr')]
    >>> tlm_directions(["fr-en", "en-de"], ["en-fr", "en-de"])
    [('fr-en', 'en-fr'), ('en-de', 'en-de')]
    """
    if listed is None:
        return [(d, c) for c in corpora for d in (c, "-".join(reversed(c.split("-"))))]
    by_languages = {frozenset(c.split("-")): c for c in corpora}
    return [(d, by_languages[frozenset(d.split("-"))]) for d in listed]


def _chunks(n: int, size: int) -> list[list[int]]:
    return [list(range(i, min(i + size, n))) for i in range(0, n, size)]


def _fixed_batches(
    objective: str, name: str, examples: list[dict], batches: list[list[int]], collate
) -> ValidationSet:
    generator = torch.Generator().manual_seed(VALIDATION_SEED)
    collated = []
    for idx in batches:
        batch = collate([examples[i] for i in idx], generator)
        batch["causal"] = objective == "clm"
        collated.append(batch)
    return ValidationSet(objective, name, collated)


def build_mixture(data_cfg: DataConfig, data: PretrainingData, args: Any) -> MixtureBatches:
    """The recipe's mixture over `data.sources` for this rank (`args`: the training arguments' seed,
    process index, world size and gradient accumulation)."""
    return MixtureBatches(
        data.sources,
        data_cfg.lang_sampling_alpha,
        seed=args.seed,
        rank=args.process_index,
        world_size=args.world_size,
        accumulation=args.gradient_accumulation_steps,
        mixture=data_cfg.mixture,
    )
