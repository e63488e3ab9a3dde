"""File > Serve on localhost: the app's open model over the LibreTranslate API, for other programs.

The server is `s2s serve` in a child process (QProcess), not a thread of the app: it loads its own copy
of the model on its own cores, a crash there cannot take the window down, and stopping it (SIGTERM: the
requests in flight are answered, then the port is freed) needs no cooperation from the engine thread.
The window imports neither the ASGI stack nor torch for it. The status bar shows the address, the number
of requests answered and the last error, read from the server's one-line-per-request log.
"""

from __future__ import annotations

import importlib.util
import re
import sys

from PySide6.QtCore import QCoreApplication, QObject, QProcess, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel

DEFAULT_PORT = 5000  # LibreTranslate's, what its clients try first
STOP_GRACE_MS = 12_000  # the server answers requests in flight for up to 10 s; then it is killed
REQUEST_LINE = re.compile(r"\s(GET|POST|OPTIONS|HEAD|PUT|DELETE|PATCH) (\S+) (\d{3})\b")


def serve_unavailable() -> str:
    """Why this installation cannot serve ("" when it can)."""
    if getattr(sys, "frozen", False):
        return "The bundled app cannot serve; install s2s-desktop with pip and its serve extra for that"
    missing = [name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        return f"Serving needs the serve extra: pip install 's2s-desktop[serve]' (missing: {', '.join(missing)})"
    return ""


class LocalServer(QObject):
    """`s2s serve` on 127.0.0.1 for the given model files; `changed` after every visible change."""

    changed = Signal()

    def __init__(self, parent: QObject | None = None, port: int = DEFAULT_PORT):
        super().__init__(parent)
        self.port = port
        self.address = ""  # "http://127.0.0.1:5000" once it listens
        self.requests = 0
        self.last_error = ""
        self.models: list[str] = []
        self._proc: QProcess | None = None
        self._stopping: QProcess | None = None  # asked to stop, not finished yet
        self._pending: tuple[list[str], str] | None = None  # a start waiting for the old server to free the port
        self._stderr = b""
        self._kill = QTimer(self, singleShot=True, interval=STOP_GRACE_MS)
        self._kill.timeout.connect(self._force_stop)

    @property
    def running(self) -> bool:
        return self._proc is not None or self._pending is not None

    def start(self, models: list[str], device: str = "auto") -> None:
        """(Re)start on `models`; a running server is stopped first (the new one starts once the old one
        has freed the port)."""
        self._stop()
        self.models, self.address, self.requests, self.last_error = list(models), "", 0, ""
        if self._stopping is not None:
            self._pending = (self.models, device)
        else:
            self._launch(device)
        self.changed.emit()

    def _launch(self, device: str) -> None:
        self._stderr = b""
        proc = QProcess(self)
        proc.setProgram(sys.executable)
        proc.setArguments(["-m", "s2s_desktop", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                           "--device", device, "--model", *self.models])
        proc.readyReadStandardOutput.connect(lambda: self._read_stdout(proc))
        proc.readyReadStandardError.connect(lambda: self._read_stderr(proc))
        proc.finished.connect(lambda code, status: self._finished(proc, code))
        self._proc = proc
        proc.start()

    def stop(self) -> None:
        """Ask the server to stop (it frees the port once the requests in flight are answered)."""
        self._stop()
        self.requests, self.last_error = 0, ""  # a stop asked for is not an error to show
        self.changed.emit()

    def shutdown(self, wait_ms: int = 3000) -> None:
        """The app is quitting: stop, wait a little, then kill (a child must not outlive the app)."""
        self._stop()
        proc = self._stopping
        if proc is not None and not proc.waitForFinished(wait_ms):
            proc.kill()
            proc.waitForFinished(1000)

    def _stop(self) -> None:
        proc, self._proc, self._pending = self._proc, None, None
        self.address = ""
        if proc is not None and proc.state() != QProcess.ProcessState.NotRunning:
            self._stopping = proc
            proc.terminate()  # SIGTERM on POSIX; a console child on Windows needs the kill below
            self._kill.start()

    def _force_stop(self) -> None:
        proc = self._stopping
        if proc is not None and proc.state() != QProcess.ProcessState.NotRunning:
            proc.kill()

    def _read_stdout(self, proc: QProcess) -> None:
        for line in bytes(proc.readAllStandardOutput()).decode("utf-8", "replace").splitlines():
            if line.startswith("serving on ") and proc is self._proc:
                self.address = line.split()[2].rstrip("/")
                self.changed.emit()

    def _read_stderr(self, proc: QProcess) -> None:
        self._stderr += bytes(proc.readAllStandardError())
        *lines, self._stderr = self._stderr.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").strip()
            match = REQUEST_LINE.search(line)
            if match:
                self.requests += 1
                if int(match.group(3)) >= 400 and match.group(3) != "499":  # 499: the client went away
                    self.last_error = f"{match.group(3)} on {match.group(1)} {match.group(2)}"
            elif line.startswith("s2s: error: "):
                self.last_error = line.removeprefix("s2s: error: ")
            else:
                continue
            self.changed.emit()

    def _finished(self, proc: QProcess, code: int) -> None:
        self._read_stderr(proc)
        if proc is self._stopping:
            self._kill.stop()
            self._stopping = None
            if self._pending is not None:
                models, device = self._pending
                self._pending = None
                self._launch(device)
        if proc is self._proc:  # it ended by itself (port in use, model unreadable, ...)
            self._proc, self.address = None, ""
            if code != 0 and not self.last_error:
                self.last_error = f"the server stopped (exit status {code})"
        proc.deleteLater()
        self.changed.emit()


class ServeStatus(QLabel):
    """The status-bar line of the server: address, requests, last error; hidden while it is off."""

    def __init__(self, server: LocalServer):
        super().__init__()
        self.server = server
        self.setContentsMargins(0, 0, 16, 0)  # apart from the speed figures beside it
        server.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        s = self.server
        if not s.running:
            self.setVisible(bool(s.last_error))
            self.setText(f"Server stopped: {s.last_error}" if s.last_error else "")
            return
        parts = [f"Serving on {s.address}" if s.address else f"Starting the server on port {s.port}…",
                 f"{s.requests} request{'s' if s.requests != 1 else ''}"]
        if s.last_error:
            parts.append(f"last error: {s.last_error}")
        self.setText(" · ".join(parts))
        self.setToolTip("LibreTranslate API for other programs (browser extensions, editors, scripts); "
                        f"models: {', '.join(s.models)}")
        self.setVisible(True)


def attach(window, menu) -> QAction:
    """Add the checkable "Serve on localhost" action to `menu` and its line to the window's status bar.
    The server follows the window's open model (`window.model_info`, `window.client.model_opened`)."""
    server = LocalServer(window)
    window.local_server = server
    window.statusBar().addPermanentWidget(ServeStatus(server))
    action = QAction("Serve on &localhost", window, checkable=True)
    why = serve_unavailable()
    action.setEnabled(not why)
    action.setStatusTip(why or f"Serve the open model at http://127.0.0.1:{server.port} (the LibreTranslate API)")

    def current_model() -> list[str]:
        info = getattr(window, "model_info", None)
        return [info.path] if info is not None and info.path else []

    def toggled(on: bool) -> None:
        if on and current_model():
            server.last_error = ""
            server.start(current_model(), getattr(getattr(window, "model_info", None), "device", "") or "auto")
        elif on:
            action.setChecked(False)
            server.last_error = "open a model first"
            server.changed.emit()
        else:
            server.stop()

    def model_changed(info) -> None:
        if server.running and current_model() != server.models:
            server.start(current_model(), info.device or "auto")

    def server_changed() -> None:  # it stopped by itself (port in use, ...): the switch shows it
        if action.isChecked() and not server.running:
            action.blockSignals(True)
            action.setChecked(False)
            action.blockSignals(False)

    action.toggled.connect(toggled)
    window.client.model_opened.connect(model_changed)
    server.changed.connect(server_changed)
    app = QCoreApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(server.shutdown)
    menu.addAction(action)
    return action
