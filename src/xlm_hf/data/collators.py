"""Batch collators: XLM masking for MLM/TLM, next-token labels for CLM.

Examples are dicts with ``input_ids`` (list or 1-D tensor), ``langs`` (a language id, or one per
token) and, for TLM, ``position_ids``. Padding goes on the right with ``<pad>`` (id 2); HF's
`XLMModel` derives lengths from it. Randomness comes from the ``generator`` argument, so a seeded
generator gives the same batch twice (validation does this: its masks never change between evals).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from xlm_hf.text.special_tokens import IGNORE_INDEX, N_SPECIAL  # specials: never random replacements


def pad_examples(examples: list[dict[str, Any]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad ``input_ids`` / ``langs`` / ``position_ids`` to the longest example."""
    length = max(len(e["input_ids"]) for e in examples)
    n = len(examples)
    input_ids = torch.full((n, length), pad_token_id, dtype=torch.long)
    langs = torch.zeros((n, length), dtype=torch.long)
    has_pos = "position_ids" in examples[0]
    positions = torch.zeros((n, length), dtype=torch.long)
    for i, ex in enumerate(examples):
        ids = torch.as_tensor(ex["input_ids"], dtype=torch.long)
        input_ids[i, : len(ids)] = ids
        lang = torch.as_tensor(ex["langs"], dtype=torch.long)
        langs[i, : len(ids)] = lang if lang.dim() else lang.expand(len(ids))
        if lang.dim() == 0:
            langs[i, len(ids) :] = lang  # a language per row is also a language for its padding
        if has_pos:
            positions[i, : len(ids)] = torch.as_tensor(ex["position_ids"], dtype=torch.long)
    batch = {"input_ids": input_ids, "langs": langs, "attention_mask": (input_ids != pad_token_id).long()}
    if has_pos:
        batch["position_ids"] = positions
    return batch


@dataclass
class MaskingCollator:
    """XLM masking (MLM and TLM): 15 % targets; 80 % ``<special1>``, 10 % random, 10 % kept.

    As in the original's ``mask_out``: padding is never a target, and neither is the first position
    of a sequence (for TLM the sequence is the whole pair, so that is the opening ``</s>``; for a
    stream block, the token the block starts with). ``predict_first_position=True`` lifts the
    second rule. With ``word_weights`` (count^-alpha per id, XLM's ``sample_alpha``) exactly
    ceil(p · N) targets are drawn in proportion to those weights, N counting the positions that can
    be targets, instead of independently. Random replacements never draw a special id (an
    intended difference: the original draws any id, ``<pad>`` and ``<special1>`` included).

    Example (vocab 20, mask 5, pad 2, ``torch.Generator().manual_seed(0)``)::

        >>> collate = MaskingCollator(vocab_size=20, mlm_probability=0.5)
        >>> batch = collate([{"input_ids": [1, 15, 16, 17, 1], "langs": 0},
        ...                  {"input_ids": [1, 18, 1], "langs": 1}], torch.Generator().manual_seed(0))
        >>> batch["input_ids"].tolist(), batch["labels"].tolist()
        ([[1, 15, 5, 5, 5], [1, 5, 1, 2, 2]], [[-100, -100, 16, 17, 1], [-100, 18, -100, -100, -100]])
        >>> batch["langs"].tolist(), batch["attention_mask"].tolist()
        ([[0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    """

    vocab_size: int
    mask_token_id: int = 5
    pad_token_id: int = 2
    mlm_probability: float = 0.15
    mask_replace_prob: float = 0.8
    random_replace_prob: float = 0.1
    word_weights: torch.Tensor | None = None
    predict_first_position: bool = False

    def __call__(self, examples: list[dict[str, Any]], generator: torch.Generator | None = None) -> dict:
        batch = pad_examples(examples, self.pad_token_id)
        original = batch["input_ids"]
        targets = self.choose_targets(original, generator)
        labels = torch.where(targets, original, torch.full_like(original, IGNORE_INDEX))
        action = torch.rand(original.shape, generator=generator)
        masked = targets & (action < self.mask_replace_prob)
        randomised = targets & ~masked & (action < self.mask_replace_prob + self.random_replace_prob)
        random_ids = torch.randint(N_SPECIAL, self.vocab_size, original.shape, generator=generator)
        input_ids = original.clone()
        input_ids[masked] = self.mask_token_id
        input_ids[randomised] = random_ids[randomised]
        return {**batch, "input_ids": input_ids, "labels": labels}

    def choose_targets(self, input_ids: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Boolean [batch, seq] of prediction targets (at least one per batch, see `candidates`)."""
        candidates = self.candidates(input_ids)
        if self.word_weights is not None:
            weights = self.word_weights[input_ids] * candidates
            # never more targets than tokens that can be drawn (ids unseen in training weigh 0)
            n_targets = min(math.ceil(self.mlm_probability * int(candidates.sum())), int((weights > 0).sum()))
            if n_targets == 0:
                return self._uniform_targets(input_ids, candidates, generator)
            chosen = torch.multinomial(
                weights.flatten().float(), n_targets, replacement=False, generator=generator
            )
            targets = torch.zeros(input_ids.numel(), dtype=torch.bool)
            targets[chosen] = True
            return targets.view_as(input_ids)
        return self._uniform_targets(input_ids, candidates, generator)

    def candidates(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Positions that may be targets: not padding and, unless `predict_first_position`, not a
        row's first position. A batch whose rows are all one token long keeps that token: the loss
        needs a target, and over none it would be NaN (a validation tail can be such a batch)."""
        real = input_ids != self.pad_token_id
        if self.predict_first_position:
            return real
        allowed = real.clone()
        allowed[:, 0] = False
        return allowed if allowed.any() else real

    def _uniform_targets(
        self, input_ids: torch.Tensor, candidates: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        targets = (torch.rand(input_ids.shape, generator=generator) < self.mlm_probability) & candidates
        if not targets.any():  # a tiny batch may draw none; a loss over zero targets would be NaN
            flat = candidates.flatten().nonzero().squeeze(1)
            pick = flat[torch.randint(len(flat), (1,), generator=generator)]
            targets.view(-1)[pick] = True
        return targets


@dataclass
class CausalCollator:
    """CLM: labels are the next token (HF's XLM head does not shift), padding and the last step ignored.

    Example::

        >>> CausalCollator()([{"input_ids": [1, 7, 8, 9], "langs": 3}])["labels"].tolist()
        [[7, 8, 9, -100]]
    """

    pad_token_id: int = 2

    def __call__(self, examples: list[dict[str, Any]], generator: torch.Generator | None = None) -> dict:
        batch = pad_examples(examples, self.pad_token_id)
        ids = batch["input_ids"]
        labels = torch.full_like(ids, IGNORE_INDEX)
        labels[:, :-1] = ids[:, 1:]
        labels[labels == self.pad_token_id] = IGNORE_INDEX
        return {**batch, "labels": labels}


def word_weights_from_counts(counts: torch.Tensor, alpha: float, predict_eos: bool = False) -> torch.Tensor:
    """XLM's target sampling weights: count^-alpha, zero for ids never seen and for the special
    tokens, ``</s>`` included, as in the original (its dictionary counts specials 0 times).
    ``predict_eos=True`` weighs ``</s>`` by its count like a word."""
    weights = counts.float().clamp(min=1) ** -alpha
    weights[counts == 0] = 0.0
    weights[:N_SPECIAL] = 0.0
    if predict_eos and counts[1] > 0:
        weights[1] = counts[1].float() ** -alpha
    return weights
