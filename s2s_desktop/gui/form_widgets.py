"""Small pieces of the training form: a path field with its file dialog, the corpus file filter, the
run-folder name rule, and the wheel guard that keeps a scrolling user from changing number boxes."""

from __future__ import annotations

import re
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QWidget,
)

from s2s_desktop import paths

# Extensions a corpus file commonly has besides its languages' codes (train.en, train.de).
CORPUS_EXTENSIONS = ("txt", "tsv", "gz", "xz", "bz2")
UNSAFE_NAME = re.compile(r"[^\w.-]+")


def corpus_filter(languages: tuple[str, ...] = ()) -> str:
    """The file dialog's filter: text and compressed files, files named after the languages typed in
    the form (train.pt, train.es), and "All files" for everything else (train.source, corpus.raw)."""
    codes = [c for c in dict.fromkeys(languages) if c and re.fullmatch(r"[A-Za-z0-9-]+", c)]
    patterns = " ".join(f"*.{ext}" for ext in (*CORPUS_EXTENSIONS, *codes))
    return f"Text corpora ({patterns});;All files (*)"


def safe_run_name(name: str) -> str:
    """The run folder's name: anything but letters, digits, ".", "-" and "_" becomes "_"."""
    return UNSAFE_NAME.sub("_", name.strip())


class PathField(QWidget):
    """A line edit with a Browse… button; `filters` gives the dialog's file filter when it opens."""

    changed = Signal()

    def __init__(self, placeholder: str, folder: bool = False, filters: Callable[[], str] | None = None) -> None:
        super().__init__()
        self.edit = QLineEdit(placeholderText=placeholder)
        self.edit.textChanged.connect(self.changed)
        button = QPushButton("Browse…")
        button.clicked.connect(self._browse)
        self.folder = folder
        self.filters = filters or corpus_filter
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(button)

    def _browse(self) -> None:
        if self.folder:
            path = QFileDialog.getExistingDirectory(self, "Choose a folder", self.text() or str(paths.runs_dir()))
        else:
            path, _ = QFileDialog.getOpenFileName(self, "Choose a corpus file", self.text(), self.filters())
        if path:
            self.edit.setText(path)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, text: str) -> None:
        self.edit.setText(text)


class WheelGuard(QObject):
    """Wheel events reach a number box or a list only when it has the keyboard focus (a click or Tab
    gives it); otherwise they pass to the scroll area around it. Without this, scrolling the form
    with the mouse over a spin box changes its value (batch 4096 -> 200 in twenty clicks)."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.Wheel or not isinstance(watched, QWidget) or watched.hasFocus():
            return False
        area = watched.parentWidget()
        while area is not None and not isinstance(area, QAbstractScrollArea):
            area = area.parentWidget()
        if area is not None:  # handed on explicitly: Qt propagates only real (spontaneous) wheel events
            QApplication.sendEvent(area.viewport(), event)
        return True


def guard_wheel(root: QWidget) -> WheelGuard:
    """Install the guard on every spin box and combo box under `root`; the wheel no longer gives
    them focus either (Qt.StrongFocus instead of Qt.WheelFocus)."""
    guard = WheelGuard(root)
    for widget in root.findChildren(QAbstractSpinBox) + root.findChildren(QComboBox):
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        widget.installEventFilter(guard)
    return guard
