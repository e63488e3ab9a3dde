"""Turning an export into a file, shared by every view that exports (the attention map, the contrast,
the beam tree, the comparison): a drawing written as .png (at a scale) or .svg (vectors, Qt's own SVG
generator), and the save dialog whose failure is reported rather than raised."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QRectF, QSize
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QFileDialog, QWidget

EXPORT_FILTER = "PNG image (*.png);;SVG image (*.svg);;CSV table (*.csv);;JSON (*.json)"


def write_picture(path: str, size: QSize, title: str, paint: Callable[[QPainter], None], scale: int = 2) -> None:
    """`paint(painter)` draws a `size` figure; written by the suffix of `path` (.png at `scale` pixels
    per figure pixel on white, .svg); raises OSError, or ValueError for another suffix."""
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        image = QImage(size * scale, QImage.Format.Format_ARGB32)
        image.setDevicePixelRatio(scale)
        image.fill(QColor("white"))
        target = image
    elif suffix == ".svg":
        from PySide6.QtSvg import QSvgGenerator

        target = QSvgGenerator()
        target.setFileName(path)
        target.setSize(size)
        target.setViewBox(QRectF(0, 0, size.width(), size.height()))
        target.setTitle(title)
    else:
        raise ValueError(f"not a picture format: {suffix!r} (use .png or .svg)")
    painter = QPainter(target)
    try:
        paint(painter)
    finally:
        painter.end()
    if suffix == ".png" and not image.save(path):
        raise OSError(f"could not write {path}")
    if not Path(path).exists():
        raise OSError(f"could not write {path}")


def ask_and_export(parent: QWidget, what: str, file_name: str, write: Callable[[str], None],
                   failed: Callable[[str], None]) -> None:
    """Ask where to save `what` (e.g. "the contrast"), then `write(path)`; an OSError or ValueError
    goes to `failed` as a sentence naming the file."""
    path, _ = QFileDialog.getSaveFileName(parent, f"Export {what}", file_name, EXPORT_FILTER)
    if path:
        try:
            write(path)
        except (OSError, ValueError) as exc:
            failed(f"Could not export {what} to {path}: {exc}")
