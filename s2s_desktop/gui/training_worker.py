"""Training from the app: a `Worker` on its own thread that starts the engine's trainer in a child
process and forwards every event (the child's metrics.jsonl lines, as api events) as a signal. Pause and stop are
`threading.Event`s that the GUI thread sets directly (a queued "stop" slot would wait behind the
running loop); this thread passes them on to the child. The thread, the guard and the shutdown are
the worker scaffold's (gui/worker.py).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from s2s_desktop.engine.api import Event
from s2s_desktop.errors import CheckpointError
from s2s_desktop.gui.corpus_check import CorpusCheck
from s2s_desktop.gui.worker import Failure, FailureKind, Worker, WorkerClient

log = logging.getLogger(__name__)
RUN = "run"  # the request channel of training runs
CHILD_ACTIONS = {k.value: k for k in (FailureKind.START_RUN, FailureKind.TRAIN, FailureKind.CHECK_CORPUS)}


def child_failure(reply: dict[str, Any]) -> Failure:
    """The training child's ERROR line ({"action", "message", "traceback"?}) as a Failure."""
    kind = CHILD_ACTIONS.get(reply.get("action", ""), FailureKind.TRAIN)
    return Failure(kind, str(reply.get("message", "")), details=reply.get("traceback") or "")


class TrainingWorker(Worker):
    event = Signal(object)  # an api Event (RunStarted, StepReport, EvalReport, SampleTranslations, ...)
    done = Signal(int)  # request id: the run ended (after its Finished or Failed event)

    def __init__(self) -> None:
        super().__init__()
        self.stop = threading.Event()
        self.pause = threading.Event()
        self.hurry = threading.Event()  # with stop: skip the last validation, save at once

    def cancel(self) -> None:
        """The app is closing: finish the current step, save a model, end the run."""
        super().cancel()
        self.pause.clear()
        self.stop.set()

    @Slot(int, object, object, bool)
    def run(self, req: int, model_cfg: dict, train_cfg: dict, resume: bool) -> None:
        """Train in a child process (see engine/training/child.py for why) and relay its events.
        This thread only forwards the GUI's pause and stop and parses one small JSON line per event."""
        if self.closing.is_set():
            self.done.emit(req)
            return
        self.stop.clear()
        self.pause.clear()
        self.hurry.clear()
        proc = None

        def work() -> None:  # a failure to start the process becomes a Failure (the guard)
            nonlocal proc
            from s2s_desktop.engine.training.child import ERROR, TrainingProcess

            proc = TrainingProcess(model_cfg, train_cfg, resume, idle=True)
            while True:
                proc.control(pause=self.pause.is_set(), stop=self.stop.is_set(), now=self.hurry.is_set())
                event = proc.next_event(timeout=0.1)
                if event is None:
                    break
                if event is False:
                    continue
                if event["event"] == ERROR:
                    if event.get("traceback"):
                        log.error("training failed:\n%s", event["traceback"])
                    self.failed.emit(req, child_failure(event))
                else:
                    self._emit_event(event)

        try:
            self.guard(req, FailureKind.TRAIN, work)
        finally:
            if proc is not None and not proc.join(timeout=30):
                proc.kill()
            self.done.emit(req)

    def _emit_event(self, line: dict[str, Any]) -> None:
        """A line from the child (a metrics.jsonl dict) as the api event it stands for; a kind this
        version does not know, or a malformed line, is skipped."""
        try:
            event = Event.from_json(line)
        except CheckpointError as exc:
            log.warning("skipped a training event: %s", exc)
            return
        if event is not None:
            self.event.emit(event)


class TrainingClient(WorkerClient):
    """The GUI thread's handle: starts runs and corpus checks (those in a child process of their
    own, see corpus_check), pauses and stops."""

    corpus_checked = Signal(object)  # api.CorpusCounts
    event = Signal(object)  # an api Event
    done = Signal()
    quit_wait_ms = 120_000  # at quit, a run finishes its step and saves a model: wait for it
    _run = Signal(int, object, object, bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(TrainingWorker(), "s2s-training", parent)
        self.running = False
        self._run.connect(self.worker.run)
        self.corpus_check = CorpusCheck(self)
        self.corpus_check.checked.connect(self.corpus_checked)
        self.corpus_check.failed.connect(self._on_check_failed)
        self.worker.event.connect(self.event)
        self.worker.done.connect(self._on_done)

    def check_corpus(self, train_cfg: dict[str, Any]) -> None:
        self.corpus_check.start(dict(train_cfg))

    def start(self, model_cfg: dict[str, Any], train_cfg: dict[str, Any], resume: bool = False) -> None:
        """The thread starts with the first run, so a window that never trains owns no thread."""
        self.ensure_thread()
        self.running = True
        self._run.emit(self.new_request(RUN), dict(model_cfg), dict(train_cfg), resume)

    def set_paused(self, paused: bool) -> None:
        (self.worker.pause.set if paused else self.worker.pause.clear)()

    @property
    def paused(self) -> bool:
        return self.worker.pause.is_set()

    def stop(self, now: bool = False) -> None:
        """Finish the current step, validate, save a model, end the run (asynchronous: wait for `done`).
        `now`: without the validation (or cutting one in progress short)."""
        self.worker.pause.clear()
        if now:
            self.worker.hurry.set()
        self.worker.stop.set()

    def shutdown(self, wait_ms: int = 0) -> bool:
        """Stop the run and end the thread without waiting (by default); `done` follows when the run has
        saved its model."""
        self.corpus_check.cancel()
        ended = super().shutdown(wait_ms)
        if ended:
            self.running = False
        return ended

    def _on_check_failed(self, _action: str, message: str) -> None:
        self.failed.emit(Failure(FailureKind.CHECK_CORPUS, message))

    def _on_done(self, req: int) -> None:
        if self.accept(RUN, req):
            self.running = False
            self.done.emit()
