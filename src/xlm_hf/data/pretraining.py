"""From tokenised corpora to what the trainer consumes: training sources and fixed validation sets."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from xlm_hf.config import DataConfig
from xlm_hf.data.collators import CausalCollator, MaskingCollator, word_weights_from_counts
from xlm_hf.data.corpora import Corpora
from xlm_hf.data.streams import (
    Source,
    filter_pairs,
    length_batches,
    pack_flat,
    packing_efficiency,
    stream_source,
    tlm_example,
    tlm_source,
)
from xlm_hf.errors import ConfigError
from xlm_hf.trainer import ValidationSet

logger = logging.getLogger(__name__)

VALIDATION_SEED = 1234  # validation masks are drawn once from this seed: comparable across evals


@dataclass
class PretrainingData:
    sources: list[Source]
    validation: list[ValidationSet]
    packing: dict[str, float] = field(default_factory=dict)  # per stream source: non-pad fraction
    dropped_pairs: dict[str, int] = field(default_factory=dict)


def flat_ids(ds, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(all ids concatenated, length of each row) of a list column, straight from Arrow."""
    array = ds.data.column(column).combine_chunks()
    if len(array) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return array.flatten().to_numpy().astype(np.int64), array.value_lengths().to_numpy().astype(np.int64)


def token_counts(corpora: Corpora, vocab_size: int) -> torch.Tensor:
    """How often each id occurs in the training data (for `sample_alpha` target weights)."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    columns = [(ds, "input_ids") for ds in corpora.mono_train.values()]
    columns += [(ds, c) for ds in corpora.para_train.values() for c in ("ids1", "ids2")]
    for ds, column in columns:
        values, _ = flat_ids(ds, column)
        counts += np.bincount(values, minlength=vocab_size)[:vocab_size]
    counts[1] += sum(len(ds) for ds in corpora.mono_train.values())  # each sentence ends with </s>
    return torch.from_numpy(counts)


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
    out = PretrainingData([], [])
    for objective in (o for o in config.objectives if o in ("mlm", "clm")):
        collate = masking if objective == "mlm" else causal
        for lang in config.languages:
            blocks = pack_flat(*flat_ids(corpora.mono_train[lang], "input_ids"), config.max_seq_length)
            if len(blocks) < parts:
                logger.warning(
                    "%s: %s has fewer than %d training tokens (a block per rank and accumulation step); skipped",
                    objective,
                    lang,
                    config.max_seq_length * parts,
                )
                continue
            out.packing[f"{objective}.{lang}"] = packing_efficiency(blocks)
            out.sources.append(
                stream_source(objective, lang, lang2id[lang], blocks, batch_size * parts, collate, parts)
            )
            valid = pack_flat(
                *flat_ids(corpora.mono_valid[lang], "input_ids"), config.max_seq_length, keep_tail=True
            )
            examples = [{"input_ids": row, "langs": lang2id[lang]} for row in torch.from_numpy(valid)]
            out.validation.append(
                _fixed_batches(objective, lang, examples, _chunks(len(examples), eval_batch_size), collate)
            )
    if "tlm" in config.objectives:
        pairs = {}  # corpus -> (train, valid), each (ids of its first language, ids of its second)
        for pair, train in corpora.para_train.items():
            ids1, ids2, n_long = filter_pairs(
                train["ids1"], train["ids2"], config.tlm_max_len, config.tlm_long_pairs
            )
            out.dropped_pairs[pair] = n_long if config.tlm_long_pairs == "drop" else 0
            valid = corpora.para_valid[pair]
            v1, v2, _ = filter_pairs(valid["ids1"], valid["ids2"], config.tlm_max_len, "truncate")
            pairs[pair] = ((ids1, ids2), (v1, v2))
        tokens_per_batch = config.tlm_tokens_per_batch and config.tlm_tokens_per_batch * parts
        for name, corpus in tlm_directions(config.tlm_pairs, list(pairs)):
            train, valid = pairs[corpus]
            if name != corpus:  # the corpus read the other way round: its second language first
                train, valid = train[::-1], valid[::-1]
            if len(train[0]) < parts:
                continue
            a, b = name.split("-")
            lang_ids = (lang2id[a], lang2id[b])
            out.sources.append(
                tlm_source(
                    name, lang_ids, *train, batch_size * parts, tokens_per_batch, masking, min_rows=parts
                )
            )
            examples = [tlm_example(x, y, *lang_ids) for x, y in zip(*valid)]
            batches = length_batches([len(e["input_ids"]) for e in examples], eval_batch_size)
            out.validation.append(_fixed_batches("tlm", name, examples, batches, masking))
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
