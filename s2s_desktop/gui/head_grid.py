"""The inspector's grid of small maps, one per layer (rows) and head (columns); clicking one picks it.

A Marian model of OPUS-MT's size has 6 decoder layers x 8 heads: 48 maps. They stay readable at that
size because each thumbnail keeps a legible minimum width and the true aspect of its matrix (target
rows x source columns, square cells), every row and column is labelled (L1.., H1..), and the grid
scrolls when it does not fit. One widget paints every thumbnail from a cached QImage (no per-head
pyqtgraph view boxes: rebuilding 48 of them per translation cost hundreds of milliseconds).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QScrollArea, QToolTip, QWidget

from s2s_desktop.gui.attention_heatmap import COLORMAP
from s2s_desktop.gui.attention_math import MEAN_OF_HEADS

MIN_THUMB = 36  # px: narrower thumbnails of a 10-token sentence are unreadable; the grid scrolls instead
MAX_THUMB = 96
MAX_ASPECT = 2.0  # a thumbnail is at most this many times as tall as it is wide (longer outputs: cells not square)
GAP = 3
MARK = QColor(230, 40, 40)


def thumbnail_size(width: int, height: int, rows: int, cols: int, layers: int, heads: int, label_width: int,
                   label_height: int) -> QSize:
    """The size of each thumbnail in a `width` x `height` px grid: the true aspect of the matrix
    (rows/cols, capped at MAX_ASPECT), as large as fits both ways (within MIN/MAX_THUMB wide); at
    MIN_THUMB the grid scrolls rather than shrink further."""
    aspect = min(rows / max(cols, 1), MAX_ASPECT) if rows and cols else 1.0
    by_width = (width - label_width - GAP * (heads + 1)) / max(heads, 1)
    by_height = (height - label_height - GAP * (layers + 1)) / max(layers, 1) / aspect
    w = int(min(max(min(by_width, by_height), MIN_THUMB), MAX_THUMB))
    return QSize(w, max(8, round(w * aspect)))


def attention_image(matrix: np.ndarray, lut: np.ndarray) -> QImage:
    """(T, S) weights in [0, 1] -> an S x T RGB image through the colour table `lut` (256, 3)."""
    idx = np.clip(np.nan_to_num(np.asarray(matrix, dtype=np.float32)) * 255, 0, 255).astype(np.uint8)
    rgb = np.ascontiguousarray(lut[idx])  # (T, S, 3)
    rows, cols = idx.shape
    return QImage(rgb.data, cols, rows, 3 * cols, QImage.Format.Format_RGB888).copy()


class HeadCanvas(QWidget):
    """Paints the thumbnails and their labels; its size is set by `HeadGrid`."""

    head_picked = Signal(int, int)  # layer, head

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.images: list[list[QImage]] = []  # [layer][head]
        self.shape = (0, 0)  # layers, heads
        self.matrix_shape = (0, 0)  # rows, cols of each map
        self.current = (0, MEAN_OF_HEADS)
        self.thumb = QSize(MIN_THUMB, MIN_THUMB)
        metrics = QFontMetrics(self.font())
        self.label_width = metrics.horizontalAdvance("L00") + 8
        self.label_height = metrics.height() + 4

    def layout_for(self, width: int, height: int) -> QSize:
        layers, heads = self.shape
        self.thumb = thumbnail_size(width, height, *self.matrix_shape, layers, heads, self.label_width,
                                    self.label_height)
        return QSize(self.label_width + heads * (self.thumb.width() + GAP) + GAP,
                     self.label_height + layers * (self.thumb.height() + GAP) + GAP)

    def cell_rect(self, layer: int, head: int) -> QRect:
        """Where the thumbnail of (layer, head) is painted, in this widget's pixels."""
        return QRect(self.label_width + GAP + head * (self.thumb.width() + GAP),
                     self.label_height + GAP + layer * (self.thumb.height() + GAP),
                     self.thumb.width(), self.thumb.height())

    def cell_at(self, pos: QPoint) -> tuple[int, int] | None:
        layers, heads = self.shape
        for layer in range(layers):
            for head in range(heads):
                if self.cell_rect(layer, head).adjusted(-GAP // 2, -GAP // 2, GAP // 2, GAP // 2).contains(pos) \
                        and not self._under_labels(pos):
                    return layer, head
        return None

    def _under_labels(self, pos: QPoint) -> bool:
        seen = self.visibleRegion().boundingRect()
        return pos.y() < seen.top() + self.label_height or pos.x() < seen.left() + self.label_width

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), Qt.GlobalColor.white)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # crisp cells, not blur
        layers, heads = self.shape
        cur_layer, cur_head = self.current
        for layer, row in enumerate(self.images):
            for head, image in enumerate(row):
                r = self.cell_rect(layer, head)
                p.drawImage(r, image)
                chosen = layer == cur_layer and head == cur_head
                p.setPen(QPen(MARK, 3) if chosen else QPen(QColor(200, 200, 200), 1))
                p.drawRect(r.adjusted(-1, -1, 0, 0))
        if layers and cur_head == MEAN_OF_HEADS and 0 <= cur_layer < layers:  # the mean: the whole layer's row
            first, last = self.cell_rect(cur_layer, 0), self.cell_rect(cur_layer, heads - 1)
            p.setPen(QPen(MARK, 2, Qt.PenStyle.DashLine))
            p.drawRect(first.united(last).adjusted(-3, -3, 2, 2))
        self._paint_labels(p)
        p.end()

    def _paint_labels(self, p: QPainter) -> None:
        """H1.. above the columns and L1.. beside the rows, kept in view while the grid scrolls."""
        layers, heads = self.shape
        seen = self.visibleRegion().boundingRect()
        top, left = seen.top(), seen.left()
        p.fillRect(QRect(left, top, seen.width(), self.label_height), Qt.GlobalColor.white)
        p.fillRect(QRect(left, top, self.label_width, seen.height()), Qt.GlobalColor.white)
        p.setPen(QColor(60, 60, 60))
        for head in range(heads):
            r = self.cell_rect(0, head)
            p.drawText(QRect(r.left(), top, r.width(), self.label_height), Qt.AlignmentFlag.AlignCenter, f"H{head + 1}")
        for layer in range(layers):
            r = self.cell_rect(layer, 0)
            if r.bottom() > top + self.label_height:
                p.drawText(QRect(left, max(r.top(), top + self.label_height), self.label_width, r.height()),
                           Qt.AlignmentFlag.AlignCenter, f"L{layer + 1}")

    def event(self, ev: QEvent) -> bool:
        if ev.type() == QEvent.Type.ToolTip:
            cell = self.cell_at(ev.pos())
            if cell is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(ev.globalPos(), f"layer {cell[0] + 1}, head {cell[1] + 1}: click to show it",
                                  self, self.cell_rect(*cell))
            return True
        return super().event(ev)

    def mousePressEvent(self, ev: QMouseEvent) -> None:
        cell = self.cell_at(ev.position().toPoint())
        if cell is not None and ev.button() == Qt.MouseButton.LeftButton:
            self.head_picked.emit(*cell)
        super().mousePressEvent(ev)


