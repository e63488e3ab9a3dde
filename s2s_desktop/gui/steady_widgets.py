"""Widgets whose content changes repaint them and nothing else.

A Qt widget whose size hint may change (a QLabel's setText, a QComboBox refilled) calls
updateGeometry, and Qt passes that up through every parent that has no fixed size: inside the
inspector it reached the window, and the tab widget on the way repaints itself whole on each
layout request. One click on the map cost ~12 ms of layout and a repaint of the whole inspector.
Qt stops the climb at a widget of fixed size, so: labels with a size set once (`SteadyLabel`), and
combo boxes sized once for their widest entry (`fix_combo_size`).
"""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QAbstractTextDocumentLayout, QPainter, QPaintEvent, QPalette, Qt, QTextDocument
from PySide6.QtWidgets import QComboBox, QSizePolicy, QWidget


class SteadyLabel(QWidget):
    """A word-wrapped label of `lines` lines (rich or plain text) whose setText only repaints it; a
    text that does not fit is cut, and its whole text becomes the tooltip."""

    def __init__(self, text: str = "", lines: int = 2, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._lines = lines
        self._doc = QTextDocument(self)
        self._doc.setDocumentMargin(0)
        self._doc.setDefaultFont(self.font())
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(lines * self.fontMetrics().lineSpacing() + 4)
        self.setText(text)

    def sizeHint(self) -> QSize:
        return QSize(240, self.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(60, self.height())

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:
        if text == self._text:
            return
        self._text = text
        if Qt.mightBeRichText(text):
            self._doc.setHtml(text)
        else:
            self._doc.setPlainText(text)
        self._fit()
        self.update()

    def plain_text(self) -> str:
        return self._doc.toPlainText()

    def _fit(self) -> None:
        self._doc.setTextWidth(max(self.width(), 1))
        cut = self._doc.size().height() > self.height() + 1
        self.setToolTip(self._doc.toPlainText() if cut else "")

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setClipRect(self.rect())
        context = QAbstractTextDocumentLayout.PaintContext()
        context.palette.setColor(QPalette.ColorRole.Text, self.palette().color(QPalette.ColorRole.WindowText))
        self._doc.documentLayout().draw(p, context)
        p.end()


def fix_combo_size(box: QComboBox, widest: list[str]) -> None:
    """Give `box` the fixed size that shows the longest of `widest` (and of its present items), so
    refilling it never re-lays out its parents; the popup still shows entries in full."""
    probe = QComboBox()
    probe.setFont(box.font())
    probe.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
    probe.addItems([*widest, *(box.itemText(i) for i in range(box.count()))])
    hint = probe.sizeHint()
    probe.deleteLater()
    box.setFixedSize(hint)
