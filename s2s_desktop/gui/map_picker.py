"""Which attention map the inspector shows: the kind (the decoder's cross-attention over the source, or,
for a Transformer, the encoder's or the decoder's self-attention), the layer and the head, and the grid of
every layer x head to click.

It only offers the choices and reports the user's; the inspector keeps the current kind, layer and head
(and tells the picker what to show), so a choice made in code never echoes back as a user's choice.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from s2s_desktop.gui.attention_math import (
    CROSS,
    DECODER,
    ENCODER,
    IG_STEP_RANGE,
    IG_STEPS,
    INPUT_X_GRADIENT,
    INTEGRATED_GRADIENTS,
    KIND_LABELS,
    KIND_TIPS,
    MEAN_OF_HEADS,
    ROLLOUT,
    head_label,
)
from s2s_desktop.gui.head_grid import HeadGrid


class MapPicker(QWidget):
    kind_chosen = Signal(str)  # one of attention_math's kinds (CROSS, ENCODER, ..., ROLLOUT)
    layer_head_chosen = Signal(int, int)  # layer, head (MEAN_OF_HEADS: the mean of the heads)
    steps_chosen = Signal(int)  # integrated gradients' path steps

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid_of: object = None  # the attention array the grid draws
        self.kind_box = QComboBox(toolTip="Which attention the map shows: the decoder's over the source, or the "
                                          "encoder's or decoder's self-attention")
        self.offer_self_attention(False)
        self.layer_box = QComboBox(toolTip="Layer")
        self.head_box = QComboBox(toolTip="Attention head, or the mean of all heads")
        for box in (self.kind_box, self.layer_box, self.head_box):
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.steps_box = QSpinBox(minimum=IG_STEP_RANGE[0], maximum=IG_STEP_RANGE[1], value=IG_STEPS, singleStep=8,
                                  suffix=" steps", keyboardTracking=False, visible=False,
                                  toolTip="Integrated gradients: points on the path from a blank source (more: "
                                          "closer to the exact integral, slower; the time grows with them)")
        self.steps_box.valueChanged.connect(self.steps_chosen)
        self.grid_label = QLabel("click a map:", toolTip="Every layer (rows) and head (columns): click one to show it")
        self.grid = HeadGrid()

        self.kind_box.currentIndexChanged.connect(self._on_kind_index)
        self.layer_box.currentIndexChanged.connect(
            lambda i: self.layer_head_chosen.emit(self.layer_box.itemData(i), self.head_box.currentData()) if i >= 0
            else None)
        self.head_box.currentIndexChanged.connect(
            lambda i: self.layer_head_chosen.emit(self.layer_box.currentData(), self.head_box.itemData(i)) if i >= 0
            else None)
        self.grid.head_picked.connect(self.layer_head_chosen)

        picks = QHBoxLayout()
        for widget in (self.kind_box, self.steps_box, self.layer_box, self.head_box, self.grid_label):
            picks.addWidget(widget)
        picks.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(picks)
        layout.addWidget(self.grid, 1)

    def _on_kind_index(self, index: int) -> None:
        if index >= 0:
            kind = self.kind_box.itemData(index)
            self.steps_box.setVisible(kind == INTEGRATED_GRADIENTS)  # (fixed size: it moves nothing else)
            self.kind_chosen.emit(kind)

    def offer_self_attention(self, offered: bool) -> None:
        """The maps a model has: cross-attention and the gradient attributions for every model; the
        self-attentions and rollout only for those with self-attention (Transformers)."""
        kinds = [CROSS, *((ENCODER, DECODER) if offered else ()), INPUT_X_GRADIENT, INTEGRATED_GRADIENTS,
                 *((ROLLOUT,) if offered else ())]
        if [self.kind_box.itemData(i) for i in range(self.kind_box.count())] == kinds:
            return
        current = self.kind_box.currentData()
        self.kind_box.blockSignals(True)
        self.kind_box.clear()
        for kind in kinds:
            self.kind_box.addItem(KIND_LABELS[kind], kind)
            self.kind_box.setItemData(self.kind_box.count() - 1, KIND_TIPS[kind], Qt.ItemDataRole.ToolTipRole)
        self.kind_box.setCurrentIndex(max(self.kind_box.findData(current), 0))
        self.kind_box.blockSignals(False)

    def offered(self) -> list[str]:
        return [self.kind_box.itemData(i) for i in range(self.kind_box.count())]

    def select_kind(self, kind: str) -> None:
        """As if the user chose `kind` (reported by `kind_chosen` when it changes)."""
        self.kind_box.setCurrentIndex(max(self.kind_box.findData(kind), 0))

    def set_shape(self, layers: int, heads: int, layer: int, head: int) -> None:
        """The layers and heads of the map shown, with `layer` and `head` current; the pickers and the grid
        hide when there is only one map."""
        for box, items, current in ((self.layer_box, [(f"layer {i + 1}", i) for i in range(layers)], layer),
                                    (self.head_box, [(head_label(MEAN_OF_HEADS), MEAN_OF_HEADS)]
                                     + [(head_label(h), h) for h in range(heads)], head)):
            box.blockSignals(True)
            # Refilled only for a new shape: a refilled box re-lays out the window (see steady_widgets).
            if [(box.itemText(i), box.itemData(i)) for i in range(box.count())] != items:
                box.clear()
                for label, data in items:
                    box.addItem(label, data)
            box.setCurrentIndex(max(box.findData(current), 0))
            box.blockSignals(False)
        multi = layers * heads > 1
        for w in (self.layer_box, self.head_box, self.grid, self.grid_label):
            w.setVisible(multi)

    def mark(self, layer: int, head: int) -> None:
        """Show `layer`, `head` as current, without reporting it."""
        for box, value in ((self.layer_box, layer), (self.head_box, head)):
            box.blockSignals(True)
            box.setCurrentIndex(max(box.findData(value), 0))
            box.blockSignals(False)
        self.grid.mark(layer, head)

    def show_heads(self, att: np.ndarray, layer: int, head: int) -> None:
        """The grid's thumbnails of `att` [layers, heads, rows, cols]; redrawn only for a new array (a layer or
        head switch only moves the grid's marker)."""
        if att.ndim == 4 and att.shape[0] * att.shape[1] > 1 and att.size and self._grid_of is not att:
            self.grid.set_attention(att, (layer, head))
            self._grid_of = att
