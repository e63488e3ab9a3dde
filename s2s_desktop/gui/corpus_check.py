""""Check corpus" out of the GUI process: a short-lived child (`engine.training.child --check`) reads
the corpus and loads SentencePiece, which would hold this process's GIL for seconds as a thread.
A QProcess needs no thread of ours: its signals arrive in the GUI thread when the child is done.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, Signal

from s2s_desktop.engine.api import CorpusCounts
from s2s_desktop.engine.training.child import CORPUS_CHECKED, ERROR, child_command, child_env

log = logging.getLogger(__name__)
ACTION = "checking the corpus"


class CorpusCheck(QObject):
    """One check at a time; a new request replaces the one still running."""

    checked = Signal(object)  # api.CorpusCounts
    failed = Signal(str, str)  # ACTION, message (naming the file and line)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None
        self.pid: int | None = None  # the process that did the last check (tests: not ours)

    @property
    def running(self) -> bool:
        return self._process is not None

    def start(self, train_cfg: dict[str, Any]) -> None:
        self.cancel()
        process = QProcess(self)
        env = QProcessEnvironment()
        for name, value in child_env().items():
            env.insert(name, value)
        process.setProcessEnvironment(env)
        process.finished.connect(lambda code, _status: self._finished(process, code))
        process.errorOccurred.connect(lambda error: self._start_failed(process, error))
        program, *args = child_command(check=True)
        self._process = process
        process.start(program, args)
        process.write((json.dumps(train_cfg) + "\n").encode("utf-8"))
        process.closeWriteChannel()

    def cancel(self) -> None:
        """End a check still running (a newer one replaces it, or the window closes)."""
        process, self._process = self._process, None
        if process is not None:
            process.blockSignals(True)
            process.kill()
            process.waitForFinished(1000)
            process.deleteLater()

    def _finished(self, process: QProcess, code: int) -> None:
        if process is not self._process:
            return
        self._process = None
        process.deleteLater()
        reply = None
        for raw in bytes(process.readAllStandardOutput()).splitlines():
            try:
                reply = json.loads(raw)
            except ValueError:
                continue  # not the reply (a native library may print)
        if isinstance(reply, dict) and reply.get("event") == CORPUS_CHECKED:
            self.pid = reply.get("pid")
            self.checked.emit(CorpusCounts.from_dict(reply["counts"]))
        elif isinstance(reply, dict) and reply.get("event") == ERROR:
            self.pid = reply.get("pid")
            if reply.get("traceback"):
                log.error("corpus check failed:\n%s", reply["traceback"])
            self.failed.emit(ACTION, reply["message"])
        else:
            lines = bytes(process.readAllStandardError()).decode("utf-8", errors="replace").strip().splitlines()
            self.failed.emit(ACTION, f"the corpus check ended unexpectedly (exit status {code})"
                                     + (f": {lines[-1]}" if lines else ""))

    def _start_failed(self, process: QProcess, error: QProcess.ProcessError) -> None:
        if error != QProcess.ProcessError.FailedToStart or process is not self._process:
            return  # a crash also ends in `finished`, which reports it
        self._process = None
        process.deleteLater()
        self.failed.emit(ACTION, f"the corpus check could not start: {process.errorString()}")
