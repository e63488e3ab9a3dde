"""Writing the inspector's attention map to a file: the picture (.png, .svg) or the matrix with its
tokens (.csv, .json, from attention_math).

A picture is not a grab of the panel (whose size is the window's, with labels thinned to fit): it is
drawn again on a figure sized for the matrix, with cells large enough for every row and column label
and a caption naming the model, the attention, the layer and the head (or "mean of heads"); PNGs are
rendered at twice that size.
"""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QPoint, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from s2s_desktop.gui.attention_heatmap import AttentionHeatmap
from s2s_desktop.gui.attention_math import AttentionView, caption, to_csv, to_json
from s2s_desktop.gui.picture_file import EXPORT_FILTER  # noqa: F401 - the same filter for every export

CELL = 30  # px per row and column of an exported map
PNG_SCALE = 2  # an exported PNG has this many pixels per figure pixel


class AttentionFigure(QWidget):
    """The map as exported: caption above, heatmap (all labels) below, sized for the matrix."""

    def __init__(self, view: AttentionView, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
        self.setAutoFillBackground(True)
        palette = self.palette()
        palette.setColor(self.backgroundRole(), QColor("white"))
        palette.setColor(self.foregroundRole(), QColor("black"))
        self.setPalette(palette)
        self.caption = QLabel(text, wordWrap=True)
        self.caption.setStyleSheet("color: black; background: white;")
        self.heatmap = AttentionHeatmap()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.addWidget(self.caption)
        layout.addWidget(self.heatmap, 1)
        self.heatmap.set_matrix(view.matrix, view.target_labels, view.source_labels)
        rows, cols = view.matrix.shape if view.matrix.ndim == 2 else (0, 0)
        left, top = self.heatmap.left_axis, self.heatmap.top_axis
        top._apply(True, False)  # vertical column labels: each needs one line height, never thinned
        width = left.width() + max(cols, 1) * CELL + 110  # + the colour bar
        self.caption.setFixedWidth(max(width, 360))
        height = self.caption.heightForWidth(self.caption.width()) + top.height() + max(rows, 1) * CELL + 40
        self.resize(QSize(max(width, 360) + 24, height + 20))
        self.layout().activate()
        self.heatmap.view.setRange(xRange=(0, max(cols, 1)), yRange=(0, max(rows, 1)), padding=0)

    def image(self, scale: int = PNG_SCALE) -> QImage:
        image = QImage(self.size() * scale, QImage.Format.Format_ARGB32)
        image.setDevicePixelRatio(scale)
        image.fill(QColor("white"))
        painter = QPainter(image)
        try:
            self.render(painter, QPoint())
        finally:
            painter.end()
        return image


def export_attention(path: str, view: AttentionView, source: str, target: str, model: str = "",
                     layers_heads: tuple[int, int] = (1, 1), steps: int = 0) -> None:
    """Write the map of `view` (.png, .svg) or its matrix (.csv, .json), by the suffix of `path`;
    raises OSError (or ValueError for an unknown suffix)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".png", ".svg"):
        figure = AttentionFigure(view, caption(view, model, source, target, *layers_heads, steps=steps))
        figure.ensurePolished()
        if suffix == ".png":
            if not figure.image().save(path):
                raise OSError(f"could not write {path}")
        else:
            _export_svg(path, figure)
        figure.deleteLater()
    elif suffix == ".csv":
        Path(path).write_text(to_csv(view), encoding="utf-8")
    elif suffix == ".json":
        Path(path).write_text(json.dumps(to_json(view, source, target), ensure_ascii=False, indent=1), encoding="utf-8")
    else:
        raise ValueError(f"unknown export format {suffix!r}: use .png, .svg, .csv or .json")


def _export_svg(path: str, figure: QWidget) -> None:
    """Labels, axes and colour bar as vectors (the matrix cells are an embedded image). Qt's own
    SVG generator: pyqtgraph's SVG exporter fails on the paths recent Qt versions emit."""
    from PySide6.QtSvg import QSvgGenerator

    generator = QSvgGenerator()
    generator.setFileName(path)
    generator.setSize(figure.size())
    generator.setViewBox(figure.rect())
    generator.setTitle("Attention map")
    painter = QPainter(generator)
    try:
        figure.render(painter, QPoint())
    finally:
        painter.end()
    if not Path(path).exists():
        raise OSError(f"could not write {path}")
