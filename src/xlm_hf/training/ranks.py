"""Preparation in waves across processes and nodes: the global main first, then each other node's
main, then every other process.

What a run prepares before training (the vocabulary, the token store) lives in folders that the
nodes may share (one file system) or not (each its own ``XLM_HF_CACHE``). `node_mains_first`
covers both without being told which: the global main process builds what is missing while every
other process waits; then the main process of each other node checks its own folders, finding
everything on a shared file system and building its node's copy otherwise; then the remaining
processes of every node only map what is there. So a shared store is built by one process, never
by two nodes at once, and a node-local one by one process per node.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def wave(args: Any) -> int:
    """0: the global main process; 1: the main process of another node; 2: any other process."""
    if args.process_index == 0:
        return 0
    return 1 if args.local_process_index == 0 else 2


@contextmanager
def node_mains_first(args: Any) -> Iterator[None]:
    """Run the body in this process's `wave`, after the waves before it have finished everywhere.

    Every process passes the same two barriers (before its body and after it, as its wave says),
    also when the body raises: the others then run the body too, and meet the same error
    themselves rather than wait for a process that is gone."""
    if args.world_size == 1:
        yield
        return
    mine = wave(args)
    state = args.distributed_state
    for _ in range(mine):
        state.wait_for_everyone()
    try:
        yield
    finally:
        for _ in range(mine, 2):
            state.wait_for_everyone()
