"""The two-way link between the texts and the attention inspector.

Moving the cursor (or clicking a word) in the source or the output selects that token in the map;
selecting a token in the map shades the other text by attention weight. Shading uses the editors'
extra selections, so the documents (and the undo history) are never touched.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QTextEdit

from s2s_desktop.engine.api import ParagraphTranslation
from s2s_desktop.gui.inspector_panel import InspectorPanel
from s2s_desktop.gui.output_spans import WordSpan, span_at, word_spans

ATTENTION_RGB = (40, 110, 255)
MIN_SHOWN = 0.05  # weights below 5% of the row's largest are not shaded


def shade_alphas(weights: np.ndarray) -> np.ndarray:
    """Alpha (0-220) per word, proportional to its weight relative to the largest."""
    w = np.asarray(weights, dtype=float)
    top = w.max() if w.size else 0.0
    if top <= 0:
        return np.zeros_like(w, dtype=int)
    rel = w / top
    return np.where(rel >= MIN_SHOWN, np.round(30 + 190 * rel), 0).astype(int)


class TextLink(QObject):
    def __init__(self, source: QPlainTextEdit, output: QTextEdit, inspector: InspectorPanel) -> None:
        super().__init__(inspector)
        self.source, self.output, self.inspector = source, output, inspector
        self.result: ParagraphTranslation | None = None
        self.source_spans: list[list[tuple[int, int] | None]] = []  # per sentence, per source word
        self.output_spans: list[WordSpan] = []
        self.muted = False
        source.cursorPositionChanged.connect(self._on_source_cursor)
        output.cursorPositionChanged.connect(self._on_output_cursor)
        inspector.target_selected.connect(self._shade_for_target)
        inspector.source_selected.connect(self._shade_for_source)
        inspector.selection_cleared.connect(self.clear_shading)

    def set_result(self, result: ParagraphTranslation | None, output_spans: list[WordSpan]) -> None:
        self.result, self.output_spans = result, output_spans
        self.source_spans = []
        if result is None:
            return
        pos = len(result.leading)
        for t, sep in zip(result.sentences, result.separators):
            self.source_spans.append(word_spans(t.source, t.source_words, base=pos))
            pos += len(t.source) + len(sep)

    def _fresh(self) -> bool:
        """Only link when the shown translation belongs to the text in the source editor."""
        return self.result is not None and not self.muted and self.result.source == self.source.toPlainText()

    # -- editors -> map ------------------------------------------------------------------------------
    def _on_source_cursor(self) -> None:
        if not self._fresh():
            return
        pos = self.source.textCursor().position()
        for s, spans in enumerate(self.source_spans):
            for w, span in enumerate(spans):
                if span and span[0] <= pos <= span[1]:
                    self.inspector.select_source_word(s, w)
                    return

    def _on_output_cursor(self) -> None:
        if not self._fresh():
            return
        pos = self.output.textCursor().position()
        span = span_at(self.output_spans, pos) or (span_at(self.output_spans, pos - 1) if pos else None)
        if span is not None:
            self.inspector.select_target_word(span.sentence, span.word)

    # -- map -> editors ------------------------------------------------------------------------------
    def _shade_for_target(self, sentence: int, source_weights: np.ndarray, target_word: int) -> None:
        spans = self.source_spans[sentence] if sentence < len(self.source_spans) else []
        self.source.setExtraSelections(_selections(self.source, spans, shade_alphas(source_weights)))
        marks = [(s.start, s.end) if s.sentence == sentence and s.word == target_word else None
                 for s in self.output_spans]
        self.output.setExtraSelections(_selections(self.output, marks, None))

    def _shade_for_source(self, sentence: int, target_weights: np.ndarray | None, source_word: int) -> None:
        if target_weights is not None:
            mine = [s for s in self.output_spans if s.sentence == sentence]
            alphas = shade_alphas(np.array([target_weights[s.word] if s.word < len(target_weights) else 0.0
                                            for s in mine]))
            self.output.setExtraSelections(_selections(self.output, [(s.start, s.end) for s in mine], alphas))
        else:
            self.output.setExtraSelections([])
        spans = self.source_spans[sentence] if sentence < len(self.source_spans) else []
        marks = [span if w == source_word else None for w, span in enumerate(spans)]
        self.source.setExtraSelections(_selections(self.source, marks, None))

    def clear_shading(self) -> None:
        self.source.setExtraSelections([])
        self.output.setExtraSelections([])

    def shaded_source(self) -> dict[str, int]:
        """{word text: alpha} currently shaded in the source editor (for tests and diagnostics)."""
        return _shaded(self.source)

    def shaded_output(self) -> dict[str, int]:
        return _shaded(self.output)


def _selections(editor, spans, alphas) -> list:
    """Extra selections: shaded by `alphas`, or (alphas None) an underlined highlight of each span."""
    out = []
    for i, span in enumerate(spans):
        if span is None:
            continue
        fmt = QTextCharFormat()
        if alphas is None:
            fmt.setBackground(QColor(255, 64, 64, 70))
            fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.SingleUnderline)
            fmt.setUnderlineColor(QColor(200, 0, 0))
        else:
            if i >= len(alphas) or alphas[i] <= 0:
                continue
            fmt.setBackground(QColor(*ATTENTION_RGB, int(alphas[i])))
        sel = QTextEdit.ExtraSelection()
        sel.format = fmt
        cursor = QTextCursor(editor.document())
        cursor.setPosition(span[0])
        cursor.setPosition(span[1], QTextCursor.MoveMode.KeepAnchor)
        sel.cursor = cursor
        out.append(sel)
    return out


def _shaded(editor) -> dict[str, int]:
    return {sel.cursor.selectedText(): sel.format.background().color().alpha() for sel in editor.extraSelections()}
