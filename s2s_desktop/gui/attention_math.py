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
# Which map the inspector shows: the decoder's attention over the source (recorded by the search);
# for a Transformer the encoder's or the decoder's self-attention (computed on request); or an
# attribution of each output position to the source pieces (computed on request; the names are the
# engine's `EXPLAIN_METHODS`).
CROSS, ENCODER, DECODER = "cross", "encoder", "decoder"
INPUT_X_GRADIENT, INTEGRATED_GRADIENTS, ROLLOUT = "input_x_gradient", "integrated_gradients", "rollout"
ATTRIBUTIONS = (INPUT_X_GRADIENT, INTEGRATED_GRADIENTS, ROLLOUT)
TARGET_BY_SOURCE = (CROSS, *ATTRIBUTIONS)  # rows output tokens, columns source tokens
IG_STEPS = 32  # integrated gradients' path steps by default (the inspector's step box: IG_STEP_RANGE)
IG_STEP_RANGE = (2, 256)
KIND_LABELS = {CROSS: "Cross-attention", ENCODER: "Encoder self-attention", DECODER: "Decoder self-attention",
               INPUT_X_GRADIENT: "Input × gradient", INTEGRATED_GRADIENTS: "Integrated gradients",
               ROLLOUT: "Attention rollout"}
KIND_TIPS = {
    CROSS: "The decoder's attention over the source: rows are output tokens, columns source tokens",
    ENCODER: "The encoder's self-attention: rows and columns are source tokens",
    DECODER: "The decoder's self-attention: rows are output tokens, columns what the decoder had read "
             "before each (the start, then the output so far)",
    INPUT_X_GRADIENT: "How much each source token's embedding moved the log-probability of each output token "
                      "(gradient times input, one backward pass per token)",
    INTEGRATED_GRADIENTS: "Gradients summed along a path from a blank source to the real one (the steps beside it): "
                          "slower, less noisy than input × gradient",
    ROLLOUT: "Cross-attention read through every encoder layer's self-attention (and its residual), so that "
             "columns are input tokens rather than layer mixtures",
}
KIND_CAPTIONS = {CROSS: "cross-attention", ENCODER: "encoder self-attention", DECODER: "decoder self-attention",
                 INPUT_X_GRADIENT: "input × gradient attribution",
                 INTEGRATED_GRADIENTS: "integrated gradients", ROLLOUT: "attention rollout"}
# Where a view is easy to misread: one line under the map.
KIND_HINTS = {
    CROSS: "Attention is not an explanation: deep heads mix positions, and weight piles onto punctuation and </s>.",
    ENCODER: "Self-attention shows what each source token reads, not what the translation used.",
    DECODER: "Each output token can only read the start and the output before it (the upper triangle is empty).",
    INPUT_X_GRADIENT: "Gradients are local: a large score says the output is sensitive there, not that it was copied.",
    INTEGRATED_GRADIENTS: "Relative to a blank source; scores are normalised per row (each row sums to 1).",
    ROLLOUT: "Rollout assumes attention mixes linearly through the layers: a rough, not an exact, attribution.",
}
ONE_HEAD_HINT = "One head's attention is not an alignment: the mean of heads, or an alignment export, is closer."


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
    kind: str = CROSS  # rows x columns: TARGET_BY_SOURCE kinds target x source, ENCODER source x source,
    # DECODER target x inputs


def select_attention(attention: np.ndarray, layer: int, head: int) -> np.ndarray:
    """[L, H, T, S] -> [T, S] for one layer and one head, or the mean of the heads."""
    a = np.asarray(attention)[layer]
    return a.mean(axis=0) if head == MEAN_OF_HEADS else a[head]


def attention_view(t: Translation, cand: Candidate, layer: int, head: int, words: bool, kind: str = CROSS,
                   extra=None) -> AttentionView:
    """The matrix one layer and head (or the mean of heads) of `kind` shows, in pieces or words. The
    self-attention kinds need `extra`, the candidate's `SelfAttention`; the attributions its `Explanation`."""
    if kind == CROSS:
        full, rows, cols = cand.attention, cand.tokens, t.source_tokens
    elif kind in ATTRIBUTIONS:
        full, rows, cols = np.asarray(extra.scores)[None, None], cand.tokens, t.source_tokens
    elif kind == ENCODER:
        full, rows, cols = extra.encoder, t.source_tokens, t.source_tokens
    else:
        full, rows, cols = extra.decoder, cand.tokens, extra.decoder_inputs
    return matrix_view(np.asarray(full, dtype=np.float32), rows, cols, layer, head, words, kind)


