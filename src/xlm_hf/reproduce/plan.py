"""A study's plan: the steps it runs, in order, and where each one writes.

    pretrain-<v>               xlm-hf pretrain --config <recipe of v> <pretrain_overrides>
    xnli-<variant>-seed<s>     xlm-hf finetune-xnli --config <finetune> <finetune_overrides>

The ``random`` variant fine-tunes the architecture and tokenizer of ``random_init_from`` with
fresh weights (``xnli.init=random``). Planning reads recipes only: nothing here imports
transformers or torch.
"""

from __future__ import annotations

from pathlib import Path

from xlm_hf.config.loader import load_sections
from xlm_hf.config.sections import RANDOM, StudyConfig
from xlm_hf.errors import ConfigError
from xlm_hf.steps import Step, study_overrides


def load_study(path: str, overrides: list[str] = ()) -> StudyConfig:
    """The study, with every step's recipe and overrides checked: a typo fails now, not hours in."""
    from xlm_hf.config.recipes import load_pretrain_recipe, load_xnli_recipe  # they bring in transformers

    study = load_sections(path, list(overrides), {"study": StudyConfig})["study"]
    for step in plan(study):
        load = load_pretrain_recipe if step.argv[0] == "pretrain" else load_xnli_recipe
        try:
            load(step.argv[2], step.argv[3:])
        except ConfigError as err:
            raise ConfigError(f"study step {step.name} ({step.argv[2]}): {err}") from None
    return study


def pretrained_dir(study: StudyConfig, variant: str) -> Path:
    return Path(study.output_dir) / f"pretrain-{variant}"


def finetune_dir(study: StudyConfig, variant: str, seed: int) -> Path:
    return Path(study.output_dir) / f"xnli-{variant}-seed{seed}"


def budget_variant(variant: str, steps: int) -> str:
    """A pretrained variant stopped at a budget: ``mlm-tlm@1500``, fine-tuned from that checkpoint."""
    return f"{variant}@{steps}"


def budget_variants(study: StudyConfig) -> list[tuple[str, str, int]]:
    """``(name, variant, steps)`` of every budget point, in order (pretrained variants only)."""
    return [
        (budget_variant(v, b), v, b) for v in study.variants if v != RANDOM for b in sorted(study.budgets)
    ]


def model_dir(study: StudyConfig, variant: str) -> Path:
    """The model a variant fine-tunes from (a budget point: its pretraining checkpoint)."""
    name, _, steps = variant.partition("@")
    source = study.random_init_from if name == RANDOM else name
    if steps:
        return pretrained_dir(study, source) / f"checkpoint-{steps}"
    return pretrained_dir(study, source)


def plan(study: StudyConfig) -> list[Step]:
    """Every training step of the study, in the order they run: pretraining, then fine-tuning."""
    steps = []
    pretrained = sorted(
        {v for v in study.variants if v != RANDOM}
        | ({study.random_init_from} if RANDOM in study.variants else set())
    )
    for variant in pretrained:
        out = pretrained_dir(study, variant)
        argv = [
            "pretrain",
            "--config",
            study.pretrain[variant],
            *study_overrides({"training.output_dir": str(out)}),
        ]
        steps.append(
            Step(
                f"pretrain-{variant}",
                argv
                + study_overrides({**study.pretrain_overrides, **study.variant_overrides.get(variant, {})}),
                out,
                "results.json",
            )
        )
    # seed by seed, so that a study cut short still compares every variant; the budget points last
    runs = [(variant, seed) for seed in study.seeds for variant in study.variants]
    runs += [(name, seed) for seed in study.budget_seeds for name, _, _ in budget_variants(study)]
    for variant, seed in runs:
        out = finetune_dir(study, variant, seed)
        argv = [
            "finetune-xnli",
            "--config",
            study.finetune,
            *study_overrides(
                {
                    "xnli.model_name_or_path": str(model_dir(study, variant)),
                    "xnli.init": "random" if variant == RANDOM else "pretrained",
                    "training.seed": seed,
                    "training.output_dir": str(out),
                }
            ),
        ]
        steps.append(
            Step(
                f"xnli-{variant}-seed{seed}",
                argv + study_overrides(study.finetune_overrides),
                out,
                "xnli_results.json",
            )
        )
    return steps
