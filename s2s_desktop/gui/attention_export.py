"""Writing the inspector's attention map to a file: the picture (.png, .svg) or the matrix with its
tokens (.csv, .json, from attention_math)."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QWidget

from s2s_desktop.gui.attention_math import AttentionView, to_csv, to_json

EXPORT_FILTER = "PNG image (*.png);;SVG image (*.svg);;CSV table (*.csv);;JSON (*.json)"


def export_attention(path: str, heatmap: QWidget, view: AttentionView, source: str, target: str) -> None:
    """Write the map drawn by `heatmap` or the matrix of `view`, by the suffix of `path`; raises OSError
    (or ValueError for an unknown suffix)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        if not heatmap.grab().save(path):
            raise OSError(f"could not write {path}")
    elif suffix == ".svg":
        _export_svg(path, heatmap)
    elif suffix == ".csv":
        Path(path).write_text(to_csv(view), encoding="utf-8")
    elif suffix == ".json":
        Path(path).write_text(json.dumps(to_json(view, source, target), ensure_ascii=False, indent=1), encoding="utf-8")
    else:
        raise ValueError(f"unknown export format {suffix!r}: use .png, .svg, .csv or .json")


def _export_svg(path: str, heatmap: QWidget) -> None:
    """Labels, axes and colour bar as vectors (the matrix cells are an embedded image). Qt's own
    SVG generator: pyqtgraph's SVG exporter fails on the paths recent Qt versions emit."""
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator

    generator = QSvgGenerator()
    generator.setFileName(path)
    generator.setSize(heatmap.size())
    generator.setViewBox(heatmap.rect())
    generator.setTitle("Attention map")
    painter = QPainter(generator)
    try:
        heatmap.render(painter)
    finally:
        painter.end()
    if not Path(path).exists():
        raise OSError(f"could not write {path}")
