"""The objective mixture: one global batch per optimizer step, from one source at a time.

Which (objective, language-or-pair) source a step draws follows `data.mixture`: ``sample`` draws
every step an objective (uniformly), then one of its languages or pairs with p ∝ n^alpha (n = its
training tokens); ``xlm`` runs the original's cycle (`xlm_cycle_steps`). The draws depend only on
the seed and are the same on every data-parallel rank: at a step, all ranks train the same
objective and language, each rank and accumulation micro-step on its own rows of the global batch
(per-device batch × ranks × accumulation steps). So N processes × batch B, or N accumulation steps
× batch B, see exactly the examples and masks of one batch N·B; a resumed run replays the draws.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import IterableDataset

from xlm_hf.data.sampling import smoothed_probabilities
from xlm_hf.data.sources import Source


def rank_rows(n_rows: int, part: int, parts: int) -> slice:
    """Part `part` of `parts` contiguous shares of a global batch of `n_rows` (sizes differ by at most one)."""
    return slice(part * n_rows // parts, (part + 1) * n_rows // parts)


def slice_batch(batch: dict, rows: slice) -> dict:
    """The `rows` of a collated batch; padding columns no row of the slice uses are cut off."""
    out = {k: v[rows] if torch.is_tensor(v) and v.dim() > 0 else v for k, v in batch.items()}
    if "attention_mask" in out and out["attention_mask"].numel():
        width = int(out["attention_mask"].sum(dim=1).max())
        out = {k: v[:, :width] if torch.is_tensor(v) and v.dim() == 2 else v for k, v in out.items()}
    return out


def mixture_probabilities(sources: Sequence[Source], alpha: float | str) -> np.ndarray:
    """P(source) = P(objective) · P(language | objective): objectives equal, languages ∝ n^alpha."""
    objectives = sorted({s.objective for s in sources})
    probs = np.zeros(len(sources))
    for objective in objectives:
        members = [i for i, s in enumerate(sources) if s.objective == objective]
        within = smoothed_probabilities([sources[i].n_tokens for i in members], alpha)
        probs[members] = within / len(objectives)
    return probs


MIXTURES = ("sample", "xlm")
XLM_STEPS_PER_OBJECTIVE = 5  # the original's `shuf_order(..., n=5)`
XLM_OBJECTIVE_ORDER = ("clm", "mlm", "tlm")  # its loop: clm_steps, then mlm_steps (languages, then pairs)


def xlm_groups(sources: Sequence[Source], alpha: float | str) -> list[tuple[list[int], np.ndarray]]:
    """Per objective, in the original's order: (indices of its sources, p ∝ sentences^alpha).

    Sentences, not tokens, as the original weighs its datasets by their length in sentences; the
    two directions of a TLM pair share a corpus and so a weight."""
    groups = []
    for objective in XLM_OBJECTIVE_ORDER:
        members = [i for i, s in enumerate(sources) if s.objective == objective]
        if members:
            groups.append((members, smoothed_probabilities([sources[i].n_sentences for i in members], alpha)))
    return groups


def xlm_cycle_steps(sources: Sequence[Source], alpha: float | str, rng: np.random.Generator) -> Iterator[int]:
    """Source indices, one per optimizer step, in the original's training loop: each iteration
    runs min(5, #languages) CLM steps, then min(5, #languages) MLM steps, then min(5, #directions)
    TLM steps, each step's language (or direction) drawn with replacement, p ∝ sentences^alpha."""
    groups = xlm_groups(sources, alpha)
    while True:
        for members, probs in groups:
            picks = rng.choice(len(members), size=min(XLM_STEPS_PER_OBJECTIVE, len(members)), p=probs)
            yield from (members[int(i)] for i in picks)


def sampled_steps(probs: np.ndarray, rng: np.random.Generator) -> Iterator[int]:
    """Source indices, one per optimizer step, each drawn independently with `probs`."""
    while True:
        yield int(rng.choice(len(probs), p=probs))


def xlm_step_shares(sources: Sequence[Source], alpha: float | str) -> np.ndarray:
    """The long-run share of steps of each source under `xlm_cycle_steps`."""
    groups = xlm_groups(sources, alpha)
    cycle = sum(min(XLM_STEPS_PER_OBJECTIVE, len(members)) for members, _ in groups)
    shares = np.zeros(len(sources))
    for members, probs in groups:
        shares[members] = probs * min(XLM_STEPS_PER_OBJECTIVE, len(members)) / cycle
    return shares


# ----------------------------------------------------------------------------- sources


class MixtureBatches(IterableDataset):
    """Endless micro-batches: per optimizer step, a source (`mixture`: ``sample``, see
    `mixture_probabilities`, or ``xlm``, see `xlm_cycle_steps`) and its next global batch (epochs
    reshuffled), then this rank's rows of it for each accumulation step.

    Everything random comes from generators seeded by the seed alone, identical on every rank: the
    same seed gives the same global batches, which is what makes `resume_from_checkpoint` continue on
    the same data, and splitting a batch over ranks or accumulation steps leaves it unchanged.
    """

    def __init__(
        self,
        sources: Sequence[Source],
        alpha: float | str = 0.7,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        accumulation: int = 1,
        mixture: str = "sample",
    ) -> None:
        if not sources:
            raise ValueError("no training data: every source is empty")
        if mixture not in MIXTURES:
            raise ValueError(f"mixture {mixture!r} is not one of {', '.join(MIXTURES)}")
        parts = world_size * accumulation
        too_small = [f"{s.objective}.{s.name}" for s in sources if min(map(len, s.batches)) < parts]
        if too_small:
            raise ValueError(
                f"{too_small}: a batch has fewer rows than its {parts} parts (ranks × accumulation steps)"
            )
        no_sentences = [f"{s.objective}.{s.name}" for s in sources if s.n_sentences < 1]
        if mixture == "xlm" and no_sentences:
            raise ValueError(
                f"{no_sentences}: the xlm mixture weighs sources by sentences, and these have none"
            )
        self.sources = list(sources)
        self.alpha, self.mixture = alpha, mixture
        # the share of steps of each source (the xlm cycle's in the long run)
        self.probs = (
            mixture_probabilities(sources, alpha) if mixture == "sample" else xlm_step_shares(sources, alpha)
        )
        self.seed, self.rank, self.world_size, self.accumulation = seed, rank, world_size, accumulation
        self.start = 0  # micro-batches to skip (resume): global_step × gradient_accumulation_steps

    def steps(self, rng: np.random.Generator) -> Iterator[int]:
        """The source of each optimizer step, drawn from `rng` (the stream shared by all ranks)."""
        if self.mixture == "xlm":
            return xlm_cycle_steps(self.sources, self.alpha, rng)
        return sampled_steps(self.probs, rng)

    def __iter__(self) -> Iterator[dict]:
        rng = np.random.default_rng([self.seed, 0])  # 0: the stream shared by all ranks
        orders = [rng.permutation(len(s.batches)) for s in self.sources]
        cursors = [0] * len(self.sources)
        parts = self.world_size * self.accumulation
        for draw, k in enumerate(self.steps(rng)):
            if cursors[k] == len(orders[k]):
                orders[k], cursors[k] = rng.permutation(len(self.sources[k].batches)), 0
            index = int(orders[k][cursors[k]])
            cursors[k] += 1
            # batches before `start` were trained before a resume: only draw them
            if (draw + 1) * self.accumulation > self.start:
                source = self.sources[k]
                whole = source.batch(index, self.generator(draw))
                for micro in range(self.accumulation):
                    if draw * self.accumulation + micro < self.start:
                        continue
                    rows = rank_rows(len(whole["input_ids"]), micro * self.world_size + self.rank, parts)
                    batch = whole if parts == 1 else slice_batch(whole, rows)
                    batch["source"] = f"{source.objective}.{source.name}"
                    batch["n_tokens"] = tokens_in(batch)
                    yield batch

    def generator(self, draw: int) -> torch.Generator:
        """Masking randomness of global batch `draw`: independent of the batches before it, so
        skipping is free, and the same on every rank, so ranks cut the same masked batch."""
        seed = int(np.random.SeedSequence([self.seed, 0, draw]).generate_state(1)[0])
        return torch.Generator().manual_seed(seed)

    def describe(self) -> list[tuple[str, float, int]]:
        return [(f"{s.objective}.{s.name}", float(p), s.n_tokens) for s, p in zip(self.sources, self.probs)]


def tokens_in(batch: dict) -> int:
    """Non-pad tokens of a collated batch (for tokens/s)."""
    return int(batch["attention_mask"].sum()) if "attention_mask" in batch else batch["input_ids"].numel()
