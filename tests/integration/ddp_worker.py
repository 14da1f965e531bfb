"""Launched by test_data_parallel under ``torchrun``: train with the toolkit's own trainer, then
record what this rank saw (its first micro-batches) and what it holds (its parameters).

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/integration/ddp_worker.py RECIPE OUT [overrides]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from xlm_hf.config.recipes import load_pretrain_recipe as load_recipe
from xlm_hf.pretrain import build_trainer


def main() -> None:
    recipe_path, out = sys.argv[1], Path(sys.argv[2])
    recipe = load_recipe(recipe_path, sys.argv[3:])
    trainer, _, checkpoint = build_trainer(recipe)
    rank = recipe.training.process_index
    batches = iter(trainer.mixture)
    seen = [[row.tolist() for row in next(batches)["input_ids"]] for _ in range(6)]
    trainer.train(resume_from_checkpoint=checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    model = trainer.accelerator.unwrap_model(trainer.model)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, out / f"rank{rank}.pt")
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    (out / f"rank{rank}.json").write_text(
        json.dumps({"world_size": trainer.args.world_size, "seen": seen, "losses": losses})
    )


if __name__ == "__main__":
    main()
