"""The attention heatmap: target tokens as rows, source tokens as columns (pyqtgraph).

Every token gets a label when the labels can fit: column labels turn vertical when side by side they
would not, and both axes step down to a smaller font before thinning out; beyond that they thin so
they never overlap, and come back as you zoom (wheel) or pan (drag). A colour bar shows the scale;
hovering a cell shows both tokens and the weight (the tooltip stays while the mouse rests on the
cell); clicking a cell, a row label or a column label selects it. Clicks go through
`attention_math.pixel_to_cell`.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QCursor, QFont, QFontMetrics, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QToolTip, QWidget

from s2s_desktop.gui.attention_math import elide, pixel_to_cell, visible_ticks
from s2s_desktop.gui.plot_settle import SettlesAtOnce

COLORMAP = "viridis"
SELECT_PEN = QPen(QColor(255, 64, 64), 0)
SELECT_BRUSH = QBrush(QColor(255, 64, 64, 40))
SMALL_FONT = 0.8  # the smaller label font, relative to the normal one
LABEL_RGB = (50, 50, 50)
ROTATED_TOP_FLAGS = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
ROTATED_BOTTOM_FLAGS = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
# generateDrawSpecs' flags per orientation: aligned toward the axis, centred on the tick, never clipped
_DONT_CLIP = Qt.TextFlag.TextDontClip
TEXT_FLAGS = {"top": int(Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignHCenter | _DONT_CLIP),
              "bottom": int(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter | _DONT_CLIP),
              "left": int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter | _DONT_CLIP),
              "right": int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter | _DONT_CLIP)}


class TokenAxis(pg.AxisItem):
    """An axis whose ticks are token labels at cell centres: all of them when they can fit (vertical
    column labels, then a smaller font), thinned to what fits beyond that."""

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        # Thinning is done in tickValues; pyqtgraph's own fill limit would drop dense label rows.
        self.setStyle(textFillLimits=[(0, 10.0)], autoExpandTextSpace=False, hideOverlappingLabels=False)
        self.setTextPen(pg.mkPen(LABEL_RGB))
        self.labels: tuple[str, ...] = ()
        self.label_pixels = 14.0
        self.rotated = False  # column labels drawn vertically
        self.small = False  # the smaller font
        self.normal_font = QFont(self.font())
        self.small_font = QFont(self.font())
        self.small_font.setPointSizeF(max(self.font().pointSizeF() * SMALL_FONT, 6.0))
        self._pending: tuple[bool, bool] | None = None
        self._widest_of: tuple[tuple, int] = ((), 0)
        self._widths: dict[bool, dict[str, float]] = {}  # small font? -> label -> pixels (see generateDrawSpecs)

    @property
    def horizontal(self) -> bool:
        return self.orientation in ("top", "bottom")

    def set_labels(self, labels: tuple[str, ...]) -> None:
        elided = tuple(elide(x) for x in labels)
        if elided == self.labels:
            return  # (the same tokens, e.g. another map of one translation: the drawn axis still holds)
        self.labels = elided
        self._apply(self.rotated, self.small)

    def _metrics(self, small: bool) -> QFontMetrics:
        return QFontMetrics(self.small_font if small else self.normal_font)

    def _widest(self, small: bool) -> int:
        """The widest label's advance in that font (measured once per label set)."""
        key = (small, self.labels)
        if self._widest_of[0] != key:
            metrics = self._metrics(small)
            self._widest_of = (key, max((metrics.horizontalAdvance(x) for x in self.labels), default=20))
        return self._widest_of[1]

    def _label_pixels(self, rotated: bool, small: bool) -> float:
        """Pixels one label takes along the axis."""
        metrics = self._metrics(small)
        if not self.horizontal or rotated:
            return metrics.height() + 2
        return self._widest(small) + 8

    def _apply(self, rotated: bool, small: bool) -> None:
        self._pending = None
        self.rotated, self.small = rotated and self.horizontal, small
        self.setStyle(tickFont=self.small_font if small else self.normal_font)
        metrics = self._metrics(small)
        widest = self._widest(small)
        self.label_pixels = self._label_pixels(self.rotated, small)
        if not self.horizontal:
            self.setWidth(min(widest + 16, 160))
        elif self.rotated:
            self.setHeight(min(widest + 14, 120))
        else:
            self.setHeight(metrics.height() + 10)
        self.picture = None
        self.update()

    def fit(self, count: int, pixels: float) -> tuple[bool, bool]:
        """(rotated, small) for `count` labels in `pixels`: the first of horizontal, vertical, vertical
        and small in which they all fit (vertical and small, thinned, when none does)."""
        options = [(False, False), (True, False), (True, True)] if self.horizontal else [(False, False), (False, True)]
        for rotated, small in options:
            if count * self._label_pixels(rotated, small) <= pixels:
                return rotated, small
        return options[-1]

    def _visible(self, lo: float, hi: float) -> int:
        lo, hi = min(lo, hi), max(lo, hi)
        return max(0, min(len(self.labels), math.ceil(hi)) - max(0, math.floor(lo)))

    def settle(self) -> bool:
        """Apply now the fit that the labels need at the axis's present length (instead of after the
        next paint, which then paints everything again); True when the fit changed."""
        view = self.linkedView()
        if view is None:
            return False
        (x0, x1), (y0, y1) = view.viewRange()
        g = self.geometry()  # the paint's length: pyqtgraph's span reaches 1 px past both ends
        lo, hi, size = (x0, x1, g.width() + 2) if self.horizontal else (y0, y1, g.height() + 2)
        wanted = self.fit(self._visible(lo, hi), size) if size > 0 else (self.rotated, self.small)
        if wanted == (self.rotated, self.small):
            return False
        self._apply(*wanted)
        return True

    def tickValues(self, minVal, maxVal, size):
        wanted = self.fit(self._visible(minVal, maxVal), size)
        if wanted != (self.rotated, self.small) and wanted != self._pending and size > 0:
            self._pending = wanted  # applied after this paint: it changes the axis size
            QTimer.singleShot(0, lambda: self._pending == wanted and self._apply(*wanted))
        ticks = visible_ticks(minVal, maxVal, len(self.labels), size, self.label_pixels)
        return [(1.0, [i + 0.5 for i in ticks])]

    def generateDrawSpecs(self, p):
        """pyqtgraph's specs, computed the short way: one tick level, no painter text layout (label
        widths come from font metrics, measured once per label) and the bounds mapped once, not once
        per label. pyqtgraph's own version took most of the UI thread's time after a new map."""
        bounds = self.mapRectFromParent(self.geometry())
        horizontal = self.horizontal
        length = (bounds.width() if horizontal else bounds.height()) + 2  # (pyqtgraph's span: 1 px past both ends)
        lo, hi = self.range
        if length <= 2 or hi == lo:
            return None
        view = self.linkedView()
        tick_bounds = bounds if view is None or self.grid is False else view.mapRectToItem(self, view.boundingRect())
        values = self.tickValues(lo, hi, length)[0][1]
        strings = self.tickStrings(values, 1.0, 1.0)
        if horizontal:
            scale = bounds.width() / (hi - lo)
            offset = lo * scale
        else:
            scale = -bounds.height() / (hi - lo)
            offset = lo * scale - bounds.height()
        ends = sorted((lo * scale - offset, hi * scale - offset))
        tick_length = self.style["tickLength"]
        text_gap = max(0, tick_length) + self.style["tickTextOffset"][1 if horizontal else 0]
        if self.orientation == "top":
            start, stop, direction = tick_bounds.bottom(), bounds.bottom(), -1
            span = (QPointF(bounds.left() - 1, bounds.bottom() - 1), QPointF(bounds.right() + 1, bounds.bottom() - 1))
        elif self.orientation == "bottom":
            start, stop, direction = tick_bounds.top(), bounds.top(), 1
            span = (QPointF(bounds.left() - 1, bounds.top() + 1), QPointF(bounds.right() + 1, bounds.top() + 1))
        elif self.orientation == "left":
            start, stop, direction = tick_bounds.right(), bounds.right(), -1
            span = (QPointF(bounds.right() - 1, bounds.top() - 1), QPointF(bounds.right() - 1, bounds.bottom() + 1))
        else:
            start, stop, direction = tick_bounds.left(), bounds.left(), 1
            span = (QPointF(bounds.left() + 1, bounds.top() - 1), QPointF(bounds.left() + 1, bounds.bottom() + 1))
        tip = stop + (tick_length * direction if self.grid is False else 0)
        pen = self.tickPen()
        metrics = self._metrics(self.small)
        height = metrics.height() * 0.8  # (pyqtgraph trims its measured height so)
        widths = self._widths.setdefault(self.small, {})
        clip = self.boundingRect()
        flags = TEXT_FLAGS[self.orientation]
        tick_specs, text_specs = [], []
        for value, text in zip(values, strings):
            x = value * scale - offset
            if x < ends[0] or x > ends[1]:
                continue
            if horizontal:
                tick_specs.append((pen, QPointF(x, start), QPointF(x, tip)))
            else:
                tick_specs.append((pen, QPointF(start, x), QPointF(tip, x)))
            if not text:
                continue
            width = widths.get(text)
            if width is None:
                if len(widths) > 4096:  # (labels change with every translation: the cache stays small)
                    widths.clear()
                width = widths[text] = float(metrics.horizontalAdvance(text) + 2)
            if self.orientation == "top":
                rect = QRectF(x - width / 2, stop - text_gap - height, width, height)
            elif self.orientation == "bottom":
                rect = QRectF(x - width / 2, stop + text_gap, width, height)
            elif self.orientation == "left":
                rect = QRectF(stop - text_gap - width, x - height / 2, width, height)
            else:
                rect = QRectF(stop + text_gap, x - height / 2, width, height)
            if clip & rect != rect:  # (pyqtgraph's rule: a label that would leave the axis is not drawn)
                continue
            text_specs.append((rect, flags, text))
        return (self.pen(), *span), tick_specs, text_specs

    def tickStrings(self, values, scale, spacing):
        n = len(self.labels)
        if self.rotated:  # the index: pyqtgraph drops a label whose *horizontal* extent leaves the axis
            return [str(int(v)) if 0 <= int(v) < n else "" for v in values]
        return [self.labels[int(v)] if 0 <= int(v) < n else "" for v in values]

    def drawPicture(self, p, axisSpec, tickSpecs, textSpecs):
        if not self.rotated:
            return super().drawPicture(p, axisSpec, tickSpecs, textSpecs)
        super().drawPicture(p, axisSpec, tickSpecs, [])  # the axis line and ticks
        p.setFont(self.small_font if self.small else self.normal_font)
        p.setPen(self.textPen())
        length = self.height() - max(0, self.style["tickLength"]) - self.style["tickTextOffset"][1] - 2
        height = self._metrics(self.small).height()
        tick = max(0, self.style["tickLength"])
        top = self.orientation == "top"
        # Rotated by -90° once: a point (u, v) of the turned frame lands at (v, -u), so a label centred on
        # x reads bottom to top from the axis (top) or up to it (bottom).
        p.save()
        p.translate(0, self.height() - tick - 4 if top else tick + 4 + length)
        p.rotate(-90)
        flags = ROTATED_TOP_FLAGS if top else ROTATED_BOTTOM_FLAGS
        n = len(self.labels)
        for rect, _flags, index in textSpecs:
            text = self.labels[int(index)] if index.isdigit() and int(index) < n else ""
            p.drawText(QRectF(0, rect.center().x() - height / 2, length, height), flags, text)
        p.restore()


