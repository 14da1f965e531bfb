"""Tokenisation: lines of text to token ids, in chunks shared out to worker processes, in order.

The main process reads the inputs (one line at a time) and cuts them into chunks of
`LINES_PER_CHUNK` lines; forked workers tokenise the chunks, and their ids come back in input
order, a few chunks in flight per worker, so one large language keeps every core busy and the
store is written as the text is read. With one process the chunks are tokenised in-process.
Each language uses its own pre-processing; `FastXLMTokenizer` gives the ids of `XLMTokenizer`
several times sooner (``data.fast_tokenizer: false`` uses the reference itself).

Workers write nothing: on SIGTERM they end at once, and they end when their parent does (even
on SIGKILL, through the kernel's parent-death signal), so no tokeniser outlives a stopped run.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import signal
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from xlm_hf.text.pretokenize import use_preprocessing, xlm_encode

#: Lines per chunk: large enough that the transfer to a worker costs little next to tokenising.
LINES_PER_CHUNK = 2000
#: By default, a worker per this many bytes of text, at most one per core and `MAX_AUTO_PROCESSES`
#: (a worker starts with an empty word cache, which costs about a second).
BYTES_PER_PROCESS = 2_000_000
MAX_AUTO_PROCESSES = 8

_TOKENIZERS: dict[tuple[str, bool, str | None], Any] = {}


def load_tokenizer(tokenizer_dir: str, fast: bool = True, preprocessing: str | None = None) -> Any:
    """The tokenizer of `tokenizer_dir`; `preprocessing` is used if the directory records none."""
    if (tokenizer_dir, fast, preprocessing) not in _TOKENIZERS:
        if fast:
            from xlm_hf.text.fast_tokenizer import FastXLMTokenizer as tokenizer_class
        else:
            from transformers import XLMTokenizer as tokenizer_class

        tokenizer = tokenizer_class.from_pretrained(tokenizer_dir)
        use_preprocessing(tokenizer, preprocessing, "model.preprocessing")
        _TOKENIZERS[tokenizer_dir, fast, preprocessing] = tokenizer
    return _TOKENIZERS[tokenizer_dir, fast, preprocessing]


def encode(
    texts: list[str], tokenizer_dir: str, lang: str, fast: bool = True, preprocessing: str | None = None
) -> list[list[int]]:
    """Token ids with `lang`'s own pre-processing, no special tokens (streams add `</s>`).

    `fast` gives the same ids as the reference (`xlm_encode` with `XLMTokenizer`), only sooner.
    `preprocessing`: ``hf`` or ``xlm`` where the tokenizer directory records none (else ignored).
    """
    tok = load_tokenizer(tokenizer_dir, fast, preprocessing)
    if fast:
        return [tok.encode_text(t, lang) for t in texts]
    return [xlm_encode(tok, t, lang) for t in texts]


#: A chunk to tokenise: (tokenizer dir, fast, pre-processing, [(language, lines) per column]).
Job = tuple[str, bool, str | None, list[tuple[str, list[str]]]]
#: Its ids: (all ids concatenated, ids per line) per column.
Result = list[tuple[np.ndarray, np.ndarray]]


def encode_chunk(job: Job) -> Result:
    tokenizer_dir, fast, preprocessing, columns = job
    out = []
    for lang, texts in columns:
        ids = encode(texts, tokenizer_dir, lang, fast, preprocessing)
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int32, count=int(lengths.sum()))
        out.append((flat, lengths))
    return out


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def process_count(num_proc: int | None, text_bytes: int | None) -> int:
    """Tokenising processes: `num_proc` when set; by default one per core (at most
    `MAX_AUTO_PROCESSES`) and per `BYTES_PER_PROCESS` of text (`text_bytes` None: a hub corpus,
    whose size is not known before it is read)."""
    if num_proc is not None:
        return num_proc
    cores = min(available_cores(), MAX_AUTO_PROCESSES)
    return cores if text_bytes is None else max(1, min(cores, text_bytes // BYTES_PER_PROCESS))


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent ends (PR_SET_PDEATHSIG); elsewhere a no-op."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return


def init_worker(parent: int) -> None:
    """In a forked worker: SIGTERM ends it whatever handler the parent had, Ctrl-C is the parent's,
    and the worker ends with its parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a worker holds nothing to clean up
    _die_with_parent()
    if os.getppid() != parent:  # the parent ended before the request took effect
        os._exit(1)


class Tokeniser:
    """Tokenises chunks in order, in `processes` forked workers (or in this process when 1).

    Use as a context manager: leaving it stops the workers, at once when an error or a signal
    is leaving it."""

    def __init__(self, processes: int) -> None:
        self.processes = max(1, processes)
        self.pool = None

    def __enter__(self) -> Tokeniser:
        if self.processes > 1:
            import multiprocessing

            context = multiprocessing.get_context("fork")  # workers inherit the loaded tokenizer
            self.pool = context.Pool(self.processes, initializer=init_worker, initargs=(os.getpid(),))
        return self

    def __exit__(self, kind, error, trace) -> None:
        if self.pool is not None:
            if kind is None:
                self.pool.close()
            else:
                self.pool.terminate()
            self.pool.join()
            self.pool = None

    def map(self, jobs: Iterable[Job]) -> Iterator[Result]:
        """The result of every job, in order; at most two jobs per worker are read ahead."""
        if self.pool is None:
            yield from map(encode_chunk, jobs)
            return
        pending: deque = deque()
        for job in jobs:
            pending.append(self.pool.apply_async(encode_chunk, (job,)))
            if len(pending) >= 2 * self.processes:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def chunks(items: Iterable[Any], size: int | None = None) -> Iterator[list[Any]]:
    """Lists of `size` (default `LINES_PER_CHUNK`) consecutive items, the last one shorter."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size or LINES_PER_CHUNK)):
        yield chunk


class Progress:
    """One progress bar for a whole phase: bytes of input read (for the ETA) and lines tokenised."""

    def __init__(self, total_bytes: int | None, desc: str = "tokenise") -> None:
        from tqdm.auto import tqdm

        self.lines, self.started = 0, time.perf_counter()
        self.bar = tqdm(
            total=total_bytes or None,
            desc=desc,
            unit="B",
            unit_scale=True,
            mininterval=1.0,
            bar_format="{desc}: {percentage:3.0f}%|{bar:20}| {n_fmt}B/{total_fmt}B [{elapsed}<{remaining}{postfix}]"
            if total_bytes
            else "{desc}: {n_fmt}B [{elapsed}{postfix}]",
        )

    def read(self, n_bytes: int) -> None:
        self.bar.update(n_bytes)

    def tokenised(self, n_lines: int) -> None:
        self.lines += n_lines
        rate = self.lines / max(time.perf_counter() - self.started, 1e-3)
        self.bar.set_postfix_str(f"{self.lines:,} lines, {rate:,.0f} lines/s", refresh=False)

    def describe(self, name: str) -> None:
        self.bar.set_description_str(f"tokenise {name}", refresh=False)

    def close(self) -> None:
        self.bar.close()


@contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into `SystemExit` while corpora are prepared, so the workers are stopped and
    the build folder removed on the way out (unless a handler of the caller is in place)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        yield
    finally:
        if previous is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)
