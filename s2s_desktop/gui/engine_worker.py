"""The engine's side of the GUI: a QObject that lives on its own QThread and calls `engine.service`.

torch is imported by the first slot that runs on the thread (`load_engine`), never at module import,
so the window appears before the ~2 s torch import. Every request carries an id; every outcome is
a signal carrying that id and plain data (numpy arrays, dicts, strings), never tensors. No exception
escapes a slot: failures become `failed(id, action, message)`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from s2s_desktop.engine.api import DecodeOptions, ParagraphTranslation
from s2s_desktop.errors import S2SError

log = logging.getLogger(__name__)

WARMUP_TEXT = "Hello world."


def decode_options(values: dict[str, Any]) -> DecodeOptions:
    """The GUI's decode settings -> engine options (unknown keys are ignored)."""
    names = {f.name for f in dataclasses.fields(DecodeOptions)}
    opts = DecodeOptions(**{k: v for k, v in values.items() if k in names})
    if "max_length_ratio" in values:
        opts = dataclasses.replace(opts, max_len_a=float(values["max_length_ratio"]))
    return dataclasses.replace(opts, nbest=min(opts.nbest, opts.beam))


class EngineWorker(QObject):
    engine_loaded = Signal(object)  # {"devices": [...], "labels": {...}, "torch": str, "seconds": float}
    model_opened = Signal(int, object)  # request id, model info dict
    translated = Signal(int, object, float)  # request id, ParagraphTranslation, seconds
    redecoded = Signal(int, int, object)  # request id, sentence index, Translation
    file_progressed = Signal(int, int, int)  # request id, lines done, lines total
    file_finished = Signal(int, object)  # request id, {"lines", "seconds", "cancelled", "output"}
    failed = Signal(int, str, str)  # request id, what was being done, message for the user

    def __init__(self) -> None:
        super().__init__()
        # Written by the GUI thread, read here between batches: a newer request id supersedes the
        # pending and the running translation. (Reads and writes of an int are atomic in CPython.)
        self.latest_translate = 0
        self.cancel_file = threading.Event()
        self._service: Any = None
        self._translator: Any = None

    # -- helpers -----------------------------------------------------------------------------------
    def _guard(self, req: int, action: str, work: Callable[[], None]) -> None:
        try:
            work()
        except S2SError as exc:
            self.failed.emit(req, action, str(exc))
        except MemoryError:
            self.failed.emit(req, action, "out of memory: try a shorter text or a smaller beam")
        except Exception as exc:  # noqa: BLE001 - a bug or an unexpected OS/library error: report it, keep running
            log.error("engine failure while %s:\n%s", action, traceback.format_exc())
            self.failed.emit(req, action, f"{type(exc).__name__}: {exc}")

    # -- slots (run on the engine thread) ----------------------------------------------------------
    @Slot()
    def load_engine(self) -> None:
        def work() -> None:
            start = time.perf_counter()
            import torch

            from s2s_desktop.engine import device
            from s2s_desktop.engine.decoding import service

            self._service = service
            devices = device.available_devices()
            self.engine_loaded.emit({
                "devices": devices,
                "labels": {d: device.device_label(d) for d in devices},
                "torch": torch.__version__,
                "seconds": time.perf_counter() - start,
            })

        self._guard(0, "loading the engine", work)

    @Slot(int, str, str)
    def open_model(self, req: int, path: str, device: str) -> None:
        def work() -> None:
            translator = self._service.Translator.open(path, device)
            # Warm the kernels up here, so the user's first translation is as fast as the rest.
            translator.translate_paragraph(WARMUP_TEXT, DecodeOptions(beam=2, nbest=1))
            self._translator = translator  # only now: a bad file leaves the previous model in place
            self.model_opened.emit(req, translator.info())

        self._guard(req, f"opening {path}", work)

    @Slot(int, str, object)
    def translate(self, req: int, text: str, options: dict) -> None:
        if req < self.latest_translate:
            return  # superseded while it waited in the queue
        if self._translator is None:
            self.failed.emit(req, "translating", "no model is open: open a model file first")
            return

        def work() -> None:
            start = time.perf_counter()
            result = self._translator.translate_paragraph(
                text, decode_options(options), progress=lambda done, total: req >= self.latest_translate
            )
            if result is not None and req >= self.latest_translate:
                self.translated.emit(req, result, time.perf_counter() - start)

        self._guard(req, "translating", work)

    @Slot(int, int, str, object, object)
    def redecode(self, req: int, sentence: int, source: str, prefix: object, options: dict) -> None:
        """Translate one sentence again with its output forced to start with `prefix` (what-if)."""
        if self._translator is None:
            self.failed.emit(req, "re-decoding", "no model is open: open a model file first")
            return

        def work() -> None:
            (result,) = self._translator.translate([source], decode_options(options), prefixes=[prefix])
            self.redecoded.emit(req, sentence, result)

        self._guard(req, "re-decoding", work)

    @Slot(int, str, str, object)
    def translate_file(self, req: int, src: str, dst: str, options: dict) -> None:
        if self._translator is None:
            self.failed.emit(req, "translating a file", "no model is open: open a model file first")
            return
        self.cancel_file.clear()

        def work() -> None:
            summary = self._translator.translate_file(
                src, dst, decode_options(options),
                progress=lambda done, total: self.file_progressed.emit(req, done, total),
                cancel=self.cancel_file, chunk=64,
            )
            self.file_finished.emit(req, dataclasses.asdict(summary))

        self._guard(req, f"translating {src}", work)


def paragraph_words(result: ParagraphTranslation) -> int:
    return sum(len(t.source.split()) for t in result.sentences)
