"""The one place where problems are shown: a banner across the top of the window.

Errors from the engine, bad files and unexpected exceptions all land here, so the user never has to
hunt for them and never has to click a dialog away to keep working.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

STYLES = {
    "error": "background: #fde2e1; color: #7a1010; border: 1px solid #e8a5a2;",
    "warning": "background: #fff4d6; color: #6b4e00; border: 1px solid #e9cf85;",
    "info": "background: #e3effd; color: #0e3a6b; border: 1px solid #a8c6ea;",
}


class MessageBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level = ""
        self.label = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(text="✕", toolTip="Dismiss", autoRaise=True)
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        self.level = level
        self.setStyleSheet(f"MessageBar {{ {STYLES[level]} border-radius: 4px; }} QLabel {{ border: none; }}")
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def dismiss(self) -> None:
        self.level = ""
        self.hide()
