"""The inspector's arithmetic, free of Qt so tests call it directly: pixel -> cell, which matrix to
show (layer, head or the mean of heads; pieces or words), which labels fit on an axis, exports, and a
selection's weights summed (or averaged) over words.

Convention: a matrix is `A[target, source]` (rows = target tokens, columns = source tokens), drawn
with cell (r, c) covering x in [c, c+1) and y in [r, r+1), row 0 at the top.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np

from s2s_desktop.engine.api import Candidate, Translation
from s2s_desktop.engine.data.words import aggregate_attention, group_text, word_groups

MEAN_OF_HEADS = -1


def pixel_to_cell(
    px: float,
    py: float,
    plot_rect: tuple[float, float, float, float],
    view_range: tuple[tuple[float, float], tuple[float, float]],
    shape: tuple[int, int],
) -> tuple[int, int] | None:
    """(row, col) under a pixel, or None outside the matrix.

    plot_rect: (left, top, width, height) of the plot area in pixels; view_range: ((x0, x1), (y0, y1))
    of data coordinates shown there, with y growing downwards (row 0 at the top).
    """
    left, top, width, height = plot_rect
    (x0, x1), (y0, y1) = view_range
    if width <= 0 or height <= 0:
        return None
    x = x0 + (px - left) / width * (x1 - x0)
    y = y0 + (py - top) / height * (y1 - y0)
    row, col = math.floor(y), math.floor(x)
    if 0 <= row < shape[0] and 0 <= col < shape[1]:
        return row, col
    return None


def visible_ticks(lo: float, hi: float, count: int, pixels: float, label_pixels: float) -> list[int]:
    """Indices of the labels to draw for the visible span [lo, hi] of an axis with `count` tokens, so
    that labels of `label_pixels` each never overlap in `pixels` (zoom in to see them all). An
    inverted axis may pass lo > hi."""
    lo, hi = min(lo, hi), max(lo, hi)
    first, last = max(0, math.floor(lo)), min(count - 1, math.ceil(hi) - 1)
    if last < first or pixels <= 0:
        return []
    span = last - first + 1
    step = max(1, math.ceil(span * label_pixels / pixels))
    start = first + (-first) % step  # keep the same indices while panning
    return list(range(start, last + 1, step))


def elide(label: str, limit: int = 14) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


@dataclass(frozen=True)
class AttentionView:
    """What the heatmap shows: a 2-D matrix and the labels of its rows and columns."""

    matrix: np.ndarray  # [target units, source units]
    target_labels: tuple[str, ...]
    source_labels: tuple[str, ...]
    layer: int
    head: int  # MEAN_OF_HEADS for the average
    words: bool
    target_groups: tuple[tuple[int, ...], ...]  # the pieces of each row
    source_groups: tuple[tuple[int, ...], ...]  # the pieces of each column


def select_attention(attention: np.ndarray, layer: int, head: int) -> np.ndarray:
    """[L, H, T, S] -> [T, S] for one layer and one head, or the mean of the heads."""
    a = np.asarray(attention)[layer]
    return a.mean(axis=0) if head == MEAN_OF_HEADS else a[head]


def attention_view(t: Translation, cand: Candidate, layer: int, head: int, words: bool) -> AttentionView:
    full = np.asarray(cand.attention, dtype=np.float32)
    if words:
        tg, sg = word_groups(cand.tokens), word_groups(t.source_tokens)
        full = aggregate_attention(full, tg, sg)
        tl, sl = group_text(cand.tokens, tg), group_text(t.source_tokens, sg)
    else:
        tg, sg = [[i] for i in range(len(cand.tokens))], [[i] for i in range(len(t.source_tokens))]
        tl, sl = list(cand.tokens), list(t.source_tokens)
    if full.size == 0:
        matrix = np.zeros((len(tl), len(sl)), dtype=np.float32)
    else:
        matrix = select_attention(full, layer, head)
    return AttentionView(matrix, tuple(tl), tuple(sl), layer, head, words,
                         tuple(tuple(g) for g in tg), tuple(tuple(g) for g in sg))


def head_label(head: int) -> str:
    return "mean of heads" if head == MEAN_OF_HEADS else f"head {head + 1}"


# -- export ------------------------------------------------------------------------------------------
def to_csv(view: AttentionView) -> str:
    """One row per target unit: its label, then its weight on each source unit (header = sources)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["target \\ source", *view.source_labels])
    for label, row in zip(view.target_labels, view.matrix):
        writer.writerow([label, *(f"{v:.6f}" for v in row)])
    return buf.getvalue()


def to_json(view: AttentionView, source: str, target: str) -> dict:
    return {
        "source": source,
        "target": target,
        "units": "words" if view.words else "pieces",
        "layer": view.layer,
        "head": "mean" if view.head == MEAN_OF_HEADS else view.head,
        "source_tokens": list(view.source_labels),
        "target_tokens": list(view.target_labels),
        "rows": [{"target": label, "weights": [round(float(v), 6) for v in row]}
                 for label, row in zip(view.target_labels, view.matrix)],
    }


def word_weights(weights: np.ndarray, unit_groups, word_groups_, n_pieces: int, mean: bool = False) -> np.ndarray:
    """Weights over map units -> weights over words (sum of pieces, or their mean)."""
    piece = np.zeros(n_pieces)
    for w, group in zip(weights, unit_groups):
        piece[list(group)] = w / (max(1, len(group))) if not mean else w
    return np.array([piece[g].mean() if mean else piece[g].sum() for g in word_groups_])