class AttentionImage(pg.ImageItem):
    """The matrix as an image (row-major: A[target, source]) that reports the cell under the mouse."""

    def __init__(self) -> None:
        super().__init__(axisOrder="row-major")
        self.setAcceptHoverEvents(True)
        self.describe = lambda row, col: ""

    def hoverEvent(self, ev) -> None:
        """Show the cell's tooltip at once, and make it the item's own tooltip too: when the mouse
        rests, Qt's tooltip event reaches the scene, which shows the item's tooltip (or hides any tip
        when the item has none: the tooltip used to vanish after ~0.7 s of resting on a cell)."""
        if ev.isExit() or self.image is None:
            self.setToolTip("")
            QToolTip.hideText()
            return
        pos = ev.pos()
        row, col = int(np.floor(pos.y())), int(np.floor(pos.x()))
        rows, cols = self.image.shape[:2]
        if 0 <= row < rows and 0 <= col < cols:
            text = self.describe(row, col)
            self.setToolTip(text)
            if QToolTip.text() != text:
                QToolTip.showText(QCursor.pos(), text)


class AttentionHeatmap(SettlesAtOnce, pg.GraphicsLayoutWidget):
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
        self.settled_axes = (self.left_axis, self.top_axis)
        self.settled_layouts = (self.ci.layout, self.plot.layout)

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
        self.settle()

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
