"""The scaffold every slow job of the app runs in: a `Worker` (a QObject moved to a thread of its own)
and the GUI thread's `WorkerClient` for it.

The client owns the thread, numbers the requests and drops results that a newer request of the same
channel has made stale (translate-as-you-type never shows an old text). The worker's `guard` turns
every exception into a `Failure`, so nothing escapes into Qt. `shutdown` never waits by default: it
asks the work to stop and the thread to end, and keeps both alive until they have; the application's
`aboutToQuit` is the backstop that waits (bounded) for threads still ending, so a model being saved
is not cut off when the process exits.
"""

from __future__ import annotations

import enum
import itertools
import logging
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal

from s2s_desktop.errors import S2SError

log = logging.getLogger(__name__)

# The UI thread takes the GIL back after every call into Qt, and a Qt paint calls back into Python
# dozens of times (pyqtgraph's paint and boundingRect overrides). With a worker thread running Python,
# each of those waits up to the interpreter's switch interval (5 ms by default): 20-60 ms of a UI pause.
# 1 ms bounds the wait at a cost the workers do not measure (they compute in torch, without the GIL).
UI_SWITCH_INTERVAL_S = 0.001


class FailureKind(enum.Enum):
    """What was being done when something failed; the window and the panels route on this."""

    LOAD_ENGINE = "loading the engine"
    OPEN_MODEL = "opening"
    TRANSLATE = "translating"
    REDECODE = "re-decoding"
    TRANSLATE_FILE = "translating a file"
    SELF_ATTENTION = "computing the self-attention"
    EXPLAIN = "computing the attribution"
    BEAM_TREE = "searching the beam tree"
    COMPARE = "translating with the second model"
    TARGET_LANGUAGE = "choosing the target language"
    IMPORT_MODEL = "importing"
    EXPORT_MODEL = "exporting"
    START_RUN = "starting the run"
    TRAIN = "training"
    CHECK_CORPUS = "checking the corpus"


@dataclass(frozen=True)
class Failure:
    """Why a request failed: `message` is for the user (it names the file or field), `details` for the
    log (a traceback when the cause is a bug rather than the input), `subject` the file concerned."""

    kind: FailureKind
    message: str
    details: str = ""
    subject: str = ""

    @property
    def action(self) -> str:
        """What was being done, as a sentence fragment: "opening /path/model.s2s"."""
        return f"{self.kind.value} {self.subject}" if self.subject else self.kind.value


class Worker(QObject):
    """Base of the objects whose slots run on a worker thread. Subclasses wrap each slot's work in
    `guard` and check `superseded` between steps of long work."""

    failed = Signal(int, object)  # request id, Failure
    memory_message = "out of memory"

    def __init__(self) -> None:
        super().__init__()
        # Written by the GUI thread (dict item writes are atomic under the GIL), read here between
        # steps: the newest request id of each channel, and whether the app is shutting down.
        self.newest: dict[str, int] = {}
        self.closing = threading.Event()

    def superseded(self, channel: str, req: int) -> bool:
        """True when a newer request of `channel` was made after `req`, or the worker is closing."""
        return self.closing.is_set() or req < self.newest.get(channel, 0)

    def guard(self, req: int, kind: FailureKind, work: Callable[[], None], subject: str = "") -> None:
        """Run `work`; whatever it raises becomes `failed(req, Failure)`."""
        try:
            work()
        except S2SError as exc:
            self.failed.emit(req, Failure(kind, str(exc), subject=subject))
        except MemoryError:
            self.failed.emit(req, Failure(kind, self.memory_message, subject=subject))
        except Exception as exc:  # noqa: BLE001 - a bug or an unexpected OS/library error: report it, keep running
            details = traceback.format_exc()
            log.error("failure while %s:\n%s", kind.value, details)
            self.failed.emit(req, Failure(kind, f"{type(exc).__name__}: {exc}", details, subject))

    def cancel(self) -> None:
        """Called from the GUI thread at shutdown: make the running work stop at its next check."""
        self.closing.set()


_ending: dict[QThread, QObject] = {}  # threads asked to end (and their workers), kept alive until they have


def _keep_until_finished(thread: QThread, worker: QObject) -> None:
    for done in [t for t in _ending if t.isFinished()]:
        del _ending[done]
    _ending[thread] = worker


class WorkerClient(QObject):
    """The GUI thread's handle on one worker: its thread, its request ids, its shutdown."""

    failed = Signal(object)  # Failure (stale ones dropped)
    quit_wait_ms = 10_000  # how long the app's aboutToQuit waits for this thread to end
    stale_kinds: dict[FailureKind, str] = {}  # failures dropped when a newer request of the channel exists

    def __init__(self, worker: Worker, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._latest: dict[str, int] = {}
        self.dropped = 0  # stale results received and not passed on (for tests and diagnostics)
        self._thread = QThread()
        self._thread.setObjectName(name)
        self.worker = worker
        worker.moveToThread(self._thread)
        worker.failed.connect(self._on_failed)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self._at_quit)

    @property
    def thread_running(self) -> bool:
        return self._thread.isRunning()

    def ensure_thread(self) -> None:
        if not self._thread.isRunning():
            self.worker.closing.clear()
            if sys.getswitchinterval() > UI_SWITCH_INTERVAL_S:
                sys.setswitchinterval(UI_SWITCH_INTERVAL_S)
            self._thread.start()

    def new_request(self, channel: str | None = None) -> int:
        """A fresh request id; with `channel`, it supersedes every earlier request of that channel."""
        req = next(self._ids)
        if channel is not None:
            self._latest[channel] = req
            self.worker.newest[channel] = req  # read by the worker between steps: supersedes at once
        return req

    def latest(self, channel: str) -> int:
        return self._latest.get(channel, 0)

    def accept(self, channel: str, req: int) -> bool:
        """False (and counted in `dropped`) for a result that a newer request of `channel` made stale."""
        if req < self.latest(channel):
            self.dropped += 1
            return False
        return True

    def shutdown(self, wait_ms: int = 0) -> bool:
        """Ask the work to stop and the thread to end; wait at most `wait_ms`. True when it has ended.
        A thread still ending is kept alive until it has (the app's aboutToQuit waits for it)."""
        self.worker.cancel()
        if not self._thread.isRunning():
            return True
        self._thread.quit()
        if wait_ms > 0 and self._thread.wait(wait_ms):
            return True
        _keep_until_finished(self._thread, self.worker)
        return False

    def _at_quit(self) -> None:
        """The backstop: the event loop is ending, so this is the last chance to let the work finish."""
        self.shutdown()
        if self._thread.isRunning() and not self._thread.wait(self.quit_wait_ms):
            log.warning("%s did not end within %d ms of quitting", self._thread.objectName(), self.quit_wait_ms)

    def _on_failed(self, req: int, failure: Failure) -> None:
        channel = self.stale_kinds.get(failure.kind)
        if channel is not None and not self.accept(channel, req):
            return  # an error about a request the user has already replaced
        self.failed.emit(failure)
