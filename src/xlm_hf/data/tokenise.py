"""Tokenisation: lines of text to token ids, in chunks shared out to worker processes, in order.

The main process reads the inputs (one line at a time) and cuts them into chunks of
`LINES_PER_CHUNK` lines; forked workers tokenise the chunks, and their ids come back in input
order, a few chunks in flight per worker, so one large language keeps every core busy and the
store is written as the text is read. The workers share the words they learn (`Tokeniser`). With one process the chunks are tokenised in-process.
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


def _init_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a worker holds nothing to clean up
    _die_with_parent()
    if os.getppid() != parent:  # the parent ended before the request took effect
        os._exit(1)


#: Chunks in flight per worker: enough that a worker never waits for the reader or for the
#: in-order hand-back of a slower neighbour, few enough to bound the memory of the results.
CHUNKS_AHEAD = 3


def word_cache(tokenizer: Any) -> dict[str, list[int]] | None:
    """The word → ids cache `FastXLMTokenizer.encode_text` fills (None for the reference tokenizer)."""
    learned = getattr(tokenizer, "learned_words", None)
    return learned() if learned else None


def encode_chunk_sharing(job: Job, learned: list[tuple[str, list[int]]]) -> tuple[Result, list]:
    """`encode_chunk` in a worker that first takes the words other workers `learned` into its
    cache, and returns with the ids the words it learned itself (for the others)."""
    tokenizer_dir, fast, preprocessing, _ = job
    cache = word_cache(load_tokenizer(tokenizer_dir, fast, preprocessing))
    if cache is None:
        return encode_chunk(job), []
    cache.update(learned)
    known = len(cache)
    result = encode_chunk(job)
    after = word_cache(load_tokenizer(tokenizer_dir, fast, preprocessing))
    # a dict keeps insertion order: what this chunk added comes last (unless the cache was reset)
    return result, list(itertools.islice(after.items(), known, None)) if after is cache else []


def _serve(tasks: Any, results: Any, parent: int) -> None:
    """A worker: chunks from `tasks` until None, each result (or the error) to `results`."""
    import pickle

    _init_worker(parent)
    while (item := tasks.get()) is not None:
        try:
            results.put((encode_chunk_sharing(*item), None))
        except Exception as err:  # the caller raises it; an error that cannot travel, as its text
            try:
                pickle.dumps(err)
            except Exception:
                err = RuntimeError(f"{type(err).__name__}: {err}")
            results.put((None, err))


class Tokeniser:
    """Tokenises chunks in order, in `processes` forked workers (or in this process when 1).

    Chunk i goes to worker i mod `processes` and its result comes back from that worker, so the
    order costs no bookkeeping. Each distinct word is segmented once per run rather than once per
    worker: a worker returns the words it learned with each result, and the next chunk sent to
    every other worker carries them (on a real corpus every worker meets nearly every word, and
    learning a word costs more than shipping its ids: without this, 2 workers spent about 6 %
    more CPU than 1 process). The ids are the same either way: a word's ids do not depend on
    which process segmented it.

    Use as a context manager: leaving it stops the workers, at once when an error or a signal
    is leaving it."""

    def __init__(self, processes: int) -> None:
        self.processes = max(1, processes)
        self.workers: list[tuple[Any, Any, Any]] = []  # (process, tasks, results)

    def __enter__(self) -> Tokeniser:
        if self.processes > 1:
            import multiprocessing

            context = multiprocessing.get_context("fork")  # workers inherit the loaded tokenizer
            for _ in range(self.processes):
                tasks, results = context.Queue(), context.Queue()
                process = context.Process(target=_serve, args=(tasks, results, os.getpid()), daemon=True)
                process.start()
                self.workers.append((process, tasks, results))
        return self

    def __exit__(self, kind, error, trace) -> None:
        for process, tasks, _ in self.workers:
            if kind is None:
                tasks.put(None)
            else:
                process.kill()
        for process, tasks, results in self.workers:
            process.join()
            for queue in (tasks, results):
                queue.cancel_join_thread()  # nothing left in them is wanted
                queue.close()
        self.workers = []

    def _result(self, worker: int) -> tuple[Result, list]:
        """The next result of `worker` (raising its error), watching that it is still alive."""
        import queue

        process, _, results = self.workers[worker]
        while True:
            try:
                result, err = results.get(timeout=1.0)
                break
            except queue.Empty:
                if not process.is_alive():
                    raise RuntimeError(f"a tokenising worker ended (exit code {process.exitcode})") from None
        if err is not None:
            raise err
        return result

    def map(self, jobs: Iterable[Job]) -> Iterator[Result]:
        """The result of every job, in order; at most `CHUNKS_AHEAD` jobs per worker read ahead."""
        if not self.workers:
            yield from map(encode_chunk, jobs)
            return
        n = len(self.workers)
        owed: list[list] = [[] for _ in range(n)]  # words learned by the others, not yet sent
        jobs, sent, received, more = iter(jobs), 0, 0, True
        while True:
            while more and sent - received < CHUNKS_AHEAD * n:
                job = next(jobs, None)
                if job is None:
                    more = False
                    break
                self.workers[sent % n][1].put((job, owed[sent % n]))
                owed[sent % n] = []
                sent += 1
            if received == sent:
                return
            result, learned = self._result(received % n)
            if learned:
                for other in range(n):
                    if other != received % n:
                        owed[other].extend(learned)
            received += 1
            yield result


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