def matrix_view(full: np.ndarray, rows, cols, layer: int, head: int, words: bool, kind: str = CROSS) -> AttentionView:
    """full: [L, H, rows, cols] over pieces."""
    if words:
        tg, sg = word_groups(rows), word_groups(cols)
        if full.size:
            full = aggregate_attention(full, tg, sg)
        tl, sl = group_text(rows, tg), group_text(cols, sg)
    else:
        tg, sg = [[i] for i in range(len(rows))], [[i] for i in range(len(cols))]
        tl, sl = list(rows), list(cols)
    if full.size == 0:
        matrix = np.zeros((len(tl), len(sl)), dtype=np.float32)
    else:
        matrix = select_attention(full, min(layer, full.shape[0] - 1), head if head < full.shape[1] else MEAN_OF_HEADS)
    return AttentionView(matrix, tuple(tl), tuple(sl), layer, head, words,
                         tuple(tuple(g) for g in tg), tuple(tuple(g) for g in sg), kind)


def caption(view: AttentionView, model: str, source: str, target: str, layers: int = 1, heads: int = 1,
            steps: int = 0) -> str:
    """The caption of an exported map: model, which attention, layer, head or "mean of heads" (when the
    model has several), integrated gradients' steps, units, then the sentence and its translation."""
    what = KIND_CAPTIONS[view.kind] + (f" ({steps} steps)" if steps and view.kind == INTEGRATED_GRADIENTS else "")
    if layers * heads > 1:
        what += f", layer {view.layer + 1} of {layers}, {head_label(view.head)}"
    units = "words" if view.words else "subword pieces"
    return f"{model or 'model'}: {what} ({units})\n{source}\n→ {target}"


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
        "attention": view.kind,
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


def link_shading(view: AttentionView, t: Translation, cand: Candidate, row: int | None, col: int | None
                 ) -> tuple[str, np.ndarray]:
    """What the texts shade for a selected row or column of `view`: ("source", weight per source word)
    or ("output", weight per word of `cand`). Cross-attention rows shade the source and columns the
    output; encoder self-attention shades the source; decoder self-attention the output (its inputs
    are the output shifted by one: input j is target piece j - 1)."""
    src_words, tgt_words = word_groups(t.source_tokens), word_groups(cand.tokens)
    n_src, n_tgt = len(t.source_tokens), len(cand.tokens)
    if row is not None:
        weights = view.matrix[row]
        if view.kind == DECODER:
            inputs = word_weights(weights, view.source_groups, [[i] for i in range(n_tgt)], n_tgt)  # per input
            per_piece = np.append(inputs[1:], 0.0)  # input j + 1 is target piece j
            return "output", np.array([per_piece[g].sum() for g in tgt_words])
        return "source", word_weights(weights, view.source_groups, src_words, n_src)
    weights = view.matrix[:, col]
    if view.kind == ENCODER:
        return "source", word_weights(weights, view.target_groups, src_words, n_src, mean=True)
    return "output", word_weights(weights, view.target_groups, tgt_words, n_tgt, mean=True)


# -- word alignments -----------------------------------------------------------------------------------
def alignment_links(t: Translation, cand: Candidate, transformer: bool) -> list[tuple[int, int]]:
    """(source word, target word) links of one translation read from its cross-attention, by the method
    `s2s align` uses by default for the architecture (engine.alignment); words as the texts show them."""
    from s2s_desktop.engine.alignment import attention_scores, links_of, method_for
    from s2s_desktop.engine.data.words import piece_to_word

    src = [p for p in t.source_tokens if p not in SPECIAL_PIECES]
    tgt = [p for p in cand.tokens if p not in SPECIAL_PIECES]
    att = np.asarray(cand.attention, dtype=np.float32)
    if not src or not tgt or att.ndim != 4 or att.shape[2] < len(tgt) or att.shape[3] < len(src):
        return []
    if att.shape[2] < len(tgt) + 1:  # cut at the length limit (no "</s>" row): the last piece reads its own row
        att = np.concatenate([att, att[:, :, -1:]], axis=2)
    scores = attention_scores(att, method_for("transformer" if transformer else "rnn"), len(tgt), len(src))
    links = links_of(scores, piece_to_word(word_groups(src), len(src)), piece_to_word(word_groups(tgt), len(tgt)))
    return sorted(links)


def to_pharaoh(links: list[tuple[int, int]]) -> str:
    return " ".join(f"{i}-{j}" for i, j in links)


SPECIAL_PIECES = ("</s>", "<s>", "<pad>")
