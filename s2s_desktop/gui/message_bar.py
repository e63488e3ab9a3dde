"""The one place where problems are shown: a card over the bottom-right corner of the window.

Errors from the engine, bad files and unexpected exceptions all land here, so the user never has to
hunt for them and never has to click a dialog away to keep working. Errors and warnings stay until
dismissed (or until what they describe is solved); news ("Translated 120 lines …") leaves by itself
after `INFO_SECONDS`, unless the mouse rests on it.

It floats over its host rather than taking a row of the layout: as a row it pushed the whole window
down and back up, a relayout and a repaint of everything (30-40 ms of a frozen UI per message);
floating, showing or dismissing it repaints only the corner it covers.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

STYLES = {
    "error": "background: #fde2e1; color: #7a1010; border: 1px solid #d98a86;",
    "warning": "background: #fff4d6; color: #6b4e00; border: 1px solid #d8b95f;",
    "info": "background: #e3effd; color: #0e3a6b; border: 1px solid #8fb3e0;",
}
INFO_SECONDS = 15
MARGIN = 12  # px from the host's right and bottom edges
MAX_WIDTH = 620


class MessageBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level = ""
        self._styled = ""
        self.label = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(text="✕", toolTip="Dismiss", autoRaise=True)
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 8, 6, 8)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.expiry = QTimer(self, singleShot=True, interval=INFO_SECONDS * 1000)
        self.expiry.timeout.connect(self.dismiss)
        self.hide()

    def float_over(self, host: QWidget) -> None:
        """Become a child of `host`, drawn over its bottom-right corner and kept there as it resizes."""
        self.setParent(host)
        host.installEventFilter(self)
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        if level != self._styled:  # a style sheet re-polishes every child: only when the level changes
            self._styled = level
            self.setStyleSheet(f"MessageBar {{ {STYLES[level]} border-radius: 6px; }} "
                               "QLabel, QToolButton { border: none; background: transparent; }")
        self.level = level
        self.label.setText(text)
        self._place()
        self.raise_()
        self.show()
        if level == "info":
            self.expiry.start()
        else:
            self.expiry.stop()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def dismiss(self) -> None:
        self.level = ""
        self.expiry.stop()
        self.hide()

    def _place(self) -> None:
        host = self.parentWidget()
        if host is None:
            return
        area = host.rect()
        width = max(min(MAX_WIDTH, max(area.width() * 45 // 100, 360), area.width() - 2 * MARGIN), 120)
        wanted = self.layout().totalHeightForWidth(width)
        height = min(wanted, max(area.height() // 2, 60))
        self.label.setToolTip(self.label.text() if height < wanted else "")  # cut: all of it on hover
        self.setGeometry(area.right() - MARGIN - width, area.bottom() - MARGIN - height, width, height)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.parentWidget() and event.type() == QEvent.Type.Resize and self.isVisible():
            self._place()
        return super().eventFilter(obj, event)

    def enterEvent(self, event) -> None:  # reading it: it stays
        self.expiry.stop()
        super().enterEvent(event)

    def leaveEvent(self, event) -> None:
        if self.level == "info" and self.isVisible():
            self.expiry.start()
        super().leaveEvent(event)
