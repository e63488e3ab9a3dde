"""The GUI thread's handle on the engine worker: requests in, `api` results out, stale ones dropped
(translate-as-you-type never shows an old text). The thread, the ids and the shutdown are the
`WorkerClient`'s."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from s2s_desktop.engine.api import DecodeOptions, EngineInfo, ParagraphTranslation, Translation
from s2s_desktop.gui.attention_math import IG_STEPS
from s2s_desktop.gui.engine_worker import COMPARE, TRANSLATE, Engine, EngineWorker
from s2s_desktop.gui.worker import FailureKind, WorkerClient


class EngineClient(WorkerClient):
    engine_loaded = Signal(object)  # EngineInfo
    model_opened = Signal(object)  # ModelInfo
    translated = Signal(object, float)  # ParagraphTranslation, seconds (only the newest request's)
    redecoded = Signal(int, object)  # sentence index, Translation with a forced prefix
    file_progressed = Signal(int, int)  # lines done, lines total
    file_finished = Signal(object)  # FileSummary
    self_attended = Signal(object, object)  # key, SelfAttention
    explained = Signal(object, str, object)  # key, method, Explanation (a partial one while it grows; None: cancelled)
    contrasted = Signal(object, object)  # key, Contrast
    tree_ready = Signal(object, object)  # key, BeamTree
    compared = Signal(object, object, object)  # key, ModelInfo of the second model, ParagraphTranslation
    info_changed = Signal(object)  # ModelInfo (the target language changed)
    converted = Signal(object)  # ModelConversion: an import or export finished
    conversion_progressed = Signal(int, int, str)  # steps done, steps, what is being done
    # an error about a text the user has changed is dropped
    stale_kinds = {FailureKind.TRANSLATE: TRANSLATE, FailureKind.COMPARE: COMPARE}

    # Queued into the worker thread.
    _load = Signal()
    _open = Signal(int, str, str)
    _translate = Signal(int, str, object)
    _translate_file = Signal(int, str, str, object)
    _redecode = Signal(int, int, str, object, object)
    _self_attention = Signal(int, object, str, object)
    _explain = Signal(int, object, str, str, object, object, int)
    _contrast = Signal(int, object, str, object, int, str)
    _beam_tree = Signal(int, object, str, object)
    _compare = Signal(int, object, str, str, object)
    _close_second = Signal()
    _target_language = Signal(int, str)
    _import = Signal(int, str, str)
    _export = Signal(int, str, str, str, object)

    def __init__(self, parent: QObject | None = None, engine: Engine | None = None) -> None:
        super().__init__(EngineWorker(engine), "s2s-engine", parent)
        self.engine_ready = False
        w = self.worker
        self._load.connect(w.load_engine)
        self._open.connect(w.open_model)
        self._translate.connect(w.translate)
        self._translate_file.connect(w.translate_file)
        self._redecode.connect(w.redecode)
        self._self_attention.connect(w.self_attention)
        self._explain.connect(w.explain)
        self._contrast.connect(w.contrast)
        self._beam_tree.connect(w.beam_tree)
        self._compare.connect(w.compare)
        self._close_second.connect(w.close_second)
        self._target_language.connect(w.set_target_language)
        self._import.connect(w.import_model)
        self._export.connect(w.export_model)
        w.self_attended.connect(lambda req, key, result: self.self_attended.emit(key, result))
        w.explained.connect(lambda req, key, method, result: self.explained.emit(key, method, result))
        w.contrasted.connect(lambda req, key, result: self.contrasted.emit(key, result))
        w.tree_ready.connect(lambda req, key, tree: self.tree_ready.emit(key, tree))
        w.compared.connect(lambda req, key, info, result: self.compared.emit(key, info, result))
        w.info_changed.connect(lambda req, info: self.info_changed.emit(info))
        w.converted.connect(lambda req, result: self.converted.emit(result))
        w.conversion_progressed.connect(lambda req, done, total, what: self.conversion_progressed.emit(done, total, what))
        w.engine_loaded.connect(self._on_engine_loaded)
        w.model_opened.connect(lambda req, info: self.model_opened.emit(info))
        w.translated.connect(self._on_translated)
        w.redecoded.connect(self._on_redecoded)
        w.file_progressed.connect(lambda req, done, total: self.file_progressed.emit(done, total))
        w.file_finished.connect(lambda req, summary: self.file_finished.emit(summary))

    def start(self) -> None:
        """Start the thread and load the engine on it (the window is already showing)."""
        self.ensure_thread()
        self._load.emit()

    def open_model(self, path: str, device: str = "auto") -> int:
        req = self.new_request()
        self._open.emit(req, path, device)
        return req

    def translate(self, text: str, options: DecodeOptions) -> int:
        """A new translation: an attribution of the previous one still running is cancelled (its map is
        no longer shown, and it held the engine and the CPU for seconds)."""
        req = self.new_request(TRANSLATE)
        self.worker.latest_explain = req
        self._translate.emit(req, text, options)
        return req

    def redecode(self, sentence: int, source: str, prefix: object, options: DecodeOptions) -> int:
        """Decode one sentence again from a forced prefix (target pieces or text); cancels a running
        attribution, as `translate` does."""
        req = self.new_request()
        self.worker.latest_explain = req
        self._redecode.emit(req, sentence, source, prefix, options)
        return req

    def translate_file(self, src: str, dst: str, options: DecodeOptions) -> int:
        req = self.new_request()
        self.worker.cancel_file.clear()
        self._translate_file.emit(req, src, dst, options)
        return req

    def self_attention(self, key: object, source: str, tokens: tuple[str, ...]) -> int:
        """Ask for a Transformer's self-attention over `source` translated as `tokens`; answered with `key`."""
        req = self.new_request()
        self._self_attention.emit(req, key, source, tokens)
        return req

    def explain(self, key: object, method: str, source: str, tokens: tuple[str, ...], first: int | None = None,
                steps: int = IG_STEPS) -> int:
        """Ask for an attribution of `source` translated as `tokens` (output position `first` first;
        integrated gradients with `steps`); answered with `key` and `method`. A newer request cancels
        this one if it is still running."""
        req = self.new_request()
        self.worker.latest_explain = req
        self._explain.emit(req, key, method, source, tokens, first, steps)
        return req

    def contrast(self, key: object, source: str, tokens: tuple[str, ...], position: int, alternative: str) -> int:
        """Ask why `tokens[position]` and not `alternative`; answered by contrasted with `key`."""
        req = self.new_request()
        self._contrast.emit(req, key, source, tokens, position, alternative)
        return req

    def beam_tree(self, key: object, source: str, options: DecodeOptions) -> int:
        """Ask for the beam-search tree of one sentence; answered by tree_ready with `key`."""
        req = self.new_request()
        self._beam_tree.emit(req, key, source, options)
        return req

    def compare(self, key: object, path: str, text: str, options: DecodeOptions) -> int:
        """Ask for `text` translated by the model at `path` (the Compare tab's); answered by compared. A
        newer request supersedes it (typing with the tab shown would queue one per text)."""
        req = self.new_request(COMPARE)
        self._compare.emit(req, key, path, text, options)
        return req

    def close_second(self) -> None:
        """Free the Compare tab's model."""
        self._close_second.emit()

    def set_target_language(self, code: str) -> int:
        """A multilingual model: translate into `code` from now on (answered by info_changed)."""
        req = self.new_request()
        self._target_language.emit(req, code)
        return req

    def import_model(self, folder: str, out: str) -> int:
        req = self.new_request()
        self._import.emit(req, folder, out)
        return req

    def export_model(self, model_path: str, to: str, out: str, target_language: str | None) -> int:
        req = self.new_request()
        self._export.emit(req, model_path, to, out, target_language)
        return req

    def cancel_file(self) -> None:
        self.worker.cancel_file.set()  # an Event, set from this thread: a queued slot would wait

    # -- results -----------------------------------------------------------------------------------
    def _on_engine_loaded(self, info: EngineInfo) -> None:
        self.engine_ready = True
        self.engine_loaded.emit(info)

    def _on_translated(self, req: int, result: ParagraphTranslation, seconds: float) -> None:
        if self.accept(TRANSLATE, req):
            self.translated.emit(result, seconds)

    def _on_redecoded(self, req: int, sentence: int, result: Translation) -> None:
        if self.accept(TRANSLATE, req):  # not when the text changed after the what-if was asked
            self.redecoded.emit(sentence, result)
