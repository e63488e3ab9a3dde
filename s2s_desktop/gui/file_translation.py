"""Translate a text file: a progress dialog with an ETA and a Cancel button, and the flow that runs
it on the engine (`FileTranslation`).

The dialog is window-modal (the engine thread is busy with the file), but the UI stays live: the
progress arrives as signals, and Cancel sets the worker's cancel event directly.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop.engine.api import DecodeOptions, FileSummary, ModelInfo
from s2s_desktop.gui.durations import format_eta

if TYPE_CHECKING:
    from s2s_desktop.gui.engine_client import EngineClient


# "All files" first: corpora are often named by language (news.en, news.de), which a *.txt filter hides.
TEXT_FILTER = "All files (*);;Text files (*.txt);;Language-named files (*.en *.de *.fr *.es *.it *.nl *.pt)"


def suggest_output_name(src: str | Path, src_lang: str, tgt_lang: str) -> Path:
    """Where the translation of `src` goes by default: news.en -> news.de (the language suffix swapped),
    notes.txt -> notes.de.txt (the target language before the extension), README -> README.de."""
    p = Path(src)
    tgt = tgt_lang or "out"
    suffix = p.suffix.lower().lstrip(".")
    if suffix and src_lang and suffix == src_lang.lower():
        return p.with_suffix(f".{tgt}")
    if p.suffix:
        return p.with_name(f"{p.stem}.{tgt}{p.suffix}")
    return p.with_name(f"{p.name}.{tgt}")


def estimate_eta(done: int, total: int, elapsed: float) -> float | None:
    if done <= 0 or elapsed <= 0:
        return None
    return (total - done) * elapsed / done


class FileTranslationDialog(QDialog):
    cancel_requested = Signal()

    def __init__(self, src: str, dst: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Translating a file")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.started = time.perf_counter()
        self.label = QLabel(f"{src}\n→ {dst}", wordWrap=True)
        self.bar = QProgressBar(minimum=0, maximum=0)
        self.eta = QLabel("Reading the file…")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self._cancel)
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.eta)
        layout.addWidget(self.buttons)
        self.resize(460, self.sizeHint().height())

    def update_progress(self, done: int, total: int) -> None:
        self.bar.setMaximum(max(total, 1))
        self.bar.setValue(done)
        eta = estimate_eta(done, total, time.perf_counter() - self.started)
        rate = done / max(time.perf_counter() - self.started, 1e-9)
        left = f"about {format_eta(eta)} left" if eta is not None else "estimating…"
        self.eta.setText(f"{done:,} of {total:,} lines · {rate:.1f} lines/s · {left}")

    def _cancel(self) -> None:
        self.eta.setText("Cancelling…")
        self.buttons.setEnabled(False)
        self.cancel_requested.emit()

    def reject(self) -> None:  # Esc or the window's close button cancel too
        if self.buttons.isEnabled():
            self._cancel()


class FileTranslation(QObject):
    """One file translation at a time: its dialog, its engine request and the message at its end."""

    message = Signal(str, str)  # text, level ("info" or "error")

    def __init__(self, client: EngineClient, parent: QWidget) -> None:
        super().__init__(parent)
        self.client = client
        self.dialog: FileTranslationDialog | None = None
        client.file_progressed.connect(self._progress)
        client.file_finished.connect(self._finished)

    def ask_paths(self, info: ModelInfo | None) -> tuple[str, str] | None:
        """The file to translate and where to write its translation (named for the target language)."""
        window = self.parent()
        src, _ = QFileDialog.getOpenFileName(window, "Translate a text file", str(Path.home()), TEXT_FILTER)
        if not src:
            return None
        suggested = suggest_output_name(src, info.src_lang if info else "", info.tgt_lang if info else "out")
        dst, _ = QFileDialog.getSaveFileName(window, "Save the translation as", str(suggested), TEXT_FILTER)
        return (src, dst) if dst else None

    def start(self, src: str, dst: str, options: DecodeOptions) -> None:
        if os.path.abspath(src) == os.path.abspath(dst):
            self.message.emit("The output file must differ from the input file.", "error")
            return
        self.dialog = FileTranslationDialog(src, dst, self.parent())
        self.dialog.cancel_requested.connect(self.client.cancel_file)
        self.client.translate_file(src, dst, options)
        self.dialog.show()

    def fail(self, message: str) -> None:
        self._close()
        self.message.emit(f"File translation failed: {message}", "error")

    def _progress(self, done: int, total: int) -> None:
        if self.dialog is not None:
            self.dialog.update_progress(done, total)

    def _finished(self, summary: FileSummary) -> None:
        self._close()
        if summary.cancelled:
            self.message.emit("File translation cancelled; nothing was written.", "info")
        else:
            self.message.emit(f"Translated {summary.lines:,} lines in {summary.seconds:.1f} s → {summary.output}",
                              "info")

    def _close(self) -> None:
        if self.dialog is not None:
            self.dialog.done(0)
            self.dialog.deleteLater()
            self.dialog = None
