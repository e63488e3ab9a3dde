"""The GUI thread's handle on the engine: owns the worker thread, numbers requests, and drops
results that a newer request has made stale, so translate-as-you-type never shows an old text."""

from __future__ import annotations

import itertools
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from s2s_desktop.gui.engine_worker import EngineWorker


class EngineClient(QObject):
    engine_loaded = Signal(object)  # {"devices", "labels", "torch", "seconds"}
    model_opened = Signal(object)  # model info dict
    translated = Signal(object, float)  # ParagraphTranslation, seconds (only the newest request's)
    redecoded = Signal(int, object)  # sentence index, Translation with a forced prefix
    file_progressed = Signal(int, int)
    file_finished = Signal(object)
    failed = Signal(str, str)  # what was being done, message

    # Queued into the worker thread.
    _load = Signal()
    _open = Signal(int, str, str)
    _translate = Signal(int, str, object)
    _translate_file = Signal(int, str, str, object)
    _redecode = Signal(int, int, str, object, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self.latest_translate = 0
        self.dropped = 0  # stale results received and not shown (for tests and diagnostics)
        self.engine_ready = False
        self._thread = QThread()
        self._thread.setObjectName("s2s-engine")
        self.worker = EngineWorker()
        self.worker.moveToThread(self._thread)
        self._load.connect(self.worker.load_engine)
        self._open.connect(self.worker.open_model)
        self._translate.connect(self.worker.translate)
        self._translate_file.connect(self.worker.translate_file)
        self._redecode.connect(self.worker.redecode)
        self.worker.redecoded.connect(self._on_redecoded)
        self.worker.engine_loaded.connect(self._on_engine_loaded)
        self.worker.model_opened.connect(lambda req, info: self.model_opened.emit(info))
        self.worker.translated.connect(self._on_translated)
        self.worker.file_progressed.connect(lambda req, done, total: self.file_progressed.emit(done, total))
        self.worker.file_finished.connect(lambda req, summary: self.file_finished.emit(summary))
        self.worker.failed.connect(self._on_failed)

    def start(self) -> None:
        """Start the thread and import torch on it (the window is already showing)."""
        self._thread.start()
        self._load.emit()

    def open_model(self, path: str, device: str = "auto") -> int:
        req = next(self._ids)
        self._open.emit(req, path, device)
        return req

    def translate(self, text: str, options: dict[str, Any]) -> int:
        req = next(self._ids)
        self.latest_translate = req
        self.worker.latest_translate = req  # read by the worker between batches: supersedes at once
        self._translate.emit(req, text, dict(options))
        return req

    def redecode(self, sentence: int, source: str, prefix: object, options: dict[str, Any]) -> int:
        """Decode one sentence again from a forced prefix (target pieces or text)."""
        req = next(self._ids)
        self._redecode.emit(req, sentence, source, prefix, dict(options))
        return req

    def translate_file(self, src: str, dst: str, options: dict[str, Any]) -> int:
        req = next(self._ids)
        self.worker.cancel_file.clear()
        self._translate_file.emit(req, src, dst, dict(options))
        return req

    def cancel_file(self) -> None:
        self.worker.cancel_file.set()  # an Event, set from this thread: a queued slot would wait

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Stop what is running at the next check, then end the thread. True when it ended."""
        self.worker.cancel_file.set()
        self.worker.latest_translate = 1 << 62  # anything queued or running is now stale
        self._thread.quit()
        return self._thread.wait(timeout_ms)

    # -- results -----------------------------------------------------------------------------------
    def _on_engine_loaded(self, info: dict) -> None:
        self.engine_ready = True
        self.engine_loaded.emit(info)

    def _on_translated(self, req: int, result: object, seconds: float) -> None:
        if req != self.latest_translate:
            self.dropped += 1
            return
        self.translated.emit(result, seconds)

    def _on_redecoded(self, req: int, sentence: int, result: object) -> None:
        if req < self.latest_translate:
            self.dropped += 1  # the text changed after the what-if was asked
            return
        self.redecoded.emit(sentence, result)

    def _on_failed(self, req: int, action: str, message: str) -> None:
        if action == "translating" and req != self.latest_translate:
            return  # an error about a text the user has already changed
        self.failed.emit(action, message)
