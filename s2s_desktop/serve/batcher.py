"""One engine worker per model: the sentences of concurrent requests are decoded together.

`Translator` is not safe for concurrent calls and one model copy per request would multiply the memory,
so each model gets one thread that owns it. Requests put a `Job` (their sentences) in a bounded queue;
the thread waits a few milliseconds for more jobs with the same decoding options, then hands all their
sentences to `Translator.translate` as one call, which sorts them into length buckets. Each job gets its
own slice of the results through a `concurrent.futures.Future` (awaitable from asyncio with
`asyncio.wrap_future`). The decoding itself runs through `runner`: in `s2s serve` the process's one torch
thread (engine/torch_thread.py: torch on a second thread is 3x slower here), shared by every model.
A cancelled job (its client went away or its time ran out) leaves the queue at once; a batch whose jobs
are all cancelled stops after the current length bucket.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from s2s_desktop.engine.api import DecodeOptions, Translation
from s2s_desktop.engine.torch_thread import call_here
from s2s_desktop.errors import S2SError

log = logging.getLogger("s2s.serve")


class QueueFull(Exception):
    """The worker already holds its maximum of waiting requests (the server answers 429)."""


class ShuttingDown(Exception):
    """The server stopped before this request was decoded."""


class SupportsTranslate(Protocol):
    def translate(self, texts: Sequence[str], opts: DecodeOptions = ..., batch_tokens: int = ...,
                  progress: Any = ..., *, attention: bool = ...) -> list[Translation]: ...


@dataclass(eq=False)
class Job:
    """The sentences of one request, decoded with `opts` into `target` (a multilingual model's code)."""

    sentences: tuple[str, ...]
    opts: DecodeOptions
    target: str | None = None
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    cancelled: bool = False

    @property
    def key(self) -> tuple[DecodeOptions, str | None]:
        return self.opts, self.target  # jobs decode together only when both match


@dataclass
class WorkerStats:
    requests: int = 0  # jobs decoded (not the cancelled ones)
    sentences: int = 0
    batches: int = 0
    cancelled: int = 0  # jobs dropped because their client went away or ran out of time
    rejected: int = 0  # jobs refused because the queue was full


class BatchWorker:
    """The thread that owns one model; `submit` from any thread, results come back on the job's future."""

    def __init__(self, translator: SupportsTranslate, name: str, max_queue: int = 64, wait_ms: float = 5.0,
                 max_batch: int = 64, batch_tokens: int = 8000, regroup_ms: float = 30.0,
                 runner: Callable[..., Any] = call_here):
        self.translator = translator
        self.runner = runner  # runner(fn, *args, **kwargs): where the translator's calls run
        self.name = name
        self.max_queue = max_queue  # waiting requests; the next one gets QueueFull
        self.wait = wait_ms / 1000  # how long an idle worker waits for more requests before decoding
        self.max_batch = max_batch  # sentences per engine call (a bigger request is still taken whole)
        self.batch_tokens = batch_tokens
        # After a batch that ended with requests already waiting, wait up to this long for the clients
        # just answered to send their next request, so that they join the waiting ones: without it, 32
        # clients settle into two cohorts of 16 that alternate, and each waits for the other's batch.
        self.regroup = regroup_ms / 1000
        self._answered = 0  # sentences of the last batch, when requests were waiting as it ended
        self.stats = WorkerStats()
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"s2s-serve-{name}", daemon=True)
        self._thread.start()

    # -- any thread -----------------------------------------------------------------------------------
    def submit(self, sentences: Sequence[str], opts: DecodeOptions, target: str | None = None) -> Job:
        job = Job(tuple(sentences), opts, target)
        with self._cond:
            if self._stopping:
                raise ShuttingDown(f"the {self.name} model is shutting down")
            if len(self._queue) >= self.max_queue:
                self.stats.rejected += 1
                raise QueueFull(f"{len(self._queue)} requests are already waiting for the {self.name} model")
            self._queue.append(job)
            self._cond.notify()
        return job

    def cancel(self, job: Job) -> None:
        """Stop spending work on `job`: out of the queue now, or out of its batch at the next bucket."""
        with self._cond:
            if job.cancelled or job.future.done():
                return
            job.cancelled = True
            self.stats.cancelled += 1
            try:
                self._queue.remove(job)
            except ValueError:
                pass  # already taken into a batch: the progress callback sees the flag
            job.future.cancel()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def close(self, timeout: float = 10.0) -> None:
        """Refuse new jobs, fail the waiting ones with ShuttingDown, let the running batch finish."""
        with self._cond:
            self._stopping = True
            waiting = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for job in waiting:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(ShuttingDown("the server stopped before this request was translated"))
        self._thread.join(timeout)

    # -- the worker thread ----------------------------------------------------------------------------
    def _take(self) -> list[Job] | None:
        """Wait for a job, then up to `wait` for company; return the jobs of one batch (None: stop)."""
        with self._cond:
            while not self._queue and not self._stopping:
                self._cond.wait()
            if self._stopping:
                return None
            want = self.max_batch
            deadline = time.monotonic() + self.wait
            if self._answered:  # another cohort was waiting: give the answered one time to come back
                want = min(self.max_batch, sum(len(j.sentences) for j in self._queue) + self._answered)
                deadline = time.monotonic() + self.regroup
            while sum(len(j.sentences) for j in self._queue) < want and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            if not self._queue:  # all cancelled while we waited
                return []
            key, batch, size = self._queue[0].key, [], 0
            for job in list(self._queue):
                if job.key != key or (batch and size + len(job.sentences) > self.max_batch):
                    continue
                self._queue.remove(job)
                batch.append(job)
                size += len(job.sentences)
        return [job for job in batch if job.future.set_running_or_notify_cancel()]

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            if batch:
                self._decode(batch)
            with self._cond:
                self._answered = sum(len(j.sentences) for j in batch) if self._queue else 0

    def _decode(self, batch: list[Job]) -> None:
        flat = [s for job in batch for s in job.sentences]
        opts, target = batch[0].key
        def decode() -> list[Translation]:
            if target is not None:
                self.translator.target_language = target
            return self.translator.translate(
                flat, opts, batch_tokens=self.batch_tokens,
                progress=lambda done, total: not all(job.cancelled for job in batch), attention=False,
            )

        try:
            out = self.runner(decode)
        except Exception as exc:  # delivered to each request; the route decides 400 or 500
            if not isinstance(exc, S2SError):
                log.exception("the %s model failed on a batch of %d sentences", self.name, len(flat))
            for job in batch:
                job.future.set_exception(exc)
            return
        self.stats.batches += 1
        start = 0
        for job in batch:
            end = start + len(job.sentences)
            if job.cancelled or len(out) < end:
                job.future.set_exception(concurrent.futures.CancelledError())
            else:
                job.future.set_result(out[start:end])
                self.stats.requests += 1
                self.stats.sentences += len(job.sentences)
            start = end
