"""The window at its default size and across launches (issue 17, items 4 and 8, and the form of 13)."""

from __future__ import annotations

from PySide6.QtCore import QRect


def test_the_first_window_is_sized_from_the_screen() -> None:
    from s2s_desktop.gui.main_window import default_geometry

    assert default_geometry(QRect(0, 0, 1920, 1080)) == QRect(144, 81, 1632, 918)  # 85%, centred
    assert default_geometry(QRect(0, 0, 1366, 768)).size().toTuple() == (1161, 680)  # never under 1100 x 680 ...
    assert default_geometry(QRect(0, 0, 1024, 600)) == QRect(0, 0, 1024, 600)  # ... unless the screen is smaller
    assert default_geometry(QRect(0, 0, 3840, 2160)).size().toTuple() == (1800, 1100)
    assert default_geometry(QRect(100, 50, 1920, 1000)).center() == QRect(100, 50, 1920, 1000).center()


def test_a_first_window_uses_the_screen_and_a_restored_one_its_geometry(make_window) -> None:
    from s2s_desktop.gui.main_window import default_geometry

    window = make_window()
    expected = default_geometry(window.screen().availableGeometry())
    assert window.width() >= min(expected.width(), window.minimumSizeHint().width())
    assert window.height() == expected.height()


def test_switching_tabs_resizes_nothing_and_the_model_panel_is_remembered(qtbot, make_window) -> None:
    """The Model panel is part of the Translate tab: the Train tab has the window's width without a dock
    being hidden and shown on each switch (which re-laid out every plot and the heatmap: 60-80 ms)."""
    window = make_window()
    window.resize(1200, 700)
    qtbot.wait(50)
    assert window.info_panel.isVisible() and window.model_panel_action.isChecked()
    size = window.tabs.size()
    window.tabs.setCurrentWidget(window.training)
    qtbot.wait(20)
    assert window.tabs.size() == size and window.training.width() >= window.tabs.width() - 20
    window.tabs.setCurrentWidget(window.translate_tab)
    window.model_panel_action.trigger()  # View › Model panel: hidden
    assert window.info_panel.isHidden()
    window.close()
    again = make_window()
    assert again.info_panel.isHidden() and not again.model_panel_action.isChecked()
    again.model_panel_action.trigger()
    assert again.info_panel.isVisible()


def test_the_training_form_is_remembered_between_sessions(make_window, tmp_path) -> None:
    corpus = tmp_path / "pairs.tsv"
    corpus.write_text("one\teins\n", encoding="utf-8")
    window = make_window()
    form = window.training.form
    form.train_tsv.setText(str(corpus))
    form.tgt_lang.setText("fr")
    form.arch.setCurrentText("Transformer")
    form.advanced.setChecked(True)
    form.batch.setValue(6000)
    form.limit_kind.setCurrentText("steps")
    form.limit.setValue(5000)
    values = form.values()
    window.close()
    again = make_window()
    assert again.training.form.values() == values
    assert again.training.form.train_tsv.text() == str(corpus) and again.training.form.batch.value() == 6000


def test_a_long_banner_neither_grows_the_window_nor_moves_anything(qtbot, make_window) -> None:
    """The message card floats over the bottom-right corner: it re-lays out nothing (as a row of the
    layout it pushed the window down and back, a full relayout and repaint per message)."""
    window = make_window()
    window.resize(1100, 680)
    window.tabs.setCurrentWidget(window.training)
    qtbot.wait(50)
    view = window.training.plots.view
    before = (view.geometry(), window.tabs.geometry(), window.training.scroll.verticalScrollBar().maximum())
    text = "The corpus check found a problem. " * 90  # more than half the window: cut, whole on hover
    window.show_message(text, "warning")
    qtbot.wait(50)
    bar, host = window.message_bar, window.centralWidget()
    assert (window.width(), window.height()) == (1100, 680)
    assert (view.geometry(), window.tabs.geometry(), window.training.scroll.verticalScrollBar().maximum()) == before
    assert bar.isVisible() and host.rect().contains(bar.geometry())
    assert bar.geometry().right() > host.width() * 3 // 4 and bar.geometry().bottom() > host.height() * 3 // 4
    assert bar.height() <= host.height() // 2 and bar.label.toolTip() == text == window.message_bar.text()
    window.resize(1300, 800)  # it follows the corner
    qtbot.waitUntil(lambda: bar.geometry().right() > 1300 * 3 // 4 and bar.geometry().bottom() > host.height() * 3 // 4)


def test_news_leaves_by_itself_and_problems_stay(qtbot, make_window, monkeypatch) -> None:
    window = make_window()
    bar = window.message_bar
    bar.expiry.setInterval(100)
    window.show_message("Translated 3 lines in 0.1 s → out.txt", "info")
    assert "Translated 3 lines" in bar.text()
    qtbot.waitUntil(lambda: bar.text() == "", timeout=2000)
    window.show_message("Could not open x.s2s: broken.", "error")
    qtbot.wait(300)
    assert bar.text() == "Could not open x.s2s: broken." and bar.level == "error"


def test_the_train_tab_fits_the_default_window(qtbot, make_window) -> None:
    """At 1100 x 680 (issue 17 item 4): Start on screen, every plot column in view and tall enough for its
    labels, the sample table's header shown, and nothing to scroll."""
    from PySide6.QtCore import QPoint

    window = make_window()
    window.resize(1100, 680)
    window.tabs.setCurrentWidget(window.training)
    qtbot.wait(50)
    panel = window.training

    def in_window(widget) -> QRect:
        return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())

    assert window.rect().contains(in_window(panel.form.start_button)) and panel.form.start_button.isVisible()
    assert panel.scroll.verticalScrollBar().maximum() == 0 and panel.scroll.horizontalScrollBar().maximum() == 0
    view = panel.plots.view
    for name, plot in panel.plots.plots.items():
        box = plot.sceneBoundingRect()
        assert box.right() <= view.width() and box.height() >= 100, name  # the third column is not cut off
    header = panel.sample_table.horizontalHeader()
    assert header.isVisible() and window.rect().contains(in_window(header))
    assert header.height() >= header.fontMetrics().height()
