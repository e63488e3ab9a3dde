"""The beam-search tree as a file: a drawing (.png, .svg) with the steps left to right and every kept
hypothesis a box under the prefix it extends, or its nodes as a table (.csv) or a list (.json).

The drawing is laid out here (a tidy tree: leaves one row each in search order, a parent centred on
its children), not grabbed from the tab's outline view, which shows one nesting at a time.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPen

from s2s_desktop.engine.api import BeamTree
from s2s_desktop.gui.picture_file import write_picture

ROW, COLUMN_GAP, MARGIN = 22.0, 26.0, 14.0
PNG_MAX_SIDE = 8000  # px: a larger tree is written at 1x, not 2x
FILL = {"chosen": QColor(68, 119, 170), "finished": QColor(220, 232, 244), "live": QColor(240, 240, 240),
        "pruned": QColor(250, 250, 250)}


def to_csv(tree: BeamTree) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["node", "parent", "step", "piece", "p", "log_prob", "score", "state"])
    for i, n in enumerate(tree.nodes):
        writer.writerow([i, n.parent, n.step, n.piece, f"{math.exp(n.log_prob):.6f}", f"{n.log_prob:.6f}",
                         f"{n.score:.6f}", n.state])
    return buf.getvalue()


def to_json(tree: BeamTree, model: str = "") -> dict:
    return {"model": model, "source": tree.source, "beam": tree.beam,
            "nodes": [{"node": i, "parent": n.parent, "step": n.step, "piece": n.piece,
                       "log_prob": round(n.log_prob, 6), "score": round(n.score, 6), "state": n.state}
                      for i, n in enumerate(tree.nodes)],
            "n_best": [" ".join(tree.prefix(i)) for i, n in enumerate(tree.nodes) if n.state == "chosen"]}


def layout(tree: BeamTree) -> tuple[list[float], list[int]]:
    """(row of each node, its column = step): leaves take rows in order, a parent the mean of its children's."""
    children: list[list[int]] = [[] for _ in tree.nodes]
    roots = []
    for i, n in enumerate(tree.nodes):
        (children[n.parent] if n.parent >= 0 else roots).append(i)
    rows = [0.0] * len(tree.nodes)
    next_row = 0.0
    # iterative post-order (a 200-step tree would exhaust recursion)
    stack = [(r, False) for r in reversed(roots)]
    while stack:
        node, done = stack.pop()
        if done or not children[node]:
            if children[node]:
                rows[node] = sum(rows[c] for c in children[node]) / len(children[node])
            else:
                rows[node] = next_row
                next_row += 1
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in reversed(children[node]))
    return rows, [n.step for n in tree.nodes]


def _geometry(tree: BeamTree, metrics: QFontMetricsF) -> tuple[list[float], list[float], float, QSize]:
    rows, steps = layout(tree)
    widths = [0.0] * (max(steps, default=-1) + 1)
    for n, s in zip(tree.nodes, steps):
        score = metrics.horizontalAdvance(" -00.00") if n.state in ("chosen", "finished") else 0
        widths[s] = max(widths[s], metrics.horizontalAdvance(n.piece) + 12 + score)
    lefts, x = [], MARGIN
    for w in widths:
        lefts.append(x)
        x += w + COLUMN_GAP
    header = metrics.height() * 2 + 10
    height = header + (max(rows, default=0.0) + 1) * ROW + MARGIN
    return rows, lefts, header, QSize(int(max(x, 360)), int(height))


def _n_best_paths(tree: BeamTree) -> list[bool]:
    """For each node: is it on the path to one of the returned n-best?"""
    marked = [False] * len(tree.nodes)
    for i, n in enumerate(tree.nodes):
        if n.state == "chosen":
            while i >= 0 and not marked[i]:
                marked[i] = True
                i = tree.nodes[i].parent
    return marked


def _font() -> QFont:
    font = QFont()
    font.setPointSizeF(8.5)
    return font


def _paint(painter: QPainter, tree: BeamTree, model: str, size: QSize) -> None:
    font = _font()
    painter.setFont(font)
    metrics = QFontMetricsF(font)
    rows, lefts, header, _ = _geometry(tree, metrics)
    painter.fillRect(QRectF(0, 0, size.width(), size.height()), QColor("white"))
    painter.setPen(QColor("black"))
    painter.drawText(QRectF(MARGIN, 6, size.width() - 2 * MARGIN, header), Qt.TextFlag.TextWordWrap,
                     f"{model or 'model'}: beam search (beam {tree.beam}) of: {tree.source}\n"
                     "filled blue: returned in the n-best (blue paths lead to them); pale blue: finished; grey text: pruned; "
                     "a finished hypothesis ends with its length-normalised score")
    boxes = []
    for n, r in zip(tree.nodes, rows):
        w = metrics.horizontalAdvance(n.piece) + 8
        boxes.append(QRectF(lefts[n.step], header + r * ROW + 2, w, ROW - 6))
    on_path = _n_best_paths(tree)
    for i, (n, box) in enumerate(zip(tree.nodes, boxes)):
        if n.parent >= 0:
            p = boxes[n.parent]
            start, end = QPointF(p.right(), p.center().y()), QPointF(box.left(), box.center().y())
            path = QPainterPath(start)
            mid = (start.x() + end.x()) / 2
            path.cubicTo(QPointF(mid, start.y()), QPointF(mid, end.y()), end)
            painter.setPen(QPen(FILL["chosen"], 2) if on_path[n.parent] and on_path[i] else
                           QPen(QColor(170, 170, 170), 1))
            painter.drawPath(path)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for i, (n, box) in enumerate(zip(tree.nodes, boxes)):
        painter.setPen(QPen(FILL["chosen"] if on_path[i] else QColor(120, 120, 120), 1.6 if on_path[i] else 0.8))
        painter.setBrush(FILL.get(n.state, FILL["live"]))
        painter.drawRoundedRect(box, 3, 3)
        painter.setPen(QColor("white") if n.state == "chosen" else
                       QColor(150, 150, 150) if n.state == "pruned" else QColor("black"))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, n.piece)
        if n.state in ("chosen", "finished"):  # a whole hypothesis: its score as the search ranked it
            painter.setPen(QColor(80, 80, 80))
            painter.drawText(QPointF(box.right() + 4, box.center().y() + metrics.ascent() / 2 - 1), f"{n.score:.2f}")


def export_tree(path: str, tree: BeamTree, model: str = "") -> None:
    """Write `tree` by the suffix of `path`; raises OSError (ValueError for an unknown suffix)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        Path(path).write_text(to_csv(tree), encoding="utf-8")
    elif suffix == ".json":
        Path(path).write_text(json.dumps(to_json(tree, model), ensure_ascii=False, indent=1), encoding="utf-8")
    elif suffix in (".png", ".svg"):
        *_, size = _geometry(tree, QFontMetricsF(_font()))
        scale = 2 if max(size.width(), size.height()) * 2 <= PNG_MAX_SIDE else 1
        write_picture(path, size, "Beam search tree", lambda painter: _paint(painter, tree, model, size), scale)
    else:
        raise ValueError(f"unknown export format {suffix!r}: use .png, .svg, .csv or .json")
