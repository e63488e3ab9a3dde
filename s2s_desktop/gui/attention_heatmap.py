"""The attention heatmap: target tokens as rows, source tokens as columns (pyqtgraph).

Labels on both axes thin themselves out so they never overlap and come back as you zoom (wheel) or
pan (drag); a colour bar shows the scale; hovering a cell shows both tokens and the weight; clicking
a cell, a row label or a column label selects it. Clicks go through `attention_math.pixel_to_cell`.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Signal
from PySide6.QtGui import QBrush, QColor, QCursor, QFontMetrics, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QToolTip, QWidget

from s2s_desktop.gui.attention_math import elide, pixel_to_cell, visible_ticks

COLORMAP = "viridis"
SELECT_PEN = QPen(QColor(255, 64, 64), 0)
SELECT_BRUSH = QBrush(QColor(255, 64, 64, 40))


class TokenAxis(pg.AxisItem):
    """An axis whose ticks are token labels at cell centres, thinned to what fits."""

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        # Thinning is done in tickValues; pyqtgraph's own fill limit would drop dense label rows.
        self.setStyle(textFillLimits=[(0, 10.0)], autoExpandTextSpace=False, hideOverlappingLabels=False)
        self.labels: tuple[str, ...] = ()
        self.label_pixels = 14.0

    def set_labels(self, labels: tuple[str, ...]) -> None:
        self.labels = tuple(elide(x) for x in labels)
        metrics = QFontMetrics(self.style.get("tickFont") or self.font())
        if self.orientation in ("left", "right"):
            self.label_pixels = metrics.height() + 3
            widest = max((metrics.horizontalAdvance(x) for x in self.labels), default=20)
            self.setWidth(min(widest + 16, 160))
        else:
            self.label_pixels = max((metrics.horizontalAdvance(x) for x in self.labels), default=20) + 8
            self.setHeight(metrics.height() + 10)
        self.picture = None
        self.update()

    def tickValues(self, minVal, maxVal, size):
        ticks = visible_ticks(minVal, maxVal, len(self.labels), size, self.label_pixels)
        return [(1.0, [i + 0.5 for i in ticks])]

    def tickStrings(self, values, scale, spacing):
        n = len(self.labels)
        return [self.labels[int(v)] if 0 <= int(v) < n else "" for v in values]


class AttentionImage(pg.ImageItem):
    """The matrix as an image (row-major: A[target, source]) that reports the cell under the mouse."""

    def __init__(self) -> None:
        super().__init__(axisOrder="row-major")
        self.setAcceptHoverEvents(True)
        self.describe = lambda row, col: ""

    def hoverEvent(self, ev) -> None:
        if ev.isExit() or self.image is None:
            QToolTip.hideText()
            return
        pos = ev.pos()
        row, col = int(np.floor(pos.y())), int(np.floor(pos.x()))
        rows, cols = self.image.shape[:2]
        if 0 <= row < rows and 0 <= col < cols:
            QToolTip.showText(QCursor.pos(), self.describe(row, col))


class AttentionHeatmap(pg.GraphicsLayoutWidget):
    cell_clicked = Signal(int, int)  # row (target), column (source)
    row_clicked = Signal(int)
    column_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.left_axis, self.top_axis = TokenAxis("left"), TokenAxis("top")
        self.plot = self.addPlot(axisItems={"left": self.left_axis, "top": self.top_axis})
        self.plot.showAxis("top")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.view = self.plot.getViewBox()
        self.view.invertY(True)
        self.view.setAspectLocked(False)
        self.image = AttentionImage()
        self.image.describe = self._describe
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get(COLORMAP), interactive=False,
                                        width=14, label="weight")
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        self.row_band = QGraphicsRectItem()
        self.col_band = QGraphicsRectItem()
        for band in (self.row_band, self.col_band):
            band.setPen(SELECT_PEN)
            band.setBrush(SELECT_BRUSH)
            band.setZValue(10)
            band.hide()
            self.view.addItem(band, ignoreBounds=True)
        self.matrix = np.zeros((0, 0), dtype=np.float32)
        self.row_labels: tuple[str, ...] = ()
        self.col_labels: tuple[str, ...] = ()
        self.scene().sigMouseClicked.connect(self._on_click)

    # -- content -----------------------------------------------------------------------------------
    def set_matrix(self, matrix: np.ndarray, row_labels: tuple[str, ...], col_labels: tuple[str, ...],
                   keep_view: bool = False) -> None:
        self.matrix = np.asarray(matrix, dtype=np.float32)
        self.row_labels, self.col_labels = row_labels, col_labels
        rows, cols = self.matrix.shape if self.matrix.ndim == 2 else (0, 0)
        self.left_axis.set_labels(row_labels)
        self.top_axis.set_labels(col_labels)
        if rows and cols:
            self.image.setImage(self.matrix, autoLevels=False, levels=(0.0, 1.0))
            self.image.setRect(QRectF(0, 0, cols, rows))
            self.image.show()
        else:
            self.image.hide()
        self.view.setLimits(xMin=0, xMax=max(cols, 1), yMin=0, yMax=max(rows, 1),
                            minXRange=min(1, cols or 1), minYRange=min(1, rows or 1))
        if not keep_view:
            self.view.setRange(QRectF(0, 0, max(cols, 1), max(rows, 1)), padding=0)
        self.select(None, None)

    def warm_up(self) -> None:
        """Paint once with dummy data: pyqtgraph's first paint (colour tables, font metrics) costs
        about 100 ms, better spent while the engine works than when the first real map arrives."""
        self.set_matrix(np.eye(3, dtype=np.float32), ("a", "b", "c"), ("x", "y", "z"))
        self.grab()
        self.set_matrix(np.zeros((0, 0)), (), ())

    def select(self, row: int | None, col: int | None) -> None:
        rows, cols = self.matrix.shape if self.matrix.ndim == 2 else (0, 0)
        if row is not None and 0 <= row < rows:
            self.row_band.setRect(QRectF(0, row, cols, 1))
            self.row_band.show()
        else:
            self.row_band.hide()
        if col is not None and 0 <= col < cols:
            self.col_band.setRect(QRectF(col, 0, 1, rows))
            self.col_band.show()
        else:
            self.col_band.hide()

    def _describe(self, row: int, col: int) -> str:
        return (f"target <b>{html.escape(self.row_labels[row])}</b> → source <b>{html.escape(self.col_labels[col])}</b>: "
                f"{self.matrix[row, col]:.3f}")

    # -- clicks ------------------------------------------------------------------------------------
    def cell_at_scene(self, pos: QPointF) -> tuple[int, int] | None:
        rect = self.view.sceneBoundingRect()
        return pixel_to_cell(pos.x(), pos.y(), (rect.left(), rect.top(), rect.width(), rect.height()),
                             tuple(map(tuple, self.view.viewRange())), self.matrix.shape)

    def scene_point_of_cell(self, row: int, col: int) -> QPointF:
        """The scene (= widget pixel) position of a cell's centre: for tests and benchmarks."""
        return self.view.mapViewToScene(QPointF(col + 0.5, row + 0.5))

    def _on_click(self, ev) -> None:
        if self.matrix.size == 0:
            return
        pos = ev.scenePos()
        rect = self.view.sceneBoundingRect()
        if rect.contains(pos):
            cell = self.cell_at_scene(pos)
            if cell is not None:
                ev.accept()
                self.cell_clicked.emit(*cell)
        elif self.left_axis.sceneBoundingRect().contains(pos):
            cell = self.cell_at_scene(QPointF(rect.center().x(), pos.y()))
            if cell is not None:
                self.row_clicked.emit(cell[0])
        elif self.top_axis.sceneBoundingRect().contains(pos):
            cell = self.cell_at_scene(QPointF(pos.x(), rect.center().y()))
            if cell is not None:
                self.column_clicked.emit(cell[1])


