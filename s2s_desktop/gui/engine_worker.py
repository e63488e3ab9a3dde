"""The engine's side of the GUI: a `Worker` on its own thread that opens models and translates.

What it translates with is injected (`Engine`): the app's `TorchEngine` imports torch in `load`, the
first slot that runs on the thread, never at module import, so the window appears before the ~2 s
torch import; GUI tests inject a small fake (tests/gui/fake_engine.py). Every outcome is a signal
carrying the request id and `api` data (numpy arrays, never tensors); failures are `Failure`s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from PySide6.QtCore import Signal, Slot

from s2s_desktop.engine.api import (
    DecodeOptions,
    EngineInfo,
    FileSummary,
    ModelInfo,
    ParagraphTranslation,
    Translation,
)
from s2s_desktop.gui.worker import Failure, FailureKind, Worker

WARMUP_TEXT = "Hello world."
TRANSLATE = "translate"  # the request channel of translate-as-you-type: a newer text supersedes
NO_MODEL = "no model is open: open a model file first"


class Translator(Protocol):
    """What the worker needs of an open model (engine.decoding.service.Translator has it)."""

    def info(self) -> ModelInfo: ...

    def translate(self, texts: Sequence[str], opts: DecodeOptions, *, prefixes: Sequence[object] | None = None
                  ) -> list[Translation]: ...

    def translate_paragraph(self, text: str, opts: DecodeOptions, progress: Callable[[int, int], bool | None]
                            | None = None) -> ParagraphTranslation | None: ...

    def translate_file(self, src: str, dst: str, opts: DecodeOptions, progress: Callable[[int, int], None] | None,
                       cancel: threading.Event | None, chunk: int) -> FileSummary: ...


class Engine(Protocol):
    """The factory the worker opens models with; both calls run on the engine thread."""

    def load(self) -> EngineInfo: ...

    def open(self, path: str, device: str) -> Translator: ...


class TorchEngine:
    """The real engine: torch is imported by `load`, on the engine thread."""

    def load(self) -> EngineInfo:
        start = time.perf_counter()
        import torch

        from s2s_desktop.engine import device

        devices = tuple(device.available_devices())
        return EngineInfo(devices, {d: device.device_label(d) for d in devices}, torch.__version__,
                          time.perf_counter() - start)

    def open(self, path: str, device: str) -> Translator:
        from s2s_desktop.engine.decoding.service import Translator

        return Translator.open(path, device)


class EngineWorker(Worker):
    engine_loaded = Signal(object)  # EngineInfo
    model_opened = Signal(int, object)  # request id, ModelInfo
    translated = Signal(int, object, float)  # request id, ParagraphTranslation, seconds
    redecoded = Signal(int, int, object)  # request id, sentence index, Translation
    file_progressed = Signal(int, int, int)  # request id, lines done, lines total
    file_finished = Signal(int, object)  # request id, FileSummary
    memory_message = "out of memory: try a shorter text or a smaller beam"

    def __init__(self, engine: Engine | None = None) -> None:
        super().__init__()
        self.engine: Engine = engine or TorchEngine()
        self.cancel_file = threading.Event()  # set by the GUI thread: a queued slot would wait
        self._translator: Translator | None = None

    def cancel(self) -> None:
        super().cancel()
        self.cancel_file.set()

    def _no_model(self, req: int, kind: FailureKind) -> bool:
        if self._translator is None:
            self.failed.emit(req, Failure(kind, NO_MODEL))
            return True
        return False

    # -- slots (run on the engine thread) ----------------------------------------------------------
    @Slot()
    def load_engine(self) -> None:
        self.guard(0, FailureKind.LOAD_ENGINE, lambda: self.engine_loaded.emit(self.engine.load()))

    @Slot(int, str, str)
    def open_model(self, req: int, path: str, device: str) -> None:
        def work() -> None:
            translator = self.engine.open(path, device)
            # Warm the kernels up here, so the user's first translation is as fast as the rest.
            translator.translate_paragraph(WARMUP_TEXT, DecodeOptions(beam=2, nbest=1))
            self._translator = translator  # only now: a bad file leaves the previous model in place
            self.model_opened.emit(req, translator.info())

        self.guard(req, FailureKind.OPEN_MODEL, work, subject=path)

    @Slot(int, str, object)
    def translate(self, req: int, text: str, options: DecodeOptions) -> None:
        if self.superseded(TRANSLATE, req) or self._no_model(req, FailureKind.TRANSLATE):
            return  # superseded while it waited in the queue

        def work() -> None:
            start = time.perf_counter()
            result = self._translator.translate_paragraph(
                text, options, progress=lambda done, total: not self.superseded(TRANSLATE, req))
            if result is not None and not self.superseded(TRANSLATE, req):
                self.translated.emit(req, result, time.perf_counter() - start)

        self.guard(req, FailureKind.TRANSLATE, work)

    @Slot(int, int, str, object, object)
    def redecode(self, req: int, sentence: int, source: str, prefix: object, options: DecodeOptions) -> None:
        """Translate one sentence again with its output forced to start with `prefix` (what-if)."""
        if self._no_model(req, FailureKind.REDECODE):
            return

        def work() -> None:
            (result,) = self._translator.translate([source], options, prefixes=[prefix])
            self.redecoded.emit(req, sentence, result)

        self.guard(req, FailureKind.REDECODE, work)

    @Slot(int, str, str, object)
    def translate_file(self, req: int, src: str, dst: str, options: DecodeOptions) -> None:
        if self._no_model(req, FailureKind.TRANSLATE_FILE):
            return

        def work() -> None:
            summary = self._translator.translate_file(
                src, dst, options, progress=lambda done, total: self.file_progressed.emit(req, done, total),
                cancel=self.cancel_file, chunk=64)
            self.file_finished.emit(req, summary)

        self.guard(req, FailureKind.TRANSLATE_FILE, work, subject=src)
