"""Issue 17, what a new user hit in a first hour (the inspector, translate, open and file items): each
test is one bug, written so that it failed before its fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent
from PySide6.QtGui import QHelpEvent, QImage
from PySide6.QtWidgets import QApplication, QToolTip

from s2s_desktop.engine.api import ModelInfo
from s2s_desktop.gui.attention_math import CROSS, DECODER, ENCODER, INPUT_X_GRADIENT, INTEGRATED_GRADIENTS
from s2s_desktop.gui.file_translation import TEXT_FILTER, suggest_output_name
from s2s_desktop.gui.menus import distinct_labels
from s2s_desktop.gui.model_info import describe
from tests.gui.conftest import ENGINE_TIMEOUT, open_model, translate_and_wait
from tests.gui.fake_engine import FakeEngine, write_fake_model

TWO_SENTENCES = "One two three! Four five six seven?"


@pytest.fixture
def window(qtbot, make_window, fake_transformer_file):
    w = make_window()
    w.resize(1100, 680)
    open_model(qtbot, w, fake_transformer_file)
    return w


# -- 2. inspector state leaks between sentences and models ------------------------------------------
def test_the_prefix_box_belongs_to_the_shown_sentence_and_model(qtbot, window, other_fake_model_file):
    insp = window.panel.inspector
    translate_and_wait(qtbot, window, TWO_SENTENCES)
    insp.show_sentence(0)
    insp.select_row(2)  # the box now holds the first sentence's first two words
    assert insp.prefix_edit.text()
    insp.show_sentence(1)
    assert insp.prefix_edit.text() == ""  # not the other sentence's prefix
    sent = []
    insp.redecode_requested.connect(lambda sentence, prefix: sent.append((sentence, prefix)))
    insp.redecode_button.click()
    assert sent == [(1, "")]
    insp.prefix_edit.setText("typed for the old model")
    open_model(qtbot, window, other_fake_model_file)  # "Use this model" opens another one the same way
    assert insp.prefix_edit.text() == ""


def test_the_bar_chart_drops_the_previous_sentences_labels(qtbot, window):
    insp = window.panel.inspector
    translate_and_wait(qtbot, window, TWO_SENTENCES)
    insp.select_row(0)
    assert insp.bar_axis.labels
    insp.show_sentence(1)
    assert insp.bar_axis.labels == () and len(insp.bar_item.opts["height"]) == 0


def test_selecting_an_n_best_row_shows_that_hypothesis_in_the_map(qtbot, window):
    panel, insp = window.panel, window.panel.inspector
    panel.beam.setValue(3)
    panel.nbest.setValue(3)
    translate_and_wait(qtbot, window, "one two three four")
    panel.tabs.setCurrentIndex(1)
    panel.nbest_list.setCurrentItem(panel.nbest_list.topLevelItem(2))
    assert insp.hypothesis == 2 and insp.hyp_box.currentIndex() == 2
    assert insp.view.target_labels == tuple(insp.translation.nbest[2].tokens)


# -- 5. attention map labels, exports, thumbnails -----------------------------------------------------
def test_every_token_of_a_12_token_sentence_gets_a_label_at_the_default_size(qtbot, window):
    insp = window.panel.inspector
    translate_and_wait(qtbot, window, "one two three four five six seven eight nine ten one")  # 12 pieces
    heat = insp.heatmap
    qtbot.waitUntil(lambda: heat.matrix.shape == (12, 12))
    rows, cols = heat.matrix.shape
    (x0, x1), (y0, y1) = heat.view.viewRange()

    def ticks(axis, lo, hi, pixels):
        return axis.tickValues(lo, hi, pixels)[0][1]

    qtbot.waitUntil(lambda: len(ticks(heat.top_axis, x0, x1, heat.view.width())) == cols, timeout=3000)
    assert heat.top_axis.rotated  # side by side they would not fit: vertical, not thinned
    assert len(ticks(heat.left_axis, y0, y1, heat.view.height())) == rows


def test_an_exported_png_is_readable_with_every_label_and_a_caption(qtbot, window, tmp_path):
    insp = window.panel.inspector
    translate_and_wait(qtbot, window, "one two three four five six seven eight nine ten one")
    insp.set_layer_head(1, 0)
    insp.export(str(tmp_path / "map.png"))
    image = QImage(str(tmp_path / "map.png"))
    assert image.width() >= 2 * 12 * 30 and image.height() >= 2 * 12 * 30  # 30 px cells, at twice the size
    from s2s_desktop.gui.attention_export import AttentionFigure
    from s2s_desktop.gui.attention_math import caption

    text = caption(insp.view, "transformer.s2s", insp.translation.source, insp.candidate.text, 2, 2)
    assert text.startswith("transformer.s2s: cross-attention, layer 2 of 2, head 1 (subword pieces)")
    figure = AttentionFigure(insp.view, text)
    top = figure.heatmap.top_axis
    assert len(top.tickValues(0, 12, 12 * 30)[0][1]) == 12  # the figure never thins its labels
    insp.set_layer_head(0, -1)
    assert "mean of heads" in caption(insp.view, "m", "", "", 2, 2)


# -- 9. messages --------------------------------------------------------------------------------------
def test_a_failed_open_does_not_leave_opening_in_the_status_bar(qtbot, make_window, tmp_path, fake_model_file):
    window = make_window()
    bad = tmp_path / "broken.s2s"
    bad.write_bytes(b"not a model")
    with qtbot.waitSignal(window.client.failed, timeout=ENGINE_TIMEOUT):
        window.open_model(str(bad))
    assert "Opening" not in window.state_label.text() and "Could not open broken.s2s" in window.state_label.text()
    assert not window.busy.isVisible()
    open_model(qtbot, window, fake_model_file)
    with qtbot.waitSignal(window.client.failed, timeout=ENGINE_TIMEOUT):
        window.open_model(str(bad))
    assert window.state_label.text().startswith("en → rev · reverse.s2s")  # the model still in use


def test_opening_a_folder_gives_the_command_lines_message(qtbot, make_window, tmp_path):
    window = make_window()
    run = tmp_path / "my-run"
    run.mkdir()
    with qtbot.waitSignal(window.client.failed, timeout=ENGINE_TIMEOUT):
        window.open_model(str(run))  # as `s2s-desktop my-run` does
    text = window.message_bar.text()
    assert "does not exist" not in text
    assert "is a folder; choose the .s2s model file inside it (e.g. best.s2s)" in text


# -- 10. file translation -----------------------------------------------------------------------------
def test_the_suggested_output_name_uses_the_target_language() -> None:
    assert suggest_output_name("/d/news.en", "en", "de") == Path("/d/news.de")
    assert suggest_output_name("/d/input.txt", "en", "de") == Path("/d/input.de.txt")
    assert suggest_output_name("/d/README", "en", "de") == Path("/d/README.de")
    assert TEXT_FILTER.startswith("All files (*)")  # .en / .de files are not hidden by a *.txt filter


def test_file_translation_reports_every_line_and_splits_sentences(qtbot, window, tmp_path, monkeypatch):
    src, dst = tmp_path / "in.en", tmp_path / "out.de"
    src.write_text("one two. Three four.\n" * 100, encoding="utf-8")
    monkeypatch.setattr(window, "ask_file_paths", lambda: (str(src), str(dst)))
    progress = []
    window.client.file_progressed.connect(lambda done, total: progress.append(done))
    with qtbot.waitSignal(window.client.file_finished, timeout=ENGINE_TIMEOUT):
        window.translate_file_action.trigger()
    assert progress[-1] == 100 and max(np.diff([0, *progress])) < 64  # no 64-line jumps
    first = dst.read_text(encoding="utf-8").splitlines()[0]
    assert first == "two. one four. Three"  # each sentence translated on its own (the fake reverses words)


# -- 11. open recent ----------------------------------------------------------------------------------
def test_recent_models_with_the_same_name_show_their_run_folder(qtbot, make_window, tmp_path):
    assert distinct_labels(["/r/a/best.s2s", "/r/b/best.s2s", "/m/x.s2s"]) == ["a/best.s2s", "b/best.s2s", "x.s2s"]
    assert distinct_labels(["/1/run/best.s2s", "/2/run/best.s2s"]) == ["1/run/best.s2s", "2/run/best.s2s"]
    window = make_window()
    for run in ("rnn-test", "transformer-test"):
        (tmp_path / run).mkdir()
        open_model(qtbot, window, write_fake_model(tmp_path / run / "best.s2s"))
    labels = [a.text() for a in window.recent_menu.actions()]
    assert labels[:2] == ["transformer-test/best.s2s", "rnn-test/best.s2s"]


# -- 12. first run: one loading state -----------------------------------------------------------------
def test_while_loading_the_empty_state_offers_nothing_else(qtbot, fake_model_file):
    from s2s_desktop.gui.main_window import MainWindow

    window = MainWindow(engine=FakeEngine())
    qtbot.addWidget(window)
    window.show()
    empty = window.empty
    assert "Loading engine" in empty.title.text() and empty.spinner.isVisible()
    assert not empty.open_button.isVisible() and not empty.train_button.isVisible()
    with qtbot.waitSignal(window.client.engine_loaded, timeout=ENGINE_TIMEOUT):
        window.start_engine(open_last=False)
    assert empty.open_button.isVisible() and not empty.spinner.isVisible()
    window.open_model(str(fake_model_file))
    assert "Opening reverse.s2s" in empty.title.text() and not empty.open_button.isVisible()
    qtbot.waitUntil(lambda: window.model_info is not None, timeout=ENGINE_TIMEOUT)
    window.close()


def test_the_engine_starts_only_after_the_window_has_painted(qtbot):
    from PySide6.QtWidgets import QLabel

    from s2s_desktop.app import after_first_paint

    label = QLabel("hello")
    qtbot.addWidget(label)
    calls = []
    after_first_paint(label, lambda: calls.append(label.isVisible()), fallback_ms=60_000)
    QApplication.processEvents()
    assert calls == []  # not before the window is shown and painted
    label.show()
    qtbot.waitUntil(lambda: calls == [True], timeout=5000)


# -- 13. smaller ones ---------------------------------------------------------------------------------
def test_a_changed_source_marks_the_translation_out_of_date_when_not_translating_as_you_type(qtbot, window):
    panel = window.panel
    translate_and_wait(qtbot, window, "one two")
    assert not panel.stale_label.isVisibleTo(window)
    panel.as_you_type.setChecked(False)
    panel.source.setPlainText("one two three")
    assert panel.stale_label.isVisibleTo(window) and "out of date" in panel.stale_label.text()
    with qtbot.waitSignal(window.client.translated, timeout=ENGINE_TIMEOUT):
        panel.request_translation()
    assert not panel.stale_label.isVisibleTo(window)


def test_the_forced_prefix_of_a_what_if_has_its_own_style(qtbot, window):
    panel, insp = window.panel, window.panel.inspector
    translate_and_wait(qtbot, window, "one two three")
    insp.prefix_edit.setText("two")
    with qtbot.waitSignal(window.client.redecoded, timeout=ENGINE_TIMEOUT):
        insp.redecode_button.click()
    forced = [s for s in panel.spans if s.forced]
    assert [s.text for s in forced] == ["two"]
    cursor = panel.output.textCursor()
    cursor.setPosition(forced[0].start + 1)
    fmt = cursor.charFormat()
    assert fmt.underlineStyle() != fmt.underlineStyle().NoUnderline  # dashed, and blue: not "unsure" orange
    assert fmt.background().color().blue() > fmt.background().color().red()
    assert "forced" in panel.legend.text()


def test_the_map_tooltip_stays_while_the_mouse_rests_on_a_cell(qtbot, window):
    insp = window.panel.inspector
    translate_and_wait(qtbot, window, "one two three")
    heat = insp.heatmap
    qtbot.waitUntil(lambda: heat.matrix.size > 0)
    pos = heat.mapFromScene(heat.scene_point_of_cell(1, 1))
    qtbot.mouseMove(heat.viewport(), pos)
    qtbot.waitUntil(lambda: bool(heat.image.toolTip()), timeout=3000)
    shown = heat.image.toolTip()
    assert "→ source" in shown
    # Resting there: Qt's tooltip event reaches the scene, which used to hide the tip (no item tooltip).
    event = QHelpEvent(QEvent.Type.ToolTip, pos, heat.viewport().mapToGlobal(pos))
    QApplication.sendEvent(heat.viewport(), event)
    assert QToolTip.isVisible() and QToolTip.text() == shown


def test_the_model_panel_shows_the_training_corpus_by_file_name_only() -> None:
    info = ModelInfo(path="/x/en-de-tatoeba.s2s", src_lang="en", tgt_lang="de",
                     training={"corpus": "/tmp/tat/train.tsv", "steps": 10})
    rows = dict(describe(info))
    assert rows["Training data"] == "train.tsv"
    from s2s_desktop.gui.model_info import ModelInfoView

    view = ModelInfoView()
    view.show_info(info)
    tips = [view.form.itemAt(i).widget().toolTip() for i in range(view.form.count()) if view.form.itemAt(i).widget()]
    assert not any("/tmp/tat" in tip for tip in tips)  # a developer's temporary folder means nothing here


# -- 14. self-attention next to cross-attention --------------------------------------------------------
def test_encoder_and_decoder_self_attention_for_transformers(qtbot, window):
    insp = window.panel.inspector
    t = translate_and_wait(qtbot, window, "one two three").sentences[0]
    assert insp.kind_box.isVisibleTo(window)
    with qtbot.waitSignal(window.client.self_attended, timeout=ENGINE_TIMEOUT):
        insp.set_kind(ENCODER)
    qtbot.waitUntil(lambda: insp.view is not None and insp.view.kind == ENCODER)
    s = len(t.source_tokens)
    assert insp.view.matrix.shape == (s, s) and insp.view.target_labels == insp.view.source_labels
    insp.select_row(0)  # a source token: the source text is shaded by what it attends to
    assert window.panel.link.shaded_source()
    insp.set_kind(DECODER)  # the same translation: no second request
    n = len(t.best.tokens)
    assert insp.view.matrix.shape == (n, n) and insp.view.source_labels[0] == "<s>"
    assert np.allclose(np.triu(insp.view.matrix, 1), 0)  # causal
    assert insp.grid.shape == (2, 2)
    insp.set_kind(CROSS)
    np.testing.assert_allclose(insp.view.matrix, np.asarray(t.best.attention)[0].mean(axis=0), atol=1e-6)


def test_an_rnn_offers_cross_attention_and_gradients_but_no_self_attention(qtbot, make_window, tmp_path):
    window = make_window()
    open_model(qtbot, window, write_fake_model(tmp_path / "rnn.s2s", arch="rnn"))
    assert window.panel.inspector.picker.offered() == [CROSS, INPUT_X_GRADIENT, INTEGRATED_GRADIENTS]