class HeadGrid(QScrollArea):
    head_picked = Signal(int, int)  # layer, head

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = HeadCanvas()
        self.canvas.head_picked.connect(self.head_picked)
        self.setWidget(self.canvas)
        self.setWidgetResizable(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setMinimumHeight(90)
        self.lut = pg.colormap.get(COLORMAP).getLookupTable(0.0, 1.0, 256, alpha=False).astype(np.uint8)
        for bar in (self.verticalScrollBar(), self.horizontalScrollBar()):  # the labels follow the scroll
            bar.valueChanged.connect(lambda _: self.canvas.update())

    @property
    def shape(self) -> tuple[int, int]:
        return self.canvas.shape

    def set_attention(self, attention: np.ndarray, current: tuple[int, int]) -> None:
        """attention: [L, H, T, S] in [0, 1]."""
        att = np.asarray(attention, dtype=np.float32)
        layers, heads = att.shape[:2]
        self.canvas.images = [[attention_image(att[layer, head], self.lut) for head in range(heads)]
                              for layer in range(layers)]
        self.canvas.shape = (layers, heads)
        self.canvas.matrix_shape = att.shape[2:4]
        self._relayout()
        self.mark(*current)

    def mark(self, layer: int, head: int) -> None:
        self.canvas.current = (layer, head)
        if head != MEAN_OF_HEADS and self.canvas.shape[0]:
            r = self.canvas.cell_rect(layer, head)  # in view, below and right of the kept labels
            self.ensureVisible(r.center().x(), r.center().y(), r.width() // 2 + self.canvas.label_width + GAP,
                               r.height() // 2 + self.canvas.label_height + GAP)
        self.canvas.update()

    def cell_center(self, layer: int, head: int) -> QPoint:
        """The centre of a thumbnail in the canvas's pixels (for tests)."""
        return self.canvas.cell_rect(layer, head).center()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._relayout()

    def sizeHint(self) -> QSize:
        """Room for the whole grid at the minimum thumbnail size (a splitter starts from this)."""
        layers, heads = self.canvas.shape or (1, 1)
        c = self.canvas
        return QSize(c.label_width + heads * (MIN_THUMB + GAP) + GAP + 20,
                     min(c.label_height + layers * (MIN_THUMB + GAP) + GAP + 4, 420))

    def _relayout(self) -> None:
        width, height = self.viewport().width(), self.viewport().height()
        if self.verticalScrollBar().isVisible():  # measure as if it were not there
            width += self.verticalScrollBar().width()
        if self.horizontalScrollBar().isVisible():
            height += self.horizontalScrollBar().height()
        size = self.canvas.layout_for(width, height)
        if size.height() > height:  # it will scroll: the vertical bar takes its width
            size = self.canvas.layout_for(width - self.verticalScrollBar().sizeHint().width(), 10**6)
        self.canvas.resize(size)
        self.canvas.update()
