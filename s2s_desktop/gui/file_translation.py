"""Translate a text file: a progress dialog with an ETA and a Cancel button.

The dialog is window-modal (the engine thread is busy with the file), but the UI stays live: the
progress arrives as signals, and Cancel sets the worker's cancel event directly.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)


def format_eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


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
