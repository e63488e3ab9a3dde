"""One thread for every torch call of a process that works from several threads (`s2s serve`).

torch's CPU kernels run their parallel regions on GNU OpenMP here. libgomp keeps a team of worker
threads for each thread that has started a region, and once it manages more threads than there are
cores it stops spin-waiting between regions: every region then pays a futex wake-up. Measured on the
2-core CI machine (torch 2.13): after the main thread has run one region, a 5x256 by 256x1024 linear
costs 62 us on the main thread and 186 us on a second thread, a softmax over 5x1024 4 us and 22-34 us;
one sentence at beam 5 took 43 ms on the main thread and 135 ms on the server's batching thread, and
a batch of 20 took 233 ms against 580 ms. A thread that is the only one to have run torch is as fast as
the main thread. So a server loads, prepares and decodes every model on this one thread; the threads
that batch requests hand it their calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class TorchThread:
    """`call(fn, ...)` runs `fn` on this object's one thread and returns its result (or raises its error)."""

    def __init__(self, name: str = "s2s-torch"):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._ident = self._pool.submit(threading.get_ident).result()

    def call(self, fn: Callable[..., T], *args, **kwargs) -> T:
        if threading.get_ident() == self._ident:  # already on it (a call made by a call): no deadlock
            return fn(*args, **kwargs)
        return self._pool.submit(fn, *args, **kwargs).result()

    @property
    def ident(self) -> int:
        return self._ident

    def close(self) -> None:
        """Finish the calls already handed over, then end the thread."""
        self._pool.shutdown(wait=True)


def call_here(fn: Callable[..., T], *args, **kwargs) -> T:
    """The runner for callers that need no thread of their own (tests, a single-threaded process)."""
    return fn(*args, **kwargs)
