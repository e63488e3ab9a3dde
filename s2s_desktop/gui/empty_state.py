"""What the window shows with no model open: how to get one, instead of dead controls."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from s2s_desktop.assets import DATA_CREDIT, bundled_model
from s2s_desktop.gui.menus import distinct_labels

TRAIN_HINT = (
    "No model yet? Train one on your own parallel corpus in the <b>Train</b> tab, or from a terminal:<br>"
    "<code>s2s train --train pairs.tsv --src-lang en --tgt-lang de --out my-run</code>"
)


class EmptyState(QWidget):
    open_requested = Signal()
    bundled_requested = Signal()
    train_requested = Signal()
    recent_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("<h2>No model open</h2>", alignment=Qt.AlignmentFlag.AlignCenter)
        self.body = QLabel(
            "Open a model file (<b>.s2s</b>) to start translating: <b>File › Open model…</b> (Ctrl+O), "
            "or drop the file on this window. A Hugging Face Marian (OPUS-MT) model folder: "
            "<b>File › Import model…</b>, or drop the folder.",
            alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True,
        )
        self.open_button = QPushButton("Open model file…")
        self.open_button.clicked.connect(self.open_requested)
        self.bundled_button = QPushButton("Use the built-in English → German model")
        self.bundled_button.setToolTip(f"A small model trained on Tatoeba sentences ({DATA_CREDIT}, CC BY 2.0)")
        self.bundled_button.clicked.connect(self.bundled_requested)
        self.bundled_button.setVisible(bundled_model() is not None)
        self.train_button = QPushButton("Train a model…")
        self.train_button.clicked.connect(self.train_requested)
        self.recent_box = QVBoxLayout()
        self.spinner = QProgressBar(minimum=0, maximum=0, textVisible=False, maximumWidth=240, maximumHeight=10)
        self.spinner.hide()
        self.busy = False
        self.hint = QLabel(TRAIN_HINT, alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True,
                           textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint.setStyleSheet("color: palette(mid);")
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        layout.addWidget(self.title)
        layout.addWidget(self.body)
        layout.addWidget(self.spinner, 0, Qt.AlignmentFlag.AlignCenter)
        layout.addSpacing(12)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.bundled_button)
        buttons.addWidget(self.train_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        layout.addLayout(self.recent_box)
        layout.addSpacing(24)
        layout.addWidget(self.hint)
        layout.addStretch(3)

    def set_busy(self, text: str) -> None:
        """While the engine loads or a model opens: one loading state (the title and a busy bar), not
        buttons offering what is already under way."""
        self.busy = True
        self.title.setText(f"<h2>{text}</h2>")
        self._show_choices(False)

    def set_idle(self) -> None:
        self.busy = False
        self.title.setText("<h2>No model open</h2>")
        self._show_choices(True)

    def _show_choices(self, shown: bool) -> None:
        self.spinner.setVisible(not shown)
        for w in (self.body, self.open_button, self.train_button, self.hint):
            w.setVisible(shown)
        self.bundled_button.setVisible(shown and bundled_model() is not None)
        for i in range(self.recent_box.count()):
            widget = self.recent_box.itemAt(i).widget()
            if widget is not None:
                widget.setVisible(shown)

    def set_recent(self, paths: list[str]) -> None:
        while self.recent_box.count():
            item = self.recent_box.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        if not paths:
            return
        self.recent_box.addWidget(QLabel("Recent models:", alignment=Qt.AlignmentFlag.AlignCenter, visible=not self.busy))
        for path, label in list(zip(paths, distinct_labels(paths)))[:5]:
            button = QPushButton(label, toolTip=path, flat=True, visible=not self.busy)
            button.setStyleSheet("text-decoration: underline; color: palette(link);")
            button.clicked.connect(lambda _=False, p=path: self.recent_requested.emit(p))
            self.recent_box.addWidget(button, 0, Qt.AlignmentFlag.AlignCenter)
