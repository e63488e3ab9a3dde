"""An output the engine flags as degenerate (a loop, ...) is marked in the translate panel in its
own style, with the reason in the tooltip, instead of shown as a normal translation.

The fake engine "translates" the word "loop" as five of them, which the engine's real check flags."""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtGui import QHelpEvent, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QApplication, QToolTip

from s2s_desktop.gui.output_spans import flagged_spans
from s2s_desktop.gui.translate_panel import FLAGGED_LEGEND, FLAGGED_RGB
from tests.gui.conftest import open_model, translate_and_wait

WAVE = QTextCharFormat.UnderlineStyle.WaveUnderline


def char_format(panel, position: int) -> QTextCharFormat:
    cursor = QTextCursor(panel.output.document())
    cursor.setPosition(position + 1)  # the format of the character before the cursor
    return cursor.charFormat()


def test_a_looping_sentence_is_marked_with_its_reason(qtbot, make_window, fake_model_file):
    window = make_window()
    open_model(qtbot, window, fake_model_file)
    result = translate_and_wait(qtbot, window, "one two. Three loop four.")
    panel = window.panel
    assert result.sentences[0].degenerate is None
    reason = result.sentences[1].degenerate
    assert reason is not None and "loop" in reason
    (flag,) = flagged_spans(result)
    assert panel.output.toPlainText()[flag.start : flag.end] == result.sentences[1].text

    marked = char_format(panel, flag.start + 2)
    assert marked.underlineStyle() == WAVE and marked.foreground().color().getRgb()[:3] == FLAGGED_RGB
    assert char_format(panel, 0).underlineStyle() != WAVE  # the first sentence looks normal
    assert FLAGGED_LEGEND.strip() in panel.legend.text()

    rect = panel.output.cursorRect(_cursor_at(panel, flag.start + 2))
    pos = rect.center()
    QApplication.sendEvent(panel.output.viewport(),
                           QHelpEvent(QEvent.Type.ToolTip, pos, panel.output.viewport().mapToGlobal(pos)))
    assert QToolTip.isVisible() and "looks broken" in QToolTip.text() and "loop" in QToolTip.text()

    # A normal translation clears the mark and its legend
    translate_and_wait(qtbot, window, "one two. three four.")
    assert not panel.flags and FLAGGED_LEGEND.strip() not in panel.legend.text()
    assert all(char_format(panel, i).underlineStyle() != WAVE for i in range(len(panel.output.toPlainText())))


def _cursor_at(panel, position: int) -> QTextCursor:
    cursor = QTextCursor(panel.output.document())
    cursor.setPosition(position)
    return cursor
