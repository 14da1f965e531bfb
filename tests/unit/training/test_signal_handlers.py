"""Signal handlers of a training run do not outlive it, even when training raises."""

from __future__ import annotations

import multiprocessing
import os
import signal

from xlm_hf.data.tokenise import init_worker
from xlm_hf.training.checkpoints import StopOnSignal


def test_the_stopper_puts_back_the_handlers_it_replaced():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    stopper = StopOnSignal()
    stopper.on_train_begin(None, None, None)
    assert signal.getsignal(signal.SIGTERM) == stopper._handle
    stopper.restore()  # what pretrain and finetune call in `finally`, when train() raised too
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
    stopper.restore()  # twice (on_train_end, then finally) changes nothing
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def _worker_disposition(parent: int) -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: None)  # what a stopper left behind looks like
    init_worker(parent)
    os._exit(0 if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL else 3)


def test_pool_workers_end_at_sigterm_whatever_handler_the_parent_has(monkeypatch):
    # A pool's workers are ended with SIGTERM when it closes; a worker that inherited a handler
    # catching it (a training's stopper left behind by an error) never ended, and the pool hung.
    child = multiprocessing.get_context("fork").Process(target=_worker_disposition, args=(os.getpid(),))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    # the vocabulary's pool uses that initializer
    from xlm_hf import vocab

    seen = {}
    real_pool = vocab.Pool

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_pool(*args, **kwargs)

    monkeypatch.setattr(vocab, "Pool", spy)
    out = vocab.normalise([f"Line {i} here." for i in range(500)], "en", True, num_proc=2)
    assert len(out) == 500 and seen["initializer"] is init_worker
