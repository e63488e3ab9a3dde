"""The heatmap's token axes compute pyqtgraph's draw specs the short way (one tick level, label widths
from cached font metrics); they must place the same ticks and the same labels as pyqtgraph's own
`AxisItem.generateDrawSpecs`, which is the reference here."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QImage, QPainter

from s2s_desktop.gui.attention_heatmap import AttentionHeatmap


def _specs(axis, method):
    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        return method(axis, painter)
    finally:
        painter.end()


@pytest.mark.parametrize(("n", "width", "pan"), [(6, 560, 0.0), (25, 560, 0.0), (120, 420, 0.0), (5, 560, 0.3)])
def test_token_axes_place_what_pyqtgraph_places(qtbot, n: int, width: int, pan: float) -> None:
    heat = AttentionHeatmap()
    qtbot.addWidget(heat)
    heat.resize(width, 480)
    heat.show()
    qtbot.waitExposed(heat)
    matrix = np.random.default_rng(n).dirichlet(np.ones(n), size=n).astype(np.float32)
    columns = tuple(f"▁longword{i}" if pan else f"▁c{i * 7}" for i in range(n))
    heat.set_matrix(matrix, tuple(f"▁row{i}" for i in range(n)), columns)
    if pan:  # the first cell's label would leave the axis: pyqtgraph drops it, and so must we
        heat.view.setRange(xRange=(pan, n), yRange=(pan, n), padding=0)
    qtbot.wait(80)
    for axis in (heat.left_axis, heat.top_axis):
        ours = _specs(axis, type(axis).generateDrawSpecs)
        theirs = _specs(axis, pg.AxisItem.generateDrawSpecs)
        assert ours is not None and theirs is not None
        (pen, *span), ticks, texts = ours
        (their_pen, *their_span), their_ticks, their_texts = theirs
        assert [(p.x(), p.y()) for p in span] == [(p.x(), p.y()) for p in their_span]
        assert [(a.x(), a.y(), b.x(), b.y()) for _, a, b in ticks] == \
            pytest.approx([(a.x(), a.y(), b.x(), b.y()) for _, a, b in their_ticks])
        assert [t for _, _, t in texts] == [t for _, _, t in their_texts]  # the same labels survive
        assert len(texts) > 0
        if pan and axis is heat.top_axis:
            assert len(texts) < n
        for (rect, flags, _), (their_rect, their_flags, _) in zip(texts, their_texts):
            assert flags == int(their_flags)
            assert rect.center().x() == pytest.approx(their_rect.center().x(), abs=1.5)
            assert rect.center().y() == pytest.approx(their_rect.center().y(), abs=1.5)
        heat.grab()  # and it paints


def test_a_label_set_change_remeasures_the_widest(qtbot) -> None:
    heat = AttentionHeatmap()
    qtbot.addWidget(heat)
    heat.resize(560, 480)
    heat.show()
    matrix = np.full((3, 3), 1 / 3, np.float32)
    heat.set_matrix(matrix, ("a", "b", "c"), ("a", "b", "c"))
    qtbot.wait(50)
    narrow = heat.left_axis.width()
    heat.set_matrix(matrix, ("a", "▁a-much-longer-label", "c"), ("a", "b", "c"))
    qtbot.wait(50)
    assert heat.left_axis.width() > narrow + 40