class HeadGrid(pg.GraphicsLayoutWidget):
    """Small maps of every layer (rows) and head (columns); clicking one picks it."""

    head_picked = Signal(int, int)  # layer, head

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.boxes: list[tuple[pg.ViewBox, int, int]] = []
        self.images: list[pg.ImageItem] = []
        self.shape: tuple[int, int] = (0, 0)
        self.scene().sigMouseClicked.connect(self._on_click)

    def set_attention(self, attention: np.ndarray, current: tuple[int, int]) -> None:
        """attention: [L, H, T, S]. The small views are kept while the layer x head shape is the same
        (rebuilding 16-48 view boxes per translation would cost hundreds of milliseconds)."""
        layers, heads = attention.shape[:2]
        if (layers, heads) != self.shape:
            self.clear()
            self.boxes, self.images = [], []
            cmap = pg.colormap.get(COLORMAP)
            for layer in range(layers):
                for head in range(heads):
                    box = self.addViewBox(row=layer, col=head, lockAspect=False, enableMouse=False, enableMenu=False)
                    box.invertY(True)
                    box.setMenuEnabled(False)
                    img = pg.ImageItem(axisOrder="row-major")
                    img.setColorMap(cmap)
                    box.addItem(img)
                    self.boxes.append((box, layer, head))
                    self.images.append(img)
            self.shape = (layers, heads)
        for (box, layer, head), img in zip(self.boxes, self.images):
            img.setImage(np.asarray(attention[layer, head], dtype=np.float32), levels=(0, 1), autoLevels=False)
            box.autoRange(padding=0)
        self.mark(*current)

    def mark(self, layer: int, head: int) -> None:
        for box, lay, hd in self.boxes:
            box.setBorder(pg.mkPen((255, 64, 64), width=3) if (lay, hd) == (layer, head) else pg.mkPen((200, 200, 200)))

    def _on_click(self, ev) -> None:
        for box, layer, head in self.boxes:
            if box.sceneBoundingRect().contains(ev.scenePos()):
                self.head_picked.emit(layer, head)
                return
