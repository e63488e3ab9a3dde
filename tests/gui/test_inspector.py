"""The attention inspector: pixel -> cell, clicks, the link with both texts, what-if, export, heads
(with the fake engine: its attention peaks on the source word each output word reverses)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from s2s_desktop.gui.attention_math import MEAN_OF_HEADS, pixel_to_cell, visible_ticks
from tests.gui.conftest import open_model, translate_and_wait

TEXT = "one two three four five"


def test_pixel_to_cell_maps_pixels_to_rows_and_columns() -> None:
    rect, view = (100, 50, 400, 200), ((0, 4), (0, 2))  # 4 columns x 2 rows fill 400 x 200 px
    assert pixel_to_cell(100, 50, rect, view, (2, 4)) == (0, 0)
    assert pixel_to_cell(499, 249, rect, view, (2, 4)) == (1, 3)
    assert pixel_to_cell(250, 160, rect, view, (2, 4)) == (1, 1)  # x 1.5, y 1.1
    assert pixel_to_cell(99, 60, rect, view, (2, 4)) is None  # left of the plot
    assert pixel_to_cell(300, 260, rect, view, (2, 4)) is None  # below it
    # Zoomed and panned: columns 2-3 and row 1 fill the plot.
    assert pixel_to_cell(110, 60, rect, ((2, 4), (1, 2)), (2, 4)) == (1, 2)
    assert pixel_to_cell(490, 60, rect, ((2, 4), (1, 2)), (2, 4)) == (1, 3)


def test_axis_labels_thin_out_instead_of_overlapping() -> None:
    assert visible_ticks(0, 10, 10, 200, 15) == list(range(10))
    ticks = visible_ticks(0, 200, 200, 400, 15)  # 200 labels in 400 px: every 8th
    assert ticks[:3] == [0, 8, 16] and (ticks[1] - ticks[0]) * 400 / 200 >= 15
    assert visible_ticks(12, 0, 12, 300, 14) == list(range(12))  # an inverted axis passes lo > hi
    assert visible_ticks(50.3, 60, 200, 400, 15) == list(range(50, 60))  # zoomed in: all of them


@pytest.fixture
def inspecting(qtbot, make_window, fake_model_file):
    window = make_window()
    open_model(qtbot, window, fake_model_file)
    window.resize(1000, 790)
    translate_and_wait(qtbot, window, TEXT)
    qtbot.waitUntil(lambda: window.panel.inspector.view is not None)
    window.panel.inspector.words_box.setChecked(True)  # rows and columns are words (the tiny vocabulary splits them)
    return window


def _click(qtbot, heatmap, scene_point) -> None:
    qtbot.mouseClick(heatmap.viewport(), Qt.MouseButton.LeftButton, pos=heatmap.mapFromScene(scene_point))


def test_clicking_a_cell_selects_its_row_and_shades_the_source(qtbot, inspecting):
    insp, link = inspecting.panel.inspector, inspecting.panel.link
    row = 1
    _click(qtbot, insp.heatmap, insp.heatmap.scene_point_of_cell(row, 2))
    assert insp.row == row
    weights = insp.view.matrix[row]
    assert weights.sum() == pytest.approx(1.0, abs=1e-3)
    shaded = link.shaded_source()
    strongest_word = insp.translation.source_words[int(np.argmax(weights))]
    assert max(shaded, key=shaded.get) == strongest_word
    assert list(link.shaded_output()) == [insp.candidate.words[row]]  # the chosen word, marked
    assert insp.alternatives.count() > 0 and insp.bar_item.opts["height"].shape == weights.shape
    # how sure the model was there: the chosen piece's probability and the distribution's entropy
    first = insp.view.target_groups[row][0]
    entropy = insp.candidate.entropy(first)
    assert entropy is not None and entropy > 0
    assert f"(p {insp.candidate.token_probs[first]:.2f}, entropy {entropy:.2f} nats)" in insp.selected_label.text()


def test_clicking_row_and_column_labels(qtbot, inspecting):
    insp = inspecting.panel.inspector
    heat = insp.heatmap
    point = heat.scene_point_of_cell(2, 0)
    point.setX(heat.left_axis.sceneBoundingRect().center().x())
    _click(qtbot, heat, point)
    assert (insp.row, insp.col) == (2, None)
    point = heat.scene_point_of_cell(0, 3)
    point.setY(heat.top_axis.sceneBoundingRect().center().y())
    _click(qtbot, heat, point)
    assert (insp.row, insp.col) == (None, 3)
    # A column selection shades the output words that attend to that source word.
    column = insp.view.matrix[:, 3]
    shaded = inspecting.panel.link.shaded_output()
    assert max(shaded, key=shaded.get) == insp.candidate.words[int(np.argmax(column))]


def test_moving_the_cursor_in_either_text_selects_the_token(qtbot, inspecting):
    panel, insp = inspecting.panel, inspecting.panel.inspector
    cursor = panel.source.textCursor()
    cursor.setPosition(TEXT.index("three") + 2)
    panel.source.setTextCursor(cursor)
    assert insp.col == insp.translation.source_words.index("three")
    output = panel.output.toPlainText()
    word = output.split()[1]
    cursor = panel.output.textCursor()
    cursor.setPosition(output.index(word, len(output.split()[0])) + 1)
    panel.output.setTextCursor(cursor)
    assert insp.row == 1 and insp.candidate.words[insp.row] == word


def test_keyboard_moves_the_selection(qtbot, inspecting):
    insp = inspecting.panel.inspector
    insp.heatmap.setFocus()
    qtbot.keyClick(insp.heatmap, Qt.Key.Key_Down)
    qtbot.keyClick(insp.heatmap, Qt.Key.Key_Down)
    assert insp.row == 1
    qtbot.keyClick(insp.heatmap, Qt.Key.Key_Up)
    assert insp.row == 0
    qtbot.keyClick(insp.heatmap, Qt.Key.Key_Right)
    assert (insp.row, insp.col) == (None, 0)
    qtbot.keyClick(insp.heatmap, Qt.Key.Key_Escape)
    assert (insp.row, insp.col) == (None, None)
    assert inspecting.panel.link.shaded_source() == {}


def test_choosing_an_alternative_redecodes_from_that_prefix(qtbot, inspecting):
    panel, insp = inspecting.panel, inspecting.panel.inspector
    free_text = panel.output.toPlainText()
    insp.select_row(1)
    item = insp.alternatives.item(1)  # the second most probable piece at position 1
    position, token = item.data(Qt.ItemDataRole.UserRole)
    expected_prefix = [*insp.candidate.tokens[:position], token]
    insp.alternatives.setCurrentItem(item)
    with qtbot.waitSignal(inspecting.client.redecoded, timeout=60_000):
        insp.use_button.click()
    cand = insp.candidate
    assert list(cand.tokens[: len(expected_prefix)]) == expected_prefix
    assert cand.prefix_length == len(expected_prefix)
    assert panel.output.toPlainText() == cand.text != free_text
    assert insp.reset_button.isEnabled()
    insp.reset_button.click()
    assert panel.output.toPlainText() == free_text and insp.candidate.prefix_length == 0


def test_editing_the_prefix_redecodes(qtbot, inspecting):
    insp = inspecting.panel.inspector
    insp.prefix_edit.setText("two")
    with qtbot.waitSignal(inspecting.client.redecoded, timeout=60_000):
        insp.redecode_button.click()
    assert inspecting.panel.output.toPlainText().startswith("two")


def test_exports(qtbot, inspecting, tmp_path):
    insp = inspecting.panel.inspector
    for suffix in (".png", ".svg", ".csv", ".json"):
        insp.export(str(tmp_path / f"map{suffix}"))
    assert not QImage(str(tmp_path / "map.png")).isNull()
    assert "<svg" in (tmp_path / "map.svg").read_text(encoding="utf-8")
    rows = list(csv.reader((tmp_path / "map.csv").open(encoding="utf-8")))
    assert rows[0][1:] == list(insp.translation.source_words)
    assert [r[0] for r in rows[1:]] == list(insp.candidate.words)
    assert all(sum(map(float, r[1:])) == pytest.approx(1.0, abs=1e-3) for r in rows[1:])
    data = json.loads((tmp_path / "map.json").read_text(encoding="utf-8"))
    assert data["source_tokens"] == list(insp.translation.source_words) and data["units"] == "words"
    assert all(sum(r["weights"]) == pytest.approx(1.0, abs=1e-3) for r in data["rows"])


def test_layer_and_head_switches_change_the_matrix(qtbot, make_window, fake_transformer_file):
    window = make_window()
    open_model(qtbot, window, fake_transformer_file)
    translate_and_wait(qtbot, window, "one two three")
    insp = window.panel.inspector
    qtbot.waitUntil(lambda: insp.view is not None)
    assert insp.layer_box.count() == 2 and insp.head_box.count() == 3  # mean + 2 heads
    assert insp.grid.shape == (2, 2)
    att = np.asarray(insp.candidate.attention)
    insp.set_layer_head(0, MEAN_OF_HEADS)
    np.testing.assert_allclose(insp.view.matrix, att[0].mean(axis=0), atol=1e-6)
    insp.head_box.setCurrentIndex(insp.head_box.findData(1))
    np.testing.assert_allclose(insp.view.matrix, att[0, 1], atol=1e-6)
    insp.layer_box.setCurrentIndex(1)
    np.testing.assert_allclose(insp.view.matrix, att[1, 1], atol=1e-6)
    assert not np.allclose(att[1, 1], att[0, 1])
    # Clicking a small map in the grid picks its layer and head.
    qtbot.mouseClick(insp.grid.canvas, Qt.MouseButton.LeftButton, pos=insp.grid.cell_center(0, 0))
    assert (insp.layer, insp.head) == (0, 0)
    np.testing.assert_allclose(insp.view.matrix, att[0, 0], atol=1e-6)


def test_a_words_tooltip_gives_its_entropy_next_to_its_probability(qtbot, inspecting):
    from s2s_desktop.gui.output_spans import sentence_spans, tooltip

    t = inspecting.panel.inspector.translation
    spans = sentence_spans(t, 0, 0)
    assert spans
    for span in spans:
        first = t.best.word_groups[span.word][0]
        assert span.entropy == pytest.approx(t.best.entropy(first))
        assert f"probability {span.prob:.2f}, entropy {span.entropy:.2f} nats" in tooltip(span)
