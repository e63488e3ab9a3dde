"""The engine's side of the GUI: a `Worker` on its own thread that opens models and translates.

What it translates with is injected (`Engine`): the app's `TorchEngine` imports torch in `load`, the
first slot that runs on the thread, never at module import, so the window appears before the ~2 s
torch import; GUI tests inject a small fake (tests/gui/fake_engine.py). Every outcome is a signal
carrying the request id and `api` data (numpy arrays, never tensors); failures are `Failure`s.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from PySide6.QtCore import Signal, Slot

from s2s_desktop.engine.api import (
    BeamTree,
    Contrast,
    DecodeOptions,
    EngineInfo,
    Explanation,
    FileSummary,
    ModelConversion,
    ModelInfo,
    ParagraphTranslation,
    SelfAttention,
    Translation,
)
from s2s_desktop.gui.attention_math import IG_STEPS
from s2s_desktop.gui.worker import Failure, FailureKind, Worker

WARMUP_TEXT = "Hello world."
TRANSLATE = "translate"  # the request channel of translate-as-you-type: a newer text supersedes
COMPARE = "compare"  # the Compare tab's second model: likewise (one per text typed, while the tab is shown)
NO_MODEL = "no model is open: open a model file first"


class Translator(Protocol):
    """What the worker needs of an open model (engine.decoding.service.Translator has it)."""

    def info(self) -> ModelInfo: ...

    def translate(self, texts: Sequence[str], opts: DecodeOptions, *, prefixes: Sequence[object] | None = None
                  ) -> list[Translation]: ...

    def translate_paragraph(self, text: str, opts: DecodeOptions, progress: Callable[[int, int], bool | None]
                            | None = None) -> ParagraphTranslation | None: ...

    def translate_file(self, src: str, dst: str, opts: DecodeOptions, progress: Callable[[int, int], None] | None,
                       cancel: threading.Event | None, chunk: int, split: bool) -> FileSummary: ...

    def self_attention(self, source: str, tokens: Sequence[str]) -> SelfAttention: ...

    def explain(self, source: str, tokens: Sequence[str], method: str, steps: int = 32,
                cancelled: Callable[[], bool] | None = None, first: int | None = None,
                progress: Callable[[Explanation], None] | None = None) -> Explanation | None: ...

    def contrast(self, source: str, tokens: Sequence[str], position: int, alternative: str,
                 method: str = "integrated_gradients", steps: int = 32) -> Contrast: ...

    def beam_tree(self, source: str, opts: DecodeOptions) -> BeamTree: ...

    target_language: str | None  # settable for a multilingual model


# Progress of an export or import: (steps done, steps, what is being done)
Progress = Callable[[int, int, str], None]
EXPORT_FORMATS = ("ctranslate2", "argos")


class Engine(Protocol):
    """The factory the worker opens models with; every call runs on the engine thread."""

    def load(self) -> EngineInfo: ...

    def open(self, path: str, device: str) -> Translator: ...

    def import_model(self, folder: str, out: str, progress: Progress | None = None) -> ModelConversion: ...

    def export_model(self, model_path: str, to: str, out_path: str, target_language: str | None = None,
                     progress: Progress | None = None) -> ModelConversion: ...


ENGINE_NICE = 5  # the engine's threads yield a contended core to the UI thread (never slower when idle)


def yield_to_the_ui() -> None:
    """Lower this thread's scheduling priority (Linux: nice is per thread). Called on the engine thread
    before torch starts: the OpenMP threads it creates inherit it. On a 2-core laptop, translating with
    2 torch threads otherwise left the UI thread waiting 40-80 ms for a core while it painted."""
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ENGINE_NICE)
        except OSError:
            pass  # not allowed here: the engine runs at the UI's priority, as before


class TorchEngine:
    """The real engine: torch is imported by `load`, on the engine thread."""

    def load(self) -> EngineInfo:
        start = time.perf_counter()
        yield_to_the_ui()
        import torch

        from s2s_desktop.engine import device

        devices = tuple(device.available_devices())
        return EngineInfo(devices, {d: device.device_label(d) for d in devices}, torch.__version__,
                          time.perf_counter() - start)

    def open(self, path: str, device: str) -> Translator:
        from s2s_desktop.engine.decoding.service import Translator

        return Translator.open(path, device)

    def import_model(self, folder: str, out: str, progress: Progress | None = None) -> ModelConversion:
        """A Hugging Face Marian folder -> one .s2s file (formats/marian_import.py)."""
        from s2s_desktop.engine.formats.marian_import import import_marian

        if progress:
            progress(0, 1, "Reading the weights and tokenizers, writing the model file…")
        result = import_marian(folder, out)
        return ModelConversion(result.path, result.notices, result.seconds)

    def export_model(self, model_path: str, to: str, out_path: str, target_language: str | None = None,
                     progress: Progress | None = None) -> ModelConversion:
        """A .s2s file -> a CTranslate2 model folder or an Argos Translate package (formats/*_export.py).
        Those report no progress of their own: the steps are reading and converting, then done."""
        from s2s_desktop.errors import ExportError

        if to not in EXPORT_FORMATS:
            raise ExportError(f"unknown export format {to!r} (use {' or '.join(EXPORT_FORMATS)})")
        step = progress or (lambda done, total, what: None)
        step(0, 2, f"Reading {os.path.basename(model_path)} and converting it with CTranslate2…")
        if to == "ctranslate2":
            from s2s_desktop.engine.formats.ctranslate2_export import export_ctranslate2

            result = export_ctranslate2(model_path, out_path, None, True, target_language)
        else:
            from s2s_desktop.engine.formats.argos_export import export_argos

            result = export_argos(model_path, out_path, None, True, target_language)
        step(2, 2, "Done")
        return ModelConversion(result.path, tuple(result.notices), result.seconds)


class EngineWorker(Worker):
    engine_loaded = Signal(object)  # EngineInfo
    model_opened = Signal(int, object)  # request id, ModelInfo
    translated = Signal(int, object, float)  # request id, ParagraphTranslation, seconds
    redecoded = Signal(int, int, object)  # request id, sentence index, Translation
    file_progressed = Signal(int, int, int)  # request id, lines done, lines total
    file_finished = Signal(int, object)  # request id, FileSummary
    self_attended = Signal(int, object, object)  # request id, key, SelfAttention
    explained = Signal(int, object, str, object)  # request id, key, method, Explanation (partial ones first; None: cancelled)
    contrasted = Signal(int, object, object)  # request id, key, Contrast
    tree_ready = Signal(int, object, object)  # request id, key, BeamTree
    compared = Signal(int, object, object, object)  # request id, key, ModelInfo of the second model, ParagraphTranslation
    info_changed = Signal(int, object)  # request id, ModelInfo (the target language changed)
    converted = Signal(int, object)  # request id, ModelConversion (import or export done)
    conversion_progressed = Signal(int, int, int, str)  # request id, steps done, steps, what is being done
    memory_message = "out of memory: try a shorter text or a smaller beam"

    def __init__(self, engine: Engine | None = None) -> None:
        super().__init__()
        self.engine: Engine = engine or TorchEngine()
        self.cancel_file = threading.Event()  # set by the GUI thread: a queued slot would wait
        self._translator: Translator | None = None
        self._second: Translator | None = None  # the model the Compare tab sets beside the open one

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
                cancel=self.cancel_file, chunk=0, split=True)  # chunks sized for ~4 progress reports a second
            self.file_finished.emit(req, summary)

        self.guard(req, FailureKind.TRANSLATE_FILE, work, subject=src)

    @Slot(int, object, str, object)
    def self_attention(self, req: int, key: object, source: str, tokens: object) -> None:
        """A Transformer's encoder and decoder self-attention for one hypothesis (teacher-forced)."""
        if self._no_model(req, FailureKind.SELF_ATTENTION):
            return
        self.guard(req, FailureKind.SELF_ATTENTION,
                   lambda: self.self_attended.emit(req, key, self._translator.self_attention(source, tokens)))

    @Slot(int, object, str, str, object, object, int)
    def explain(self, req: int, key: object, method: str, source: str, tokens: object, first: object,
                steps: int = IG_STEPS) -> None:
        """An attribution of one hypothesis, output position `first` (or None) before the others, each
        partial map of a slow one sent as it grows; a later request (`latest_explain`) cancels it between
        two passes, answered by None, so only what is still shown gets computed."""
        if self._no_model(req, FailureKind.EXPLAIN):
            return

        def work() -> None:
            found = self._translator.explain(source, tokens, method, steps=steps,
                                             cancelled=lambda: self.latest_explain != req, first=first,
                                             progress=lambda part: self.explained.emit(req, key, method, part))
            self.explained.emit(req, key, method, found)

        self.guard(req, FailureKind.EXPLAIN, work)

    @Slot(int, object, str, object, int, str)
    def contrast(self, req: int, key: object, source: str, tokens: object, position: int, alternative: str) -> None:
        """Why the piece at `position` and not `alternative` (integrated gradients)."""
        if self._no_model(req, FailureKind.EXPLAIN):
            return
        self.guard(req, FailureKind.EXPLAIN, lambda: self.contrasted.emit(
            req, key, self._translator.contrast(source, tokens, position, alternative, steps=IG_STEPS)))

    latest_explain = 0  # the id of the newest explain request (set by the client, read here)

    @Slot(int, object, str, object)
    def beam_tree(self, req: int, key: object, source: str, options: object) -> None:
        """The beam-search tree of one sentence."""
        if self._no_model(req, FailureKind.BEAM_TREE):
            return
        self.guard(req, FailureKind.BEAM_TREE,
                   lambda: self.tree_ready.emit(req, key, self._translator.beam_tree(source, options)))

    @Slot(int, object, str, str, object)
    def compare(self, req: int, key: object, path: str, text: str, options: object) -> None:
        """`text` translated by the model at `path` (opened here once, then kept beside the open model);
        skipped, or dropped, once a newer text supersedes it."""
        if self.superseded(COMPARE, req):
            return

        def work() -> None:
            second = self._second
            if second is None or os.path.realpath(second.info().path) != os.path.realpath(path):
                self._second = None  # (freed before the next one loads)
                second = self.engine.open(path, "auto")
                self._second = second
            result = second.translate_paragraph(
                text, options, progress=lambda done, total: not self.superseded(COMPARE, req))
            if result is None or self.superseded(COMPARE, req):
                return
            import sacrebleu  # noqa: F401 - imported here: the tab scores the two with it, and a first
            # import on the UI thread stalled it ~0.1 s
            self.compared.emit(req, key, second.info(), result)

        self.guard(req, FailureKind.COMPARE, work, subject=path)

    @Slot()
    def close_second(self) -> None:
        self._second = None

    @Slot(int, str)
    def set_target_language(self, req: int, code: str) -> None:
        if self._no_model(req, FailureKind.TARGET_LANGUAGE):
            return

        def work() -> None:
            self._translator.target_language = code or None
            self.info_changed.emit(req, self._translator.info())

        self.guard(req, FailureKind.TARGET_LANGUAGE, work)

    @Slot(int, str, str)
    def import_model(self, req: int, folder: str, out: str) -> None:
        def work() -> None:
            progress = lambda done, total, what: self.conversion_progressed.emit(req, done, total, what)  # noqa: E731
            self.converted.emit(req, self.engine.import_model(folder, out, progress))

        self.guard(req, FailureKind.IMPORT_MODEL, work, subject=folder)

    @Slot(int, str, str, str, object)
    def export_model(self, req: int, model_path: str, to: str, out: str, target_language: object) -> None:
        def work() -> None:
            progress = lambda done, total, what: self.conversion_progressed.emit(req, done, total, what)  # noqa: E731
            self.converted.emit(req, self.engine.export_model(model_path, to, out, target_language, progress))

        self.guard(req, FailureKind.EXPORT_MODEL, work, subject=model_path)
