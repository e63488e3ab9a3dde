"""Render the app icon (resources/icons/<APP_ID>.svg) into the hicolor PNG sizes.

    QT_QPA_PLATFORM=offscreen python packaging/render_icons.py

Writes resources/icons/hicolor/<N>x<N>/apps/<APP_ID>.png for every size in SIZES (16 and 24 px from the
simplified packaging/icon-small.svg), using PySide6's QSvgRenderer (part of PySide6-Essentials), so no
other tool is needed. Run it again after editing the SVG and commit the PNGs with it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

from s2s_desktop.paths import APP_ID  # noqa: E402

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
SMALL = (16, 24)  # drawn from a simplified SVG: three tokens a bubble blur into one bar below 32 px
ICONS = ROOT / "resources" / "icons"
SMALL_SVG = Path(__file__).resolve().parent / "icon-small.svg"


def render(svg: Path, size: int) -> QImage:
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg}: not a valid SVG for QSvgRenderer")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return image.convertToFormat(QImage.Format.Format_ARGB32)


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (fonts, image plugins)
    svg = ICONS / f"{APP_ID}.svg"
    for size in SIZES:
        source = SMALL_SVG if size in SMALL else svg
        out = ICONS / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        if not render(source, size).save(str(out), "PNG"):
            raise SystemExit(f"could not write {out}")
        print(f"{out.relative_to(ROOT)}  {out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
