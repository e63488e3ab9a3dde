"""Where each translated word sits in the output text, with its confidence (plain Python + numpy).

The output pane shades words by confidence and answers tooltips and clicks by character position;
both need the word -> character-span map that this module builds from a `ParagraphTranslation`. A
sentence whose output looks degenerate (`Translation.degenerate`: a loop, ...) gets a span of its own,
marked in its own style with the reason in the tooltip. Kept free of Qt so tests call it directly.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from s2s_desktop.engine.api import ParagraphTranslation, Translation
from s2s_desktop.engine.data.words import SPECIALS

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
    forced: bool = False  # part of a what-if's forced prefix: the user chose it, the model did not
    degenerate: str | None = None  # its sentence's output looks broken: why (Translation.degenerate)
    entropy: float | None = None  # nats, of the model's distribution at the word's first piece


@dataclass(frozen=True)
class FlaggedSpan:
    """A sentence's output that looks degenerate, as character offsets in the whole output text."""

    start: int
    end: int
    sentence: int
    reason: str


def word_spans(text: str, words: Sequence[str], base: int = 0) -> list[tuple[int, int] | None]:
    """Character span of each word in `text` (searched in order), or None where it is not found
    (SentencePiece normalisation or detokenisation can change a word's surface form)."""
    spans: list[tuple[int, int] | None] = []
    cursor = 0
    for word in words:
        k = text.find(word, cursor) if word else -1
        if k < 0:
            spans.append(None)
            continue
        spans.append((base + k, base + k + len(word)))
        cursor = k + len(word)
    return spans


def sentence_spans(t: Translation, sentence: int, base: int) -> list[WordSpan]:
    cand = t.best
    probs = np.asarray(cand.token_probs, dtype=float)
    groups, words = cand.word_groups, cand.words
    spans = []
    for w, (group, word, span) in enumerate(zip(groups, words, word_spans(cand.text, words, base))):
        if span is None or cand.tokens[group[0]] in SPECIALS:
            continue  # "</s>", or a word detokenisation changed (rare): left unshaded
        alts = tuple(cand.alternatives(group[0])) if cand.alt_tokens else ()
        spans.append(WordSpan(
            span[0], span[1], sentence, w, word, float(np.prod(probs[group])),
            tuple(cand.tokens[i] for i in group), tuple(float(probs[i]) for i in group), alts,
            group[0] < cand.prefix_length, t.degenerate, cand.entropy(group[0]),
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


def flagged_spans(result: ParagraphTranslation) -> list[FlaggedSpan]:
    """The output of each sentence flagged degenerate, in order."""
    flags = []
    pos = len(result.leading)
    for i, (t, sep) in enumerate(zip(result.sentences, result.separators)):
        if t.degenerate and t.text:
            flags.append(FlaggedSpan(pos, pos + len(t.text), i, t.degenerate))
        pos += len(t.text) + len(sep)
    return flags


def flag_at(flags: list[FlaggedSpan], position: int) -> FlaggedSpan | None:
    for flag in flags:
        if flag.start <= position < flag.end:
            return flag
    return None


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


def flag_tooltip(reason: str) -> str:
    return f"<b>This output looks broken</b>: {html.escape(reason)}. Check it, or split the sentence."


def tooltip(span: WordSpan) -> str:
    lines = [f"<b>{html.escape(span.text)}</b>: probability {span.prob:.2f}"
             + (f", entropy {span.entropy:.2f} nats" if span.entropy is not None else "")]
    if span.degenerate:
        lines.insert(0, flag_tooltip(span.degenerate))
    if span.forced:
        lines.append("forced: part of the prefix you chose (what-if)")
    if len(span.pieces) > 1:
        lines.append("pieces: " + ", ".join(f"{html.escape(p)} {q:.2f}" for p, q in zip(span.pieces, span.piece_probs)))
    if span.alternatives:
        lines.append("alternatives: " + ", ".join(f"{html.escape(p)} {q:.2f}" for p, q in span.alternatives[:5]))
    return "<br>".join(lines)
