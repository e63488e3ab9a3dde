"""The worker scaffold (gui/worker.py): stale results dropped, failures typed, shutdown never blocks,
and the application's aboutToQuit waits for threads still ending."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import SIGNAL, QCoreApplication, Signal, Slot

from s2s_desktop.errors import CorpusError
from s2s_desktop.gui.worker import Failure, FailureKind, Worker, WorkerClient


class EchoWorker(Worker):
    echoed = Signal(int, object)  # request id, value

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()  # the test opens it: requests pile up in the queue meanwhile
        self.gate.set()
        self.finished_work = threading.Event()

    @Slot(int, object)
    def echo(self, req: int, value: object) -> None:
        def work() -> None:
            self.gate.wait(5)
            if isinstance(value, BaseException):
                raise value
            self.echoed.emit(req, value)

        self.guard(req, FailureKind.TRANSLATE, work)

    @Slot(int, float)
    def sleep(self, req: int, seconds: float) -> None:
        """Long work that honours the shutdown request only when `seconds` is negative."""
        end = time.monotonic() + abs(seconds)
        while time.monotonic() < end and not (seconds < 0 and self.closing.is_set()):
            time.sleep(0.01)
        self.finished_work.set()


class EchoClient(WorkerClient):
    echoed = Signal(object)
    stale_kinds = {FailureKind.TRANSLATE: "echo"}
    _echo = Signal(int, object)
    _sleep = Signal(int, float)

    def __init__(self) -> None:
        super().__init__(EchoWorker(), "test-echo")
        self._echo.connect(self.worker.echo)
        self._sleep.connect(self.worker.sleep)
        self.worker.echoed.connect(lambda req, value: self.accept("echo", req) and self.echoed.emit(value))
        self.ensure_thread()

    def echo(self, value: object) -> int:
        req = self.new_request("echo")
        self._echo.emit(req, value)
        return req


@pytest.fixture
def client(qtbot):
    c = EchoClient()
    yield c
    c.worker.gate.set()
    c.shutdown(wait_ms=5000)


def test_results_of_superseded_requests_are_dropped(qtbot, client):
    shown = []
    client.echoed.connect(shown.append)
    client.worker.gate.clear()  # the first request blocks: the next ones wait in the queue
    ids = [client.echo(f"text {k}") for k in range(5)]
    assert ids == sorted(ids) and client.worker.superseded("echo", ids[0])
    assert not client.worker.superseded("echo", ids[-1])
    client.worker.gate.set()
    qtbot.waitUntil(lambda: client.dropped == 4, timeout=5000)
    qtbot.wait(50)
    assert shown == ["text 4"]


def test_failures_are_typed_and_nothing_escapes(qtbot, client):
    failures = []
    client.failed.connect(failures.append)
    for value in (CorpusError("pairs.tsv, line 2: no tab"), ValueError("a bug"), MemoryError()):
        with qtbot.waitSignal(client.failed, timeout=5000):
            client.echo(value)
    user, bug, memory = failures
    assert user == Failure(FailureKind.TRANSLATE, "pairs.tsv, line 2: no tab")  # the input's fault: no traceback
    assert bug.kind is FailureKind.TRANSLATE and bug.message == "ValueError: a bug" and "Traceback" in bug.details
    assert memory.message == "out of memory"
    with qtbot.waitSignal(client.echoed, timeout=5000) as after:  # the thread survived all three
        client.echo("still here")
    assert after.args == ["still here"]


def test_a_stale_failure_is_dropped_and_a_failure_names_its_subject(qtbot, client):
    failures = []
    client.failed.connect(failures.append)
    client.worker.gate.clear()
    client.echo(ValueError("about an old text"))
    client.echo("a newer text")
    client.worker.gate.set()
    qtbot.waitUntil(lambda: client.dropped == 1, timeout=5000)
    assert failures == []
    assert Failure(FailureKind.OPEN_MODEL, "bad", subject="/m/x.s2s").action == "opening /m/x.s2s"
    assert Failure(FailureKind.CHECK_CORPUS, "bad").action == "checking the corpus"


def test_shutdown_does_not_wait_for_running_work(qtbot, client):
    client._sleep.emit(client.new_request(), 0.8)  # ignores the request to stop
    qtbot.wait(50)
    start = time.perf_counter()
    assert client.shutdown() is False  # still running...
    assert time.perf_counter() - start < 0.1  # ...and it did not wait for it
    assert client.thread_running
    qtbot.waitUntil(lambda: not client.thread_running, timeout=5000)  # it ends on its own, once the work is done
    assert client.worker.finished_work.is_set()


def test_shutdown_stops_work_that_checks_for_it(qtbot, client):
    client._sleep.emit(client.new_request(), -30.0)  # stops as soon as it is asked to
    qtbot.wait(50)
    start = time.perf_counter()
    assert client.shutdown(wait_ms=5000) is True
    assert time.perf_counter() - start < 2


def test_about_to_quit_waits_for_a_thread_still_ending(qtbot):
    app = QCoreApplication.instance()
    before = app.receivers(SIGNAL("aboutToQuit()"))
    client = EchoClient()
    assert app.receivers(SIGNAL("aboutToQuit()")) == before + 1  # the backstop is connected
    client._sleep.emit(client.new_request(), 0.5)
    qtbot.wait(50)
    assert client.shutdown() is False
    client._at_quit()  # what aboutToQuit runs: it waits (bounded) until the thread has ended
    assert not client.thread_running and client.worker.finished_work.is_set()


def test_a_worker_thread_lowers_the_gil_switch_interval(qtbot):
    import sys

    from s2s_desktop.gui import worker

    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)  # Python's default: a Qt paint's callbacks into Python would each wait this
    try:
        c = EchoClient()
        assert sys.getswitchinterval() == pytest.approx(worker.UI_SWITCH_INTERVAL_S)
        c.shutdown(wait_ms=5000)
    finally:
        sys.setswitchinterval(before)
