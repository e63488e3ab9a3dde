"""The head thumbnails carry their layer and head labels (issue 17 item 5): L1.. beside each row, H1.. above
each column, painted where the grid draws them (the aspect ratio is checked in test_model_transfer.py)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect


def _has_ink(image, rect: QRect) -> bool:
    """Whether `rect` of `image` holds text (dark pixels) rather than the white label background."""
    return any(image.pixelColor(x, y).lightness() < 150
               for x in range(rect.left(), rect.right() + 1) for y in range(rect.top(), rect.bottom() + 1))


def test_every_row_and_column_of_thumbnails_is_labelled(qtbot) -> None:
    from s2s_desktop.gui.head_grid import HeadGrid

    grid = HeadGrid()
    qtbot.addWidget(grid)
    grid.resize(500, 400)
    grid.show()
    grid.set_attention(np.random.default_rng(0).random((2, 3, 4, 5)), (0, 0))
    qtbot.waitExposed(grid)
    canvas = grid.canvas
    image = canvas.grab().toImage()
    lw, lh = canvas.label_width, canvas.label_height
    assert not _has_ink(image, QRect(0, 0, lw, lh))  # the corner has no label: the check sees text, not paper
    for head in range(3):
        r = canvas.cell_rect(0, head)
        assert _has_ink(image, QRect(r.left(), 0, r.width(), lh)), f"H{head + 1}"
    for layer in range(2):
        r = canvas.cell_rect(layer, 0)
        assert _has_ink(image, QRect(0, r.top(), lw, r.height())), f"L{layer + 1}"
