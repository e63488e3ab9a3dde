"""Worker processes that search whole batches side by side: decoding throughput on several cores.

One search step is a chain of small matmuls and the Python dispatch between them, so a second torch
thread in the same process adds less than a second process of one thread on other batches: on a 2-core
EPYC, int8, 87 sentences/s on one thread, 122 on two, 2 x 83 in two processes (a probe); 1.05-1.35x one
process of two threads in bench_sameweights. It is the layout CTranslate2 uses for throughput
(`inter_threads`). A pool holds `workers` processes, each with
its own copy of the model read from the same file, in the same precision, on the CPU; `search` hands
them the batches `Translator.translate` made and gives the hypotheses back in order.

Only for a model that is a file (the CLI, the server, the benchmarks): a model changed in memory (the
app's training) is not what the workers would read. The file is checked (size and modification time)
when each worker loads it, so a file replaced under a pool fails loudly rather than translating with
other weights. Processes are spawned, never forked: forking a process that has started torch's thread
pools can deadlock. The payloads are our own ids and hypotheses between our own processes.
"""

from __future__ import annotations

import multiprocessing
import os
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from s2s_desktop.errors import ModelError

_worker = None  # in a worker process: its Translator
_failed: Exception | None = None  # in a worker process: why it could not load the model (raised per batch)


def _file_stamp(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def _start(path: str, stamp: tuple[int, int], precision: str, threads: int) -> None:
    """Worker initializer: the model from `path`, as the parent opened it."""
    global _worker, _failed
    from s2s_desktop.engine.decoding.service import Translator

    try:  # an initializer that raises breaks the whole pool and its message is lost: keep it for the batches
        if _file_stamp(path) != stamp:
            raise ModelError(f"{path} changed after it was opened: reopen it to translate with the new file")
        _worker = Translator.open(path, "cpu", threads=threads, precision=precision)
        _worker.model.eval()
    except Exception as e:  # noqa: BLE001 (given back to the parent as it is, with the first batch)
        _failed = e


def _search(ids, forced, opts, attention):
    if _failed is not None:
        raise _failed
    return _worker._search(ids, forced, opts, attention)


class DecodePool:
    """`workers` processes of `threads` torch threads each, decoding the model file at `path`."""

    def __init__(self, path: str, precision: str, workers: int, threads: int = 1):
        if workers < 2:
            raise ValueError("a decoding pool needs at least 2 workers")
        if not path or not os.path.isfile(path):
            raise ModelError("decoding in several processes needs a model file; this model is not one "
                             "(translate with one process)")
        self.path, self.workers = path, workers
        self._executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start,
                                             initargs=(path, _file_stamp(path), precision, threads))
        weakref.finalize(self, self._executor.shutdown, wait=False, cancel_futures=True)

    def search(self, jobs: Sequence[tuple], opts, attention: bool) -> Iterator[list]:
        """jobs: (ids, forced) per batch -> each batch's hypotheses, in the order of `jobs`, as each is ready.
        Closing the iterator early (a cancelled translation) drops the batches not yet started."""
        futures = [self._executor.submit(_search, ids, forced, opts, attention) for ids, forced in jobs]
        try:
            for future in futures:
                try:
                    yield future.result()
                except BrokenProcessPool as e:
                    raise ModelError(f"a decoding worker for {self.path} stopped ({e}); translate with one "
                                     "process (--workers 1)") from None
        finally:
            for future in futures:
                future.cancel()

    def warm(self, opts) -> None:
        """Start every worker and load its model now (each takes a few seconds), not in the first request."""
        from s2s_desktop.engine.api import UNK_ID

        list(self.search([([[UNK_ID]], [])] * (2 * self.workers), opts, False))

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
