"""File > Serve on localhost: `s2s serve` in a child process for the open model, its status-bar line
(address, requests, last error), following the open model, and a port that is free again after stopping."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMainWindow, QMenu

from s2s_desktop.engine.api import ModelInfo
from s2s_desktop.gui.serve_switch import LocalServer, ServeStatus, attach, serve_unavailable

pytestmark = pytest.mark.skipif(bool(serve_unavailable()), reason="the serve extra is not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """A server (which sets SO_REUSEADDR, as s2s serve does) can listen on it again."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def post(address: str, payload: dict) -> int:
    req = urllib.request.Request(address + "/translate", json.dumps(payload).encode(),
                                 {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


class StandInWindow(QMainWindow):
    """What `attach` uses of the main window: model_info, client.model_opened, the status bar."""

    class Client(QObject):
        model_opened = Signal(object)

    def __init__(self):
        super().__init__()
        self.client = self.Client()
        self.model_info = None
        self.menu = QMenu("&File", self)
        self.menuBar().addMenu(self.menu)


def test_the_server_counts_requests_shows_the_last_error_and_frees_its_port(qtbot, tiny_model_file):
    port = free_port()
    window = QMainWindow()
    qtbot.addWidget(window)
    server = LocalServer(window, port=port)
    status = ServeStatus(server)
    window.statusBar().addPermanentWidget(status)
    window.resize(700, 120)
    window.show()
    server.start([str(tiny_model_file)], "cpu")
    assert status.text().startswith(f"Starting the server on port {port}")
    qtbot.waitUntil(lambda: server.address == f"http://127.0.0.1:{port}", timeout=60_000)
    assert post(server.address, {"q": "one two", "source": "en", "target": "de"}) == 200
    assert post(server.address, {"q": "one", "source": "en", "target": "fr"}) == 400
    qtbot.waitUntil(lambda: server.requests == 2, timeout=10_000)
    assert server.last_error == "400 on POST /translate"
    assert status.text() == f"Serving on http://127.0.0.1:{port} · 2 requests · last error: 400 on POST /translate"
    server.stop()
    assert not server.running and not status.isVisible()
    assert not port_is_free(port)  # still answering what is in flight
    qtbot.waitUntil(lambda: server._stopping is None, timeout=20_000)
    assert port_is_free(port)


def test_the_switch_follows_the_open_model_and_reports_a_busy_port(qtbot, tiny_model_file, tmp_path):
    window = StandInWindow()
    qtbot.addWidget(window)
    action = attach(window, window.menu)
    server = window.local_server
    action.setChecked(True)  # no model open yet
    assert not action.isChecked() and server.last_error == "open a model first"

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        server.port = busy.getsockname()[1]
        window.model_info = ModelInfo(path=str(tiny_model_file), src_lang="en", tgt_lang="de", device="cpu")
        action.setChecked(True)
        assert server.running and server.models == [str(tiny_model_file)]
        qtbot.waitUntil(lambda: not server.running, timeout=60_000)  # s2s serve: port in use
    assert not action.isChecked() and "is in use" in server.last_error

    server.port = free_port()
    action.setChecked(True)
    qtbot.waitUntil(lambda: bool(server.address), timeout=60_000)
    other = tmp_path / "other.s2s"
    other.write_bytes(tiny_model_file.read_bytes())
    window.model_info = ModelInfo(path=str(other), src_lang="en", tgt_lang="de", device="cpu")
    window.client.model_opened.emit(window.model_info)  # the app opened another model: serve that one
    assert server.running and server.models == [str(other)] and server.address == ""
    qtbot.waitUntil(lambda: bool(server.address), timeout=60_000)
    action.setChecked(False)
    assert not server.running
    qtbot.waitUntil(lambda: server._stopping is None, timeout=20_000)
