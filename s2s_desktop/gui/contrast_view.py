"""The contrastive view: why the model chose one piece and not another at a position. The engine's
`Contrast` (a signed score per source piece) in the inspector's units (pieces, or words: the sum of a
word's pieces, which keeps the scores adding up to the difference), its one-line reading, and its
export: a bar chart (.png, .svg) drawn here for the file, or the scores (.csv, .json).
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen

from s2s_desktop.engine.api import Contrast
from s2s_desktop.engine.data.words import WORD_START, group_text, word_groups
from s2s_desktop.gui.picture_file import write_picture

FOR, AGAINST = QColor(68, 119, 170), QColor(204, 102, 119)  # toward the chosen piece / toward the alternative
CONTRAST_HINT = ("Blue pushed toward the chosen piece, red toward the alternative; the bars add up to about "
                 "the log-probability difference.")


@dataclass(frozen=True)
class ContrastView:
    """A contrast over the units the inspector shows."""

    contrast: Contrast
    labels: tuple[str, ...]  # source units ("</s>" last)
    scores: np.ndarray  # (units,) signed
    words: bool


def contrast_view(contrast: Contrast, source_tokens, words: bool) -> ContrastView:
    """`source_tokens` the translation's source pieces ("</s>" included), as the scores are."""
    scores = np.asarray(contrast.scores, dtype=np.float64)
    pieces = list(source_tokens)[: len(scores)]
    if words:
        groups = word_groups(pieces)
        return ContrastView(contrast, tuple(group_text(pieces, groups)),
                            np.array([scores[g].sum() for g in groups]), True)
    return ContrastView(contrast, tuple(pieces), scores, False)


def piece_text(piece: str) -> str:
    return piece.replace(WORD_START, " ").strip() or piece


def reading(view: ContrastView) -> str:
    """The line above the bars (HTML): the two pieces, their log-probability difference, the method."""
    c = view.contrast
    how = f"integrated gradients, {c.steps} steps" if c.method == "integrated_gradients" else "input × gradient"
    return (f"Why <b>{html.escape(piece_text(c.chosen))}</b> and not <b>{html.escape(piece_text(c.alternative))}"
            f"</b>: log p difference {c.difference:+.2f} ({how})")


def caption(view: ContrastView, model: str, source: str, target: str) -> str:
    c = view.contrast
    units = "words" if view.words else "subword pieces"
    return (f"{model or 'model'}: why '{piece_text(c.chosen)}' and not '{piece_text(c.alternative)}' at output "
            f"position {c.position + 1} (log p difference {c.difference:+.3f}; {c.method.replace('_', ' ')}"
            f"{f', {c.steps} steps' if c.steps else ''}; {units})\n{source}\n→ {target}")


def to_csv(view: ContrastView) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["source", "score"])
    for label, score in zip(view.labels, view.scores):
        writer.writerow([label, f"{score:.6f}"])
    return buf.getvalue()


def to_json(view: ContrastView, source: str, target: str, model: str = "") -> dict:
    c = view.contrast
    return {"model": model, "source": source, "target": target, "position": c.position, "chosen": c.chosen,
            "alternative": c.alternative, "log_prob_difference": round(c.difference, 6), "method": c.method,
            "steps": c.steps, "units": "words" if view.words else "pieces",
            "scores": [{"source": label, "score": round(float(s), 6)} for label, s in zip(view.labels, view.scores)]}


# -- the exported picture ---------------------------------------------------------------------------
BAR = 34  # px per source unit
PLOT_HEIGHT = 220


def _paint(painter: QPainter, view: ContrastView, text: str, size: QSize) -> None:
    painter.fillRect(QRectF(0, 0, size.width(), size.height()), QColor("white"))
    font = QFont(painter.font())
    font.setPointSizeF(9)
    painter.setFont(font)
    metrics = QFontMetricsF(font)
    painter.setPen(QColor("black"))
    caption_rect = QRectF(12, 10, size.width() - 24, metrics.height() * 3 + 6)
    painter.drawText(caption_rect, Qt.TextFlag.TextWordWrap, text)
    left, top = 60.0, caption_rect.bottom() + 12
    extent = max(float(np.abs(view.scores).max()) if len(view.scores) else 0.0, 1e-9)
    zero = top + PLOT_HEIGHT / 2
    scale = (PLOT_HEIGHT / 2 - 4) / extent
    painter.setPen(QPen(QColor(120, 120, 120), 1))
    painter.drawLine(QPointF(left, zero), QPointF(left + BAR * len(view.scores), zero))
    for value in (extent, 0.0, -extent):
        y = zero - value * scale
        painter.drawText(QRectF(0, y - metrics.height() / 2, left - 6, metrics.height()),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{value:+.2f}")
    for i, (label, value) in enumerate(zip(view.labels, view.scores)):
        x = left + i * BAR
        height = value * scale
        painter.fillRect(QRectF(x + 4, zero - max(height, 0), BAR - 8, abs(height)), FOR if value >= 0 else AGAINST)
        painter.save()
        painter.setPen(QColor("black"))
        painter.translate(x + BAR / 2 + metrics.height() / 3, top + PLOT_HEIGHT + 6)
        painter.rotate(90)
        painter.drawText(QPointF(0, 0), label)
        painter.restore()


def _figure_size(view: ContrastView) -> QSize:
    metrics = QFontMetricsF(QFont())
    longest = max((metrics.horizontalAdvance(label) for label in view.labels), default=0.0)
    width = int(max(60 + BAR * len(view.labels) + 24, 420))
    return QSize(width, int(metrics.height() * 3 + 28 + PLOT_HEIGHT + longest + 24))


def export_contrast(path: str, view: ContrastView, source: str, target: str, model: str = "") -> None:
    """Write the contrast as a bar chart (.png at twice the size, .svg) or its scores (.csv, .json),
    by the suffix of `path`; raises OSError (or ValueError for an unknown suffix)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".png", ".svg"):
        text, size = caption(view, model, source, target), _figure_size(view)
        write_picture(path, size, "Contrastive attribution", lambda painter: _paint(painter, view, text, size))
    elif suffix == ".csv":
        Path(path).write_text(to_csv(view), encoding="utf-8")
    elif suffix == ".json":
        Path(path).write_text(json.dumps(to_json(view, source, target, model), ensure_ascii=False, indent=1),
                              encoding="utf-8")
    else:
        raise ValueError(f"unknown export format {suffix!r}: use .png, .svg, .csv or .json")
