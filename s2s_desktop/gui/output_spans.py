"""Where each translated word sits in the output text, with its confidence (plain Python + numpy).

The output pane shades words by confidence and answers tooltips and clicks by character position;
both need the word -> character-span map that this module builds from a `ParagraphTranslation`.
Kept free of Qt so tests call it directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2s_desktop.engine.api import ParagraphTranslation, Translation
from s2s_desktop.engine.words import SPECIALS

# Words at or above this probability are not shaded. Models trained with label smoothing rarely put
# more than 0.7-0.9 on any piece, so a higher threshold would shade almost every word.
CONFIDENT = 0.6


@dataclass(frozen=True)
class WordSpan:
    start: int  # character offsets in the whole output text
    end: int
    sentence: int
    word: int  # index in the sentence's word groups
    text: str
    prob: float  # product of the word's piece probabilities
    pieces: tuple[str, ...]
    piece_probs: tuple[float, ...]
    alternatives: tuple[tuple[str, float], ...]  # at the word's first piece


def sentence_spans(t: Translation, sentence: int, base: int) -> list[WordSpan]:
    cand = t.best
    probs = np.asarray(cand.token_probs, dtype=float)
    spans, cursor = [], 0
    for w, (group, word) in enumerate(zip(cand.word_groups, cand.words)):
        if cand.tokens[group[0]] in SPECIALS:
            continue
        k = cand.text.find(word, cursor)
        if k < 0:
            continue  # detokenisation changed the word (rare): leave it unshaded
        cursor = k + len(word)
        alts = tuple(cand.alternatives(group[0])) if cand.alt_tokens else ()
        spans.append(WordSpan(
            base + k, base + cursor, sentence, w, word, float(np.prod(probs[group])),
            tuple(cand.tokens[i] for i in group), tuple(float(probs[i]) for i in group), alts,
        ))
    return spans


def output_spans(result: ParagraphTranslation) -> list[WordSpan]:
    """Spans over `result.text`, in order."""
    spans: list[WordSpan] = []
    pos = len(result.leading)
    for i, (t, sep) in enumerate(zip(result.sentences, result.separators)):
        spans.extend(sentence_spans(t, i, pos))
        pos += len(t.text) + len(sep)
    return spans


def sentence_at(result: ParagraphTranslation, position: int, source: bool) -> int:
    """The sentence index under a character position of the source (or output) text."""
    pos = len(result.leading)
    for i, (t, sep) in enumerate(zip(result.sentences, result.separators)):
        pos += len(t.source if source else t.text) + len(sep)
        if position < pos:
            return i
    return max(len(result.sentences) - 1, 0)


def span_at(spans: list[WordSpan], position: int) -> WordSpan | None:
    for span in spans:
        if span.start <= position < span.end:
            return span
    return None


def shade_alpha(prob: float) -> int:
    """Background alpha (0-255) for a word: 0 when confident, up to 200 as the probability falls."""
    if prob >= CONFIDENT:
        return 0
    return round(40 + 160 * (CONFIDENT - prob) / CONFIDENT)


def tooltip(span: WordSpan) -> str:
    lines = [f"<b>{_esc(span.text)}</b>: probability {span.prob:.2f}"]
    if len(span.pieces) > 1:
        lines.append("pieces: " + ", ".join(f"{_esc(p)} {q:.2f}" for p, q in zip(span.pieces, span.piece_probs)))
    if span.alternatives:
        lines.append("alternatives: " + ", ".join(f"{_esc(p)} {q:.2f}" for p, q in span.alternatives[:5]))
    return "<br>".join(lines)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
