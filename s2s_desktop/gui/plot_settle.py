"""Lay a pyqtgraph plot out at once when its content or size changes.

pyqtgraph spreads a change over several event-loop turns: the layout request is posted, the view
box's matrix waits for the next paint, and token axes that must turn their labels or shrink their
font (`TokenAxis`) can only tell during a paint. Each turn repainted the whole plot: 4-5 paints
of the attention map per new matrix or resize, 35-65 ms of UI thread in a row. Settling
synchronously leaves one paint.
"""

from __future__ import annotations

from PySide6.QtGui import QResizeEvent

ROUNDS = 3  # an axis change resizes the view, which can change the other axis once more


class SettlesAtOnce:
    """Mixin for a `pg.GraphicsView` subclass: set `settled_axes` (objects with `settle() -> bool`)
    and `settled_layouts` (its QGraphicsLayouts, outermost first); call `settle()` after a change."""

    settled_axes: tuple = ()
    settled_layouts: tuple = ()

    def settle(self) -> None:
        if getattr(self, "closed", False):  # pg.GraphicsView.close() cleared the scene (then it resizes)
            return
        for _ in range(ROUNDS):
            for layout in self.settled_layouts:
                layout.activate()
            changed = [axis.settle() for axis in self.settled_axes]
            if not any(changed):
                break
        self.scene().prepareForPaint()

    def resizeEvent(self, ev: QResizeEvent) -> None:
        super().resizeEvent(ev)
        self.settle()
