"""The inspector's side column under the head grid: what the selected token attends to (a bar
chart), the model's alternatives at that position, and the what-if prefix row."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop.engine.api import Candidate
from s2s_desktop.gui.attention_heatmap import TokenAxis
from s2s_desktop.gui.contrast_view import AGAINST, FOR
from s2s_desktop.gui.plot_settle import SettlesAtOnce
from s2s_desktop.gui.steady_widgets import SteadyLabel

WEIGHT = (68, 119, 170)  # the bars of a distribution


class BarPlot(SettlesAtOnce, pg.PlotWidget):
    """The bar chart, laid out at once on a change (one paint per selection, not three or four)."""

    def __init__(self, axis: TokenAxis) -> None:
        super().__init__(axisItems={"bottom": axis}, background="w")
        self.settled_axes = (axis,)
        self.settled_layouts = (self.plotItem.layout,)


class TokenDetails(QWidget):
    alternative_chosen = Signal(int, str)  # target position, piece: decode again with it there
    contrast_requested = Signal(int, str)  # target position, piece: why the chosen one and not it
    redecode_requested = Signal(str)  # the prefix box's text
    reset_requested = Signal()

    def __init__(self, hint: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Two lines, whatever the text: a QLabel re-laid out the window on every selection.
        self.selected_label = SteadyLabel(hint, lines=2)
        self.bar_axis = TokenAxis("bottom")
        self.bars = BarPlot(self.bar_axis)
        self.bars.setMenuEnabled(False)
        self.bars.hideButtons()
        self.bars.setMouseEnabled(x=True, y=False)
        self.bar_item = pg.BarGraphItem(x=[], height=[], width=0.8, brush=WEIGHT)
        self.bars.addItem(self.bar_item)
        self.alternatives = QListWidget(toolTip="The model's most probable pieces at the selected position; "
                                                "double-click one to decode again from it")
        self.alternatives.itemDoubleClicked.connect(self._use_alternative)
        self.use_button = QPushButton("Decode with it", enabled=False,
                                      toolTip="Decode again with the chosen alternative at this position")
        self.use_button.clicked.connect(lambda: self._use_alternative(self.alternatives.currentItem()))
        self.why_button = QPushButton("Why not it?", enabled=False,
                                      toolTip="Which source words made the model choose its piece rather than "
                                              "the selected alternative (integrated gradients of the "
                                              "log-probability difference)")
        self.why_button.clicked.connect(self._ask_contrast)
        self.alternatives.currentItemChanged.connect(self._on_alternative_selected)
        self.chosen = ""  # the piece the shown hypothesis has at the selected position
        self.prefix_edit = QLineEdit(placeholderText="Forced output prefix (edit, then Re-decode)")
        self.prefix_edit.returnPressed.connect(lambda: self.redecode_requested.emit(self.prefix_edit.text()))
        self.redecode_button = QPushButton("Re-decode", toolTip="Decode again, forcing the output to start with the prefix")
        self.redecode_button.clicked.connect(lambda: self.redecode_requested.emit(self.prefix_edit.text()))
        self.reset_button = QPushButton("Reset", toolTip="Back to the free decode", enabled=False)
        self.reset_button.clicked.connect(self.reset_requested)

        self._y_axis(0.0, 1.0)
        self.bars.setMinimumHeight(90)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.selected_label)
        # The bars and the alternatives side by side: the head grid above needs the height.
        row = QHBoxLayout()
        row.addWidget(self.bars, 3)
        alternatives = QVBoxLayout()
        alternatives.addWidget(QLabel("Alternatives here"))
        alternatives.addWidget(self.alternatives, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.why_button)
        alternatives.addLayout(buttons)
        row.addLayout(alternatives, 2)
        layout.addLayout(row, 1)
        prefix_row = QHBoxLayout()
        prefix_row.addWidget(self.prefix_edit, 1)
        prefix_row.addWidget(self.redecode_button)
        prefix_row.addWidget(self.reset_button)
        layout.addLayout(prefix_row)

    def clear(self, text: str) -> None:
        """No selection: the hint, empty bars without another sentence's labels, no alternatives."""
        self.selected_label.setText(text)
        self.bar_axis.set_labels(())
        self.bar_item.setOpts(x=[], height=[])
        self.alternatives.clear()
        self.bars.settle()

    def show_weights(self, label_html: str, weights: np.ndarray, labels: tuple[str, ...]) -> None:
        self.selected_label.setText(label_html)
        self.bar_axis.set_labels(labels)
        self.bar_item.setOpts(x=np.arange(len(weights)) + 0.5, height=np.asarray(weights), width=0.8,
                              brush=WEIGHT, brushes=None)
        self._y_axis(0.0, 1.0)
        self.bars.setXRange(0, max(len(weights), 1), padding=0)
        self.bars.settle()

    def show_contrast(self, label_html: str, scores: np.ndarray, labels: tuple[str, ...]) -> None:
        """Signed bars: blue toward the chosen piece, red toward the alternative."""
        self.selected_label.setText(label_html)
        self.bar_axis.set_labels(labels)
        scores = np.asarray(scores, dtype=np.float64)
        self.bar_item.setOpts(x=np.arange(len(scores)) + 0.5, height=scores, width=0.8,
                              brushes=[FOR if v >= 0 else AGAINST for v in scores])
        extent = max(float(np.abs(scores).max()) if len(scores) else 0.0, 1e-6)
        self._y_axis(-extent, extent)
        self.bars.setXRange(0, max(len(scores), 1), padding=0)
        self.bars.settle()

    def _y_axis(self, lo: float, hi: float) -> None:
        self.bars.setYRange(lo, hi, padding=0.02)
        ticks = [(0, "0"), (0.5, "0.5"), (1, "1")] if lo == 0 else [(lo, f"{lo:.2f}"), (0, "0"), (hi, f"+{hi:.2f}")]
        self.bars.getAxis("left").setTicks([ticks])

    def show_alternatives(self, cand: Candidate, position: int) -> None:
        self.alternatives.clear()
        self.chosen = cand.tokens[position] if position < len(cand.tokens) else ""
        for tok, p in cand.alternatives(position) if cand.alt_tokens else []:
            item = QListWidgetItem(f"{tok}    {p:.3f}")
            item.setData(Qt.ItemDataRole.UserRole, (position, tok))
            self.alternatives.addItem(item)

    def _on_alternative_selected(self, item: QListWidgetItem | None, _previous=None) -> None:
        self.use_button.setEnabled(item is not None)
        # (no contrast of the chosen piece with itself)
        self.why_button.setEnabled(item is not None and item.data(Qt.ItemDataRole.UserRole)[1] != self.chosen)

    def _ask_contrast(self) -> None:
        item = self.alternatives.currentItem()
        if item is not None:
            self.contrast_requested.emit(*item.data(Qt.ItemDataRole.UserRole))

    def _use_alternative(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            self.alternative_chosen.emit(*item.data(Qt.ItemDataRole.UserRole))
