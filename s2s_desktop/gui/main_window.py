"""The main window: menus, the translate panel (or the empty state), the model dock, the status bar.

It wires the panels to the `EngineClient` and keeps the settings; it never touches torch. What
crosses to and from the engine is `api` data (DecodeOptions, ModelInfo, EngineInfo, FileSummary)
and, on errors, a `Failure` whose kind says what failed.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QRect, QSize, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop.assets import SAMPLE_SENTENCE, bundled_model
from s2s_desktop.engine.api import DecodeOptions, EngineInfo, ModelInfo, ParagraphTranslation
from s2s_desktop.gui.about_dialog import AboutDialog
from s2s_desktop.gui.empty_state import EmptyState
from s2s_desktop.gui.engine_client import EngineClient
from s2s_desktop.gui.engine_worker import Engine
from s2s_desktop.gui.file_translation import FileTranslation
from s2s_desktop.gui.menus import build_menus, distinct_labels
from s2s_desktop.gui.message_bar import MessageBar
from s2s_desktop.gui.model_info import ModelInfoView, model_panel
from s2s_desktop.gui.model_library import ModelLibrary
from s2s_desktop.gui.model_transfer import ModelTransfer, is_marian_folder
from s2s_desktop.gui.training_panel import TrainingPanel
from s2s_desktop.gui.translate_panel import TranslatePanel
from s2s_desktop.gui.worker import Failure, FailureKind
from s2s_desktop.settings import Settings, load_settings, save_settings

MODEL_FILTER = "s2s-desktop models (*.s2s);;All files (*)"
ENGINE_GRACE_MS = 1000  # closing waits this long at most for the engine thread; the app's quit waits the rest
STOP_TIMEOUT_MS = 120_000  # closing during a distributed run: how long it may take to stop and save
DEFAULT_SIZE = QSize(1100, 680)  # the smallest first window: what the Train tab is laid out for
MAX_SIZE = QSize(1800, 1100)  # a first window larger than this is only empty space


def default_geometry(available: QRect) -> QRect:
    """The first window, centred on the screen's free area: most of it (85%), at least the 1100 x 680
    the panels are laid out for, never more than the screen, and not absurdly large on a 4K one."""
    width = min(available.width(), max(DEFAULT_SIZE.width(), min(round(available.width() * 0.85), MAX_SIZE.width())))
    height = min(available.height(),
                 max(DEFAULT_SIZE.height(), min(round(available.height() * 0.85), MAX_SIZE.height())))
    rect = QRect(0, 0, width, height)
    rect.moveCenter(available.center())
    return rect


def freeze_startup_objects() -> None:
    """Move every object alive now (torch, Qt, pyqtgraph: a few hundred thousand) out of the cyclic
    garbage collector's sight. Without this, each full collection scans them all and stalls the UI
    for about 100 ms at random moments."""
    gc.freeze()


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None, engine: Engine | None = None) -> None:
        """`engine` opens the models (default: the torch engine; tests inject a fake one)."""
        super().__init__()
        self.setWindowTitle("s2s-desktop")
        self.setAcceptDrops(True)
        warning = None
        if settings is None:
            settings, warning = load_settings()
        self.settings = settings
        self.model_info: ModelInfo | None = None
        self.opening: str | None = None
        self.client = EngineClient(self, engine)
        self.files = FileTranslation(self.client, self)
        self.transfer = ModelTransfer(self.client, self)
        self._closed = False
        self._stopping = False  # closing waits for the training run to save its model

        self.message_bar = MessageBar()
        self.empty = EmptyState()
        self.panel = TranslatePanel()
        self.panel.set_options(settings.decode, settings.translate_as_you_type)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.empty)
        self.pages.addWidget(self.panel)
        self.training = TrainingPanel(settings.run_folders)
        self.training.form.set_values(settings.training_form)  # the form as it was left last time
        # The Model panel describes the translation model, so it is part of the Translate tab: switching
        # tabs then resizes nothing (a dock beside both tabs, hidden for Train, re-laid out every plot
        # and the heatmap on each switch: 60-80 ms of a frozen UI).
        self.info_view = ModelInfoView()
        self.info_panel = model_panel(self.info_view)
        self.translate_tab = QSplitter(Qt.Orientation.Horizontal, childrenCollapsible=False)
        self.translate_tab.addWidget(self.pages)
        self.translate_tab.addWidget(self.info_panel)
        self.translate_tab.setStretchFactor(0, 1)
        self.translate_tab.setSizes([10_000, 300])  # the panel's own width, the rest to the translation
        self.tabs = QTabWidget()
        self.tabs.addTab(self.translate_tab, "Translate")
        self.tabs.addTab(self.training, "Train")
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.message_bar.float_over(central)  # over the corner, not a row: showing it moves nothing


        self.library = ModelLibrary(self)  # File › Model library… and the swap (⇄)
        build_menus(self)
        self._build_status_bar()
        self._connect()
        self._refresh_recent()
        self._restore_window()
        self.empty.set_busy("Loading engine…")
        if warning:
            self.show_message(warning, "warning")

    # -- construction ------------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        self.state_label = QLabel("Loading engine…")
        self.busy = QProgressBar(minimum=0, maximum=0, maximumWidth=80, maximumHeight=12, textVisible=False)
        self.perf_label = QLabel("")
        bar = self.statusBar()
        bar.addWidget(self.state_label, 1)
        bar.addPermanentWidget(self.perf_label)
        bar.addPermanentWidget(self.busy)

    def _connect(self) -> None:
        c = self.client
        c.engine_loaded.connect(self._on_engine_loaded)
        c.model_opened.connect(self._on_model_opened)
        c.translated.connect(self._on_translated)
        c.failed.connect(self._on_failed)
        c.redecoded.connect(self.panel.replace_sentence)
        c.redecoded.connect(lambda *_: self._set_idle(keep_text=True))
        self.panel.inspector.redecode_requested.connect(self._on_redecode_requested)
        self.panel.inspector.reset_requested.connect(self.panel.reset_sentence)
        self.panel.inspector.export_failed.connect(self.show_message)
        self.files.message.connect(self.show_message)
        self.transfer.message.connect(self.show_message)
        self.transfer.imported.connect(self.open_model)
        c.info_changed.connect(self._on_info_changed)
        c.self_attended.connect(self.panel.inspector.set_self_attention)
        self.panel.inspector.self_attention_requested.connect(self._on_self_attention_requested)
        c.explained.connect(self.panel.inspector.set_explanation)
        c.explained.connect(self._on_explained)
        self.panel.inspector.explain_requested.connect(self._on_explain_requested)
        c.contrasted.connect(self.panel.inspector.set_contrast)
        c.contrasted.connect(lambda *_: self._set_idle(keep_text=True))
        self.panel.inspector.contrast_requested.connect(self._on_contrast_requested)
        c.tree_ready.connect(self.panel.tree_view.set_tree)
        self.panel.compare_view.compare_requested.connect(self._on_compare_requested)
        c.compared.connect(self.panel.compare_view.set_comparison)
        c.compared.connect(lambda *_: self._set_idle(keep_text=True))
        self.panel.compare_view.export_failed.connect(self.show_message)
        self.panel.tree_view.export_failed.connect(self.show_message)
        c.tree_ready.connect(lambda *_: self._set_idle(keep_text=True))
        self.panel.tree_view.tree_requested.connect(self._on_tree_requested)
        self.panel.tree_view.prefix_chosen.connect(self._on_redecode_requested)
        self.panel.target_language_chosen.connect(self._on_target_language_chosen)
        self.panel.translate_requested.connect(self._on_translate_requested)
        self.panel.options_changed.connect(self._store_options)
        self.empty.open_requested.connect(self.ask_open_model)
        self.empty.bundled_requested.connect(lambda: self.open_bundled_model(sample=True))
        self.empty.train_requested.connect(lambda: self.tabs.setCurrentWidget(self.training))
        self.training.use_model.connect(self._use_trained_model)
        self.training.message.connect(self.show_message)
        self.training.run_ended.connect(self._on_run_ended)
        self.training.form.start_requested.connect(lambda *_: self._store_training_form())
        self.empty.recent_requested.connect(self.open_model)

    def _restore_window(self) -> None:
        s = self.settings
        if s.window_geometry:
            self.restoreGeometry(QByteArray.fromBase64(s.window_geometry.encode()))
        else:
            screen = self.screen() or QGuiApplication.primaryScreen()
            if screen is not None:
                self.setGeometry(default_geometry(screen.availableGeometry()))
            else:
                self.resize(DEFAULT_SIZE)
        if s.window_state:
            self.restoreState(QByteArray.fromBase64(s.window_state.encode()))
        if s.splitter_state:
            self.panel.splitter.restoreState(QByteArray.fromBase64(s.splitter_state.encode()))
        if s.model_panel_state:
            self.translate_tab.restoreState(QByteArray.fromBase64(s.model_panel_state.encode()))
        self.model_panel_action.setChecked(s.model_panel_visible)  # View › Model panel shows or hides it
        self.info_panel.setVisible(s.model_panel_visible)

    # -- start-up ----------------------------------------------------------------------------------
    def start_engine(self, open_last: bool = True, bundled: bool = True) -> None:
        """Start the worker (it imports torch) and reopen the last model, or else (with `bundled`) the
        built-in one. Call once the window shows."""
        self.client.start()
        QTimer.singleShot(0, self.panel.inspector.heatmap.warm_up)  # while torch imports on the engine thread
        QTimer.singleShot(0, self.training.warm_up)  # (one event-loop turn each)
        if not open_last:
            return
        last = self.settings.last_model
        if last and os.path.isfile(last):
            self.open_model(last)
            return
        fallback = bundled and bundled_model() is not None
        if last:
            instead = "the built-in model is open instead" if fallback else "open another one"
            self.show_message(f"The last model, {last}, is no longer there; {instead}.", "warning")
        if fallback:
            self.open_bundled_model(sample=not last)  # the first run shows a translation, not an empty window

    def open_bundled_model(self, sample: bool = False) -> None:
        """Open the English→German model that ships with the app; with `sample`, translate a sentence."""
        path = bundled_model()
        if path is None:
            self.show_message("This installation has no built-in model. Open a model file or train one.", "info")
            return
        if sample and not self.panel.source.toPlainText().strip():
            self.panel.source.setPlainText(SAMPLE_SENTENCE)
        self.open_model(str(path))

    # -- model files -------------------------------------------------------------------------------
    def ask_open_model(self) -> None:
        start = os.path.dirname(self.settings.recent_models[0]) if self.settings.recent_models else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open a model file", start, MODEL_FILTER)
        if path:
            self.open_model(path)

    def open_model(self, path: str) -> None:
        """Open a model file; a Hugging Face Marian folder is offered for import instead, and any other
        folder gets the engine's own message (as `s2s` gives it: choose the .s2s file inside)."""
        path = os.path.abspath(path)
        if os.path.isdir(path) and is_marian_folder(path):
            self.transfer.ask_import(path)
            return
        if not os.path.exists(path):
            self.show_message(f"Cannot open {path}: the file does not exist.")
            self.settings.remove_recent(path)
            self._refresh_recent()
            return
        self.opening = path
        self.client.open_model(path, self.settings.device)
        self._set_busy(f"Opening {os.path.basename(path)}…")
        if self.model_info is None:
            self.empty.set_busy(f"Opening {os.path.basename(path)}…")

    def _on_model_opened(self, info: ModelInfo) -> None:
        freeze_startup_objects()
        self.opening = None
        self.model_info = info
        if self.message_bar.level == "error":
            self.message_bar.dismiss()  # the problem it described is solved
        self.settings.last_model = info.path
        self.settings.add_recent(info.path)
        self._refresh_recent()
        self._save_settings()
        self.info_view.show_info(info)
        self.panel.set_languages(info.src_lang, info.tgt_lang)
        self.panel.set_target_languages(info.target_languages, info.target_language)
        self.panel.inspector.set_model(os.path.basename(info.path), info.model.get("arch") == "transformer")
        self.panel.tree_view.forget(os.path.basename(info.path))
        self.panel.compare_view.set_model(info, self.library.comparable(info))
        self.pages.setCurrentWidget(self.panel)
        self.empty.set_idle()
        self.translate_file_action.setEnabled(True)
        self.export_action.setEnabled(True)
        self.device_combo.select(info.device)
        name = os.path.basename(info.path)
        self.setWindowTitle(f"{name} — s2s-desktop")
        self._set_idle(self._model_status(info))
        if info.target_languages and not info.target_language:  # a multilingual model needs one: the first
            self.client.set_target_language(info.target_languages[0])
        elif self.panel.source.toPlainText().strip():
            self.panel.request_translation()
        self.panel.source.setFocus()

    def _on_target_language_chosen(self, code: str) -> None:
        if self.model_info is not None and code != self.model_info.target_language:
            self.client.set_target_language(code)

    def _on_info_changed(self, info: ModelInfo) -> None:
        """The target language changed: describe the model again and translate into the new one."""
        self.model_info = info
        self.info_view.show_info(info)
        self.panel.set_target_languages(info.target_languages, info.target_language)
        if self.panel.source.toPlainText().strip():
            self.panel.request_translation()

    @staticmethod
    def _model_status(info: ModelInfo) -> str:
        return f"{info.src_lang} → {info.tgt_lang} · {os.path.basename(info.path)} on {info.device}"

    def _use_trained_model(self, path: str) -> None:
        self.open_model(path)
        self.tabs.setCurrentWidget(self.translate_tab)

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_models
        for path, label in zip(recent, distinct_labels(recent)):  # two runs' best.s2s differ by their folder
            action = self.recent_menu.addAction(label)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_model(p))
        self.recent_menu.setEnabled(bool(self.settings.recent_models))
        self.empty.set_recent(self.settings.recent_models)

    # -- devices -----------------------------------------------------------------------------------
    def _on_engine_loaded(self, info: EngineInfo) -> None:
        freeze_startup_objects()
        self.device_combo.set_devices(info)
        self.training.form.set_devices(["auto", *info.devices])
        self.device_combo.select(self.settings.device)
        if self.opening is None:
            self._set_idle(f"Engine ready (torch {info.torch_version}). Open a model to translate."
                           if self.model_info is None else self.state_label.text())
            if self.model_info is None:
                self.empty.set_idle()

    def _on_device_chosen(self, device: str) -> None:
        self.settings.device = device
        self._save_settings()
        if self.model_info is not None and self.model_info.device != device:
            self.open_model(self.model_info.path)

    # -- translation -------------------------------------------------------------------------------
    def _on_translate_requested(self, text: str, options: DecodeOptions) -> None:
        if self.model_info is None and self.opening is None:
            return
        if not text.strip():
            self.client.translate("", options)  # supersedes anything in flight
            self.panel.clear_result()
            self.perf_label.setText("")
            return
        self.client.translate(text, options)
        self._set_busy("Translating…", keep_text=True)

    def _on_translated(self, result: ParagraphTranslation, seconds: float) -> None:
        if not result.source.strip():
            return
        self.panel.show_result(result)
        rate = result.source_word_count / seconds if seconds > 0 else 0.0
        self.perf_label.setText(f"{seconds * 1000:.0f} ms · {rate:,.0f} words/s")
        if result.truncated:
            self.show_message("A sentence was longer than the model's input limit and was cut; "
                              "split it into shorter sentences for a complete translation.", "warning")
        self._set_idle(keep_text=True)

    def _on_self_attention_requested(self, key: object, source: str, tokens: object) -> None:
        if self.opening is None:  # (see _on_explain_requested)
            self.client.self_attention(key, source, tokens)

    def _on_explain_requested(self, key: object, method: str, source: str, tokens: object, first: object,
                              steps: int) -> None:
        if self.opening is not None:
            # The map shown is the previous model's: the engine would read its tokens with the model being
            # opened (and fail on a piece of the old vocabulary); the new model's translation follows.
            return
        self.client.explain(key, method, source, tokens, first, steps)
        self._set_busy("Computing the attribution…", keep_text=True)  # the busy bar: it may take seconds

    def _on_explained(self, key: object, method: str, result: object) -> None:
        """A partial map fills the busy bar by its rows; the whole ends it (a cancelled one, None, leaves
        it to the request that cancelled it)."""
        if result is None:
            return
        if result.complete:
            self._set_idle(keep_text=True)
        else:
            self.busy.setRange(0, len(key[1]))
            self.busy.setValue(result.rows_done)
            self.busy.show()

    def _on_contrast_requested(self, key: object, source: str, tokens: object, position: int, alternative: str) -> None:
        if self.opening is None:
            self.client.contrast(key, source, tokens, position, alternative)
            self._set_busy("Computing the contrast…", keep_text=True)

    def _on_tree_requested(self, key: object, source: str) -> None:
        if self.opening is not None:
            return
        self.client.beam_tree(key, source, key[1])
        self._set_busy("Searching the beam tree…", keep_text=True)

    def _on_compare_requested(self, key: object, path: str, text: str, options: object) -> None:
        if self.opening is None:
            self.client.compare(key, path, text, options)
            self._set_busy(f"Translating with {os.path.basename(path)}…", keep_text=True)

    def _on_redecode_requested(self, sentence: int, prefix: object) -> None:
        result = self.panel.result
        if result is None or sentence >= len(result.sentences):
            return
        self.client.redecode(sentence, result.sentences[sentence].source, prefix, self.panel.options())
        self._set_busy("Decoding from the forced prefix…", keep_text=True)

    # -- file translation --------------------------------------------------------------------------
    def ask_file_paths(self) -> tuple[str, str] | None:
        return self.files.ask_paths(self.model_info)

    def ask_translate_file(self) -> None:
        paths = self.ask_file_paths()
        if paths is not None:
            self.files.start(*paths, self.panel.options())

    # -- errors and status -------------------------------------------------------------------------
    def _on_failed(self, failure: Failure) -> None:
        message = failure.message
        if failure.kind is FailureKind.OPEN_MODEL:
            path = self.opening or failure.subject
            self.opening = None
            if self.model_info is None:
                self.empty.set_idle()
            name = os.path.basename(path) or "the model"
            keep = (f" The previous model, {os.path.basename(self.model_info.path)}, is still in use."
                    if self.model_info else "")
            self.show_message(f"Could not open {name}: {message}.{keep}")
            # The status line said "Opening …": say what is true now.
            self._set_idle(self._model_status(self.model_info) if self.model_info else f"Could not open {name}.")
            return
        elif failure.kind is FailureKind.TRANSLATE_FILE:
            self.files.fail(message)
        elif failure.kind in (FailureKind.IMPORT_MODEL, FailureKind.EXPORT_MODEL):
            self.transfer.fail(message)
        elif failure.kind is FailureKind.BEAM_TREE:
            self.panel.tree_view.failed(message)
        elif failure.kind is FailureKind.COMPARE:
            self.panel.compare_view.failed(message)
        elif failure.kind in (FailureKind.SELF_ATTENTION, FailureKind.EXPLAIN):
            # (two lines high: a longer text is cut, and whole in its tooltip)
            what = "self-attention" if failure.kind is FailureKind.SELF_ATTENTION else "attribution"
            self.panel.inspector.request_failed(f"The {what} could not be computed: {message}")
        elif failure.kind is FailureKind.LOAD_ENGINE:
            self.show_message(f"The translation engine could not start: {message}")
            self.empty.set_idle()
        else:
            self.show_message(f"Error while {failure.action}: {message}")
        self._set_idle(keep_text=True)

    def show_message(self, text: str, level: str = "error") -> None:
        self.message_bar.show_message(text, level)

    def _set_busy(self, text: str, keep_text: bool = False) -> None:
        if not keep_text:
            self.state_label.setText(text)
        self.busy.show()

    def _set_idle(self, text: str | None = None, keep_text: bool = False) -> None:
        if text is not None and not keep_text:
            self.state_label.setText(text)
        elif text is None and not keep_text and self.model_info:
            self.state_label.setText("Ready")
        if self.opening is None:
            self.busy.hide()
            self.busy.setRange(0, 0)  # (back to "busy" from a determinate attribution's rows)

    def show_about(self) -> None:
        AboutDialog(self.model_info, self).exec()

    # -- settings and shutdown ---------------------------------------------------------------------
    def _store_options(self) -> None:
        self.settings.decode = self.panel.options()
        self.settings.translate_as_you_type = self.panel.as_you_type.isChecked()
        QTimer.singleShot(0, self._save_settings)

    def _store_training_form(self) -> None:
        """A run starts: its form is what the next session's form starts from."""
        self.settings.training_form = self.training.form.values()
        QTimer.singleShot(0, self._save_settings)

    def _on_run_ended(self) -> None:
        """A banner about the run that was training ("A run is already training") is stale now."""
        if self.message_bar.text() in self.training.transient:
            self.message_bar.dismiss()

    def _save_settings(self) -> None:
        try:
            save_settings(self.settings)
        except OSError as exc:
            self.show_message(f"Settings could not be saved ({exc}).", "warning")

    def confirm_stop_training(self) -> bool:
        """Asked when the window closes during training; True to stop (a model is saved) and quit."""
        answer = QMessageBox.question(
            self, "Training is running",
            "A model is training. Stop it (the current model is saved, and the run can be resumed later) and quit?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _training(self) -> bool:
        return self.training.client.running or self.training.process is not None

    def closeEvent(self, event: QCloseEvent) -> None:
        """Never blocks: a training run is stopped first (it finishes its step and saves a model) while the
        window stays responsive, and the window closes when the run has ended."""
        if not self._closed and self._training():
            if self._stopping or self.confirm_stop_training():
                self._stop_training_then_close()
            event.ignore()
            return
        if not self._closed:
            self._closed = True
            self.settings.run_folders = list(self.training.history.extra_folders)
            self.settings.training_form = self.training.form.values()
            self.settings.window_geometry = bytes(self.saveGeometry().toBase64()).decode()
            self.settings.window_state = bytes(self.saveState().toBase64()).decode()
            self.settings.splitter_state = bytes(self.panel.splitter.saveState().toBase64()).decode()
            self.settings.model_panel_state = bytes(self.translate_tab.saveState().toBase64()).decode()
            self.settings.model_panel_visible = not self.info_panel.isHidden()
            self._store_options()
            self._save_settings()
            self.training.client.shutdown()
            self.client.shutdown(ENGINE_GRACE_MS)  # an idle engine ends at once
        super().closeEvent(event)

    def _stop_training_then_close(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._set_busy("Stopping training and saving a model…")
        self.training.stop_to_quit()  # says so at once; a distributed run stops and saves on SIGTERM
        self.training.client.done.connect(self._close_when_stopped)
        self.training.process_done.connect(self._close_when_stopped)
        QTimer.singleShot(STOP_TIMEOUT_MS, self._kill_distributed_run)

    def _close_when_stopped(self, *_: object) -> None:
        if not self._training():
            QTimer.singleShot(0, self.close)

    def _kill_distributed_run(self) -> None:
        """A distributed run that has not stopped by now will not: end it (its last save is kept)."""
        if self.training.process is not None:
            self.training.process.kill()

    # -- drag and drop -----------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """A model file opens; a Hugging Face Marian folder is imported (then opened)."""
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
            self.open_model(urls[0].toLocalFile())
