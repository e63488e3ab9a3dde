"""Routine inspector work repaints what changed and re-lays out nothing else (issue 20, item 3).

Measured before these guards: a click on the map re-laid out the whole window (a QLabel's setText
climbed to the tab widget, which repaints itself whole on each layout request), a new matrix or a
resize painted the map 4-5 times over as pyqtgraph settled, and a message moved the whole window
down and back: 30-67 ms of UI thread per action, against 6-17 ms now (`bench/soak_app.py`).
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QApplication

from s2s_desktop.gui.attention_heatmap import AttentionHeatmap
from s2s_desktop.gui.steady_widgets import SteadyLabel
from tests.gui.conftest import open_model, translate_and_wait


class Events(QObject):
    """Counts events of `kinds` by receiver while installed on the application."""

    def __init__(self, *kinds: QEvent.Type) -> None:
        super().__init__()
        self.kinds, self.seen = kinds, []

    def eventFilter(self, obj, event) -> bool:
        if event.type() in self.kinds:
            self.seen.append((obj, event.type()))
        return False

    def __enter__(self) -> Events:
        QApplication.instance().installEventFilter(self)
        return self

    def __exit__(self, *exc) -> None:
        QApplication.instance().removeEventFilter(self)

    def to(self, obj) -> int:
        return sum(1 for o, _ in self.seen if o is obj)


@pytest.fixture
def inspecting(qtbot, make_window, fake_transformer_file):
    window = make_window()
    window.resize(1200, 800)
    open_model(qtbot, window, fake_transformer_file)
    translate_and_wait(qtbot, window, "one two three four five\nsix seven eight")
    qtbot.waitUntil(lambda: window.panel.inspector.view is not None)
    assert len(window.panel.result.sentences) == 2
    qtbot.wait(100)
    return window


def _click_cell(qtbot, heatmap, row: int, col: int) -> None:
    pos = heatmap.mapFromScene(heatmap.scene_point_of_cell(row, col))
    qtbot.mouseClick(heatmap.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def test_inspector_actions_do_not_re_lay_out_the_window(qtbot, inspecting):
    window, insp = inspecting, inspecting.panel.inspector
    actions = [
        ("a click on a cell", lambda: _click_cell(qtbot, insp.heatmap, 1, 2)),
        ("another cell", lambda: _click_cell(qtbot, insp.heatmap, 2, 0)),
        ("the next row by key", lambda: qtbot.keyClick(insp.heatmap, Qt.Key.Key_Down)),
        ("Escape", lambda: qtbot.keyClick(insp.heatmap, Qt.Key.Key_Escape)),
        ("the second sentence", lambda: insp.sentence_box.setCurrentIndex(1)),
        ("a head", lambda: insp.set_layer_head(1, 0)),
        ("a message", lambda: window.show_message("Translated 2 lines in 0.1 s → out.txt", "info")),
        ("its dismissal", window.message_bar.dismiss),
    ]
    for what, action in actions:
        with Events(QEvent.Type.LayoutRequest) as events:
            action()
            qtbot.wait(60)
        assert events.to(window.panel.tabs) == 0 and events.to(window.tabs) == 0, what
    assert insp.sentence == 1 and (insp.layer, insp.head) == (1, 0)  # the actions did happen


def test_a_new_matrix_or_a_resize_paints_the_map_once(qtbot):
    heat = AttentionHeatmap()
    qtbot.addWidget(heat)
    heat.resize(560, 520)
    heat.show()
    qtbot.waitExposed(heat)
    heat.warm_up()
    qtbot.wait(50)
    n = 25
    matrix = np.random.default_rng(0).dirichlet(np.ones(n), size=n).astype(np.float32)
    labels = tuple(f"▁word{i}" for i in range(n))  # too many side by side: the column labels turn
    for change in (lambda: heat.set_matrix(matrix, labels, labels),
                   lambda: heat.set_matrix(matrix / 2, tuple(f"▁longer{i}" for i in range(n)), labels),
                   lambda: heat.resize(540, 520)):
        with Events(QEvent.Type.Paint) as events:
            change()
            qtbot.wait(80)
        assert events.to(heat.viewport()) == 1
    assert heat.top_axis.rotated  # and the labels took the fit they need, before that one paint


def test_a_steady_label_repaints_itself_only_and_keeps_a_cut_text_in_its_tooltip(qtbot):
    label = SteadyLabel("short", lines=2)
    qtbot.addWidget(label)
    label.resize(200, label.height())
    label.show()
    height = label.height()
    label.setText("<b>bold</b> and " + "a long text " * 40)
    assert label.height() == height and label.text().startswith("<b>bold</b>")
    assert label.toolTip().startswith("bold and a long text")  # cut at two lines: whole on hover
    label.setText("short again")
    assert label.toolTip() == "" and label.plain_text() == "short again"
