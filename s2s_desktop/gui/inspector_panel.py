"""The attention inspector: the heatmap of one sentence, with layer/head pickers, a pieces/words
toggle, the distribution of the selected token, its alternatives, what-if re-decoding and export.

It shows a `ParagraphTranslation` given by the window and reports selections (so the window shades
the editors) and what-if requests (so the window asks the engine); it never calls the engine.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop.engine.api import Candidate, ParagraphTranslation, Translation
from s2s_desktop.engine.data.words import WORD_START, piece_to_word, word_groups
from s2s_desktop.gui.attention_export import EXPORT_FILTER, export_attention
from s2s_desktop.gui.attention_heatmap import AttentionHeatmap, HeadGrid, TokenAxis
from s2s_desktop.gui.attention_math import MEAN_OF_HEADS, AttentionView, attention_view, head_label, word_weights


class InspectorPanel(QWidget):
    # sentence, weight per source word, selected target word (-1 when the map shows another hypothesis)
    target_selected = Signal(int, object, int)
    # sentence, weight per target word of the best hypothesis (None for another hypothesis), source word
    source_selected = Signal(int, object, int)
    selection_cleared = Signal()
    redecode_requested = Signal(int, object)  # sentence, prefix (target pieces or text)
    reset_requested = Signal(int)  # sentence: back to the free decode
    export_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: ParagraphTranslation | None = None
        self.sentence = 0
        self.hypothesis = 0
        self.layer = 0
        self.head = MEAN_OF_HEADS
        self.view: AttentionView | None = None
        self.row: int | None = None
        self.col: int | None = None
        self._grid_of: Candidate | None = None

        self.sentence_box = QComboBox(toolTip="Which sentence of the text the map shows")
        self.hyp_box = QComboBox(toolTip="Which n-best hypothesis the map shows")
        self.layer_box = QComboBox(toolTip="Decoder layer (cross-attention)")
        self.head_box = QComboBox(toolTip="Attention head, or the mean of all heads")
        self.words_box = QCheckBox("Whole words", toolTip="Aggregate subword pieces into words")
        self.export_button = QToolButton(text="Export", popupMode=QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        for label, suffix in (("Map as PNG…", ".png"), ("Map as SVG…", ".svg"), ("Matrix as CSV…", ".csv"),
                              ("Matrix as JSON…", ".json")):
            menu.addAction(label, lambda s=suffix: self.ask_export(s))
        self.export_button.setMenu(menu)
        self.sentence_box.setMinimumContentsLength(12)
        self.sentence_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        controls = QHBoxLayout()
        self.layer_label, self.head_label = QLabel("Layer"), QLabel("Head")
        for label, widget in ((QLabel("Sentence"), self.sentence_box), (QLabel("Hypothesis"), self.hyp_box),
                              (self.layer_label, self.layer_box), (self.head_label, self.head_box)):
            controls.addWidget(label)
            controls.addWidget(widget)
        controls.addWidget(self.words_box)
        controls.addStretch(1)
        controls.addWidget(self.export_button)
        self.sentence_box.currentIndexChanged.connect(self._on_sentence_chosen)
        self.hyp_box.currentIndexChanged.connect(self._on_hypothesis_chosen)
        self.layer_box.currentIndexChanged.connect(self._on_layer_chosen)
        self.head_box.currentIndexChanged.connect(self._on_head_chosen)
        self.words_box.toggled.connect(lambda _: self._refresh(keep_selection=False))

        self.heatmap = AttentionHeatmap()
        self.heatmap.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.heatmap.installEventFilter(self)
        self.heatmap.cell_clicked.connect(self.select_cell)
        self.heatmap.row_clicked.connect(self.select_row)
        self.heatmap.column_clicked.connect(self.select_column)

        self.grid_label = QLabel("Layers × heads (click one)")
        self.grid = HeadGrid()
        self.grid.head_picked.connect(self.set_layer_head)
        self.selected_label = QLabel("Click a token (a row or a column of the map, or a word in either text).",
                                     wordWrap=True)
        self.bar_axis = TokenAxis("bottom")
        self.bars = pg.PlotWidget(axisItems={"bottom": self.bar_axis}, background="w")
        self.bars.setMenuEnabled(False)
        self.bars.hideButtons()
        self.bars.setMouseEnabled(x=True, y=False)
        self.bars.setYRange(0, 1, padding=0.02)
        self.bar_item = pg.BarGraphItem(x=[], height=[], width=0.8, brush=(68, 119, 170))
        self.bars.addItem(self.bar_item)
        self.alternatives = QListWidget(toolTip="The model's most probable pieces at the selected position; "
                                                "double-click one to decode again from it")
        self.alternatives.itemDoubleClicked.connect(self._use_alternative)
        self.use_button = QPushButton("Decode with this token", enabled=False)
        self.use_button.clicked.connect(lambda: self._use_alternative(self.alternatives.currentItem()))
        self.alternatives.currentItemChanged.connect(lambda item, _: self.use_button.setEnabled(item is not None))
        self.prefix_edit = QLineEdit(placeholderText="Forced output prefix (edit, then Re-decode)")
        self.prefix_edit.returnPressed.connect(self._redecode_from_text)
        self.redecode_button = QPushButton("Re-decode", toolTip="Decode again, forcing the output to start with the prefix")
        self.redecode_button.clicked.connect(self._redecode_from_text)
        self.reset_button = QPushButton("Reset", toolTip="Back to the free decode", enabled=False)
        self.reset_button.clicked.connect(lambda: self.reset_requested.emit(self.sentence))

        side = QWidget()
        sv = QVBoxLayout(side)
        sv.setContentsMargins(0, 0, 0, 0)
        sv.addWidget(self.grid_label)
        sv.addWidget(self.grid, 2)
        sv.addWidget(self.selected_label)
        sv.addWidget(self.bars, 2)
        sv.addWidget(QLabel("Alternatives at this position"))
        sv.addWidget(self.alternatives, 2)
        sv.addWidget(self.use_button)
        prefix_row = QHBoxLayout()
        prefix_row.addWidget(self.prefix_edit, 1)
        prefix_row.addWidget(self.redecode_button)
        prefix_row.addWidget(self.reset_button)
        sv.addLayout(prefix_row)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.heatmap)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.splitter, 1)
        self._set_enabled(False)

    # -- what is shown -----------------------------------------------------------------------------
    @property
    def translation(self) -> Translation | None:
        if self.result is None or not self.result.sentences:
            return None
        return self.result.sentences[min(self.sentence, len(self.result.sentences) - 1)]

    @property
    def candidate(self) -> Candidate | None:
        t = self.translation
        return None if t is None else t.nbest[min(self.hypothesis, len(t.nbest) - 1)] if t.nbest else t.best

    def set_result(self, result: ParagraphTranslation | None, sentence: int | None = None) -> None:
        """Show a new translation; keeps the sentence (when it still exists), layer and head."""
        self.result = result
        n = len(result.sentences) if result else 0
        self.sentence = min(self.sentence if sentence is None else sentence, max(n - 1, 0))
        self.sentence_box.blockSignals(True)
        self.sentence_box.clear()
        for i, t in enumerate(result.sentences if result else ()):
            self.sentence_box.addItem(f"{i + 1}: {t.source[:40]}{'…' if len(t.source) > 40 else ''}")
        self.sentence_box.setCurrentIndex(self.sentence)
        self.sentence_box.blockSignals(False)
        self._set_enabled(n > 0)
        self._fill_hypotheses()

    def _fill_hypotheses(self) -> None:
        t = self.translation
        self.hypothesis = 0
        self.hyp_box.blockSignals(True)
        self.hyp_box.clear()
        for i, cand in enumerate(t.nbest if t else ()):
            self.hyp_box.addItem(f"{i + 1} ({cand.score:.2f})", i)
        self.hyp_box.blockSignals(False)
        self._fill_layers()

    def _fill_layers(self) -> None:
        cand = self.candidate
        layers, heads = np.asarray(cand.attention).shape[:2] if cand is not None and np.asarray(cand.attention).ndim == 4 else (1, 1)
        self.layer = min(self.layer, layers - 1)
        if self.head != MEAN_OF_HEADS and self.head >= heads:
            self.head = MEAN_OF_HEADS
        for box, items, current in ((self.layer_box, [(f"layer {i + 1}", i) for i in range(layers)], self.layer),
                                    (self.head_box, [(head_label(MEAN_OF_HEADS), MEAN_OF_HEADS)]
                                     + [(head_label(h), h) for h in range(heads)], self.head)):
            box.blockSignals(True)
            box.clear()
            for label, data in items:
                box.addItem(label, data)
            box.setCurrentIndex(max(box.findData(current), 0))
            box.blockSignals(False)
        multi = layers * heads > 1
        for w in (self.layer_box, self.head_box, self.grid, self.grid_label, self.layer_label, self.head_label):
            w.setVisible(multi)
        self._refresh(keep_selection=False)

    def _refresh(self, keep_selection: bool = True) -> None:
        t, cand = self.translation, self.candidate
        if t is None or cand is None:
            self.view = None
            self.heatmap.set_matrix(np.zeros((0, 0)), (), ())
            self._show_selection()
            return
        row, col = self.row, self.col
        self.view = attention_view(t, cand, self.layer, self.head, self.words_box.isChecked())
        self.heatmap.set_matrix(self.view.matrix, self.view.target_labels, self.view.source_labels)
        att = np.asarray(cand.attention)
        if att.ndim == 4 and att.shape[0] * att.shape[1] > 1 and att.size and self._grid_of is not cand:
            self.grid.set_attention(att, (self.layer, self.head))
            self._grid_of = cand  # layer/head switches only move the grid's marker
        forced = cand.prefix_length
        self.reset_button.setEnabled(forced > 0)
        if keep_selection:
            self.row, self.col = row, col
        else:
            self.row = self.col = None
        self._show_selection()

    # -- selectors ---------------------------------------------------------------------------------
    def _on_sentence_chosen(self, index: int) -> None:
        if index >= 0 and index != self.sentence:
            self.sentence = index
            self._fill_hypotheses()

    def _on_hypothesis_chosen(self, index: int) -> None:
        if index >= 0:
            self.hypothesis = index
            self._fill_layers()

    def _on_layer_chosen(self, index: int) -> None:
        if index >= 0:
            self.set_layer_head(self.layer_box.itemData(index), self.head)

    def _on_head_chosen(self, index: int) -> None:
        if index >= 0:
            self.set_layer_head(self.layer, self.head_box.itemData(index))

    def set_layer_head(self, layer: int, head: int) -> None:
        self.layer, self.head = layer, head
        for box, value in ((self.layer_box, layer), (self.head_box, head)):
            box.blockSignals(True)
            box.setCurrentIndex(max(box.findData(value), 0))
            box.blockSignals(False)
        self.grid.mark(layer, head)
        self._refresh(keep_selection=True)

    def show_sentence(self, sentence: int) -> None:
        if self.result is not None and 0 <= sentence < len(self.result.sentences) and sentence != self.sentence:
            self.sentence_box.setCurrentIndex(sentence)

    # -- selection ---------------------------------------------------------------------------------
    def select_cell(self, row: int, col: int) -> None:
        self.row, self.col = row, None  # a cell click selects its target token (the row)
        self._show_selection(clicked_col=col)

    def select_row(self, row: int | None) -> None:
        self.row, self.col = row, None
        self._show_selection()

    def select_column(self, col: int | None) -> None:
        self.row, self.col = None, col
        self._show_selection()

    def clear_selection(self) -> None:
        self.row = self.col = None
        self._show_selection()

    def select_target_word(self, sentence: int, word: int) -> None:
        """From the output text: select the row of that word (its first piece in pieces mode)."""
        self.show_sentence(sentence)
        if self.view is None or self.hypothesis != 0:
            return
        self.select_row(self._unit_of_word(self.view.target_groups, self.candidate.tokens, word))

    def select_source_word(self, sentence: int, word: int) -> None:
        self.show_sentence(sentence)
        if self.view is None:
            return
        self.select_column(self._unit_of_word(self.view.source_groups, self.translation.source_tokens, word))

    def _unit_of_word(self, groups, tokens, word: int) -> int | None:
        if self.view.words:
            return word if 0 <= word < len(groups) else None
        wg = word_groups(tokens)
        return wg[word][0] if 0 <= word < len(wg) else None

    def _show_selection(self, clicked_col: int | None = None) -> None:
        view, t, cand = self.view, self.translation, self.candidate
        self.heatmap.select(self.row, self.col if clicked_col is None else clicked_col)
        self.alternatives.clear()
        if view is None or (self.row is None and self.col is None):
            self.selected_label.setText("Click a token (a row or a column of the map, or a word in either text).")
            self.bar_item.setOpts(x=[], height=[])
            self.selection_cleared.emit()
            return
        src_words = word_groups(t.source_tokens)
        tgt_words = word_groups(cand.tokens)
        if self.row is not None:
            row = view.matrix[self.row]
            self.selected_label.setText(f"Target <b>{html.escape(view.target_labels[self.row])}</b> attends to:")
            self._show_bars(row, view.source_labels)
            first_piece = view.target_groups[self.row][0]
            for tok, p in cand.alternatives(first_piece) if cand.alt_tokens else []:
                item = QListWidgetItem(f"{tok}    {p:.3f}")
                item.setData(Qt.ItemDataRole.UserRole, (first_piece, tok))
                self.alternatives.addItem(item)
            self.prefix_edit.setText(_pieces_text(cand.tokens[:first_piece]))
            per_word = word_weights(row, view.source_groups, src_words, len(t.source_tokens))
            word = int(piece_to_word(tgt_words, len(cand.tokens))[first_piece])
            self.target_selected.emit(self.sentence, per_word, word if self.hypothesis == 0 else -1)
        else:
            col = view.matrix[:, self.col]
            self.selected_label.setText(f"Source <b>{html.escape(view.source_labels[self.col])}</b> is attended by:")
            self._show_bars(col, view.target_labels)
            per_word = word_weights(col, view.target_groups, tgt_words, len(cand.tokens), mean=True)
            first_piece = view.source_groups[self.col][0]
            word = int(piece_to_word(src_words, len(t.source_tokens))[first_piece])
            self.source_selected.emit(self.sentence, per_word if self.hypothesis == 0 else None, word)

    def _show_bars(self, weights: np.ndarray, labels: tuple[str, ...]) -> None:
        self.bar_axis.set_labels(labels)
        self.bar_item.setOpts(x=np.arange(len(weights)) + 0.5, height=np.asarray(weights), width=0.8)
        self.bars.setXRange(0, max(len(weights), 1), padding=0)

    # -- what-if -----------------------------------------------------------------------------------
    def _use_alternative(self, item: QListWidgetItem | None) -> None:
        cand = self.candidate
        if item is None or cand is None:
            return
        position, token = item.data(Qt.ItemDataRole.UserRole)
        self.redecode_requested.emit(self.sentence, [*cand.tokens[:position], token])

    def _redecode_from_text(self) -> None:
        if self.translation is not None:
            self.redecode_requested.emit(self.sentence, self.prefix_edit.text())

    # -- keyboard ----------------------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.heatmap and event.type() == QEvent.Type.KeyPress and self.handle_key(event):
            return True
        return super().eventFilter(obj, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self.handle_key(event):
            super().keyPressEvent(event)

    def handle_key(self, event: QKeyEvent) -> bool:
        """Up/down move the target selection, left/right the source selection, Esc clears."""
        if self.view is None:
            return False
        rows, cols = self.view.matrix.shape
        key = event.key()
        if key == Qt.Key.Key_Escape:
            self.clear_selection()
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Down) and rows:
            step = -1 if key == Qt.Key.Key_Up else 1
            self.select_row(min(max((self.row if self.row is not None else -step) + step, 0), rows - 1))
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right) and cols:
            step = -1 if key == Qt.Key.Key_Left else 1
            self.select_column(min(max((self.col if self.col is not None else -step) + step, 0), cols - 1))
        else:
            return False
        return True

    # -- export ------------------------------------------------------------------------------------
    def ask_export(self, suffix: str) -> None:
        if self.view is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export the attention map", f"attention{suffix}", EXPORT_FILTER)
        if path:
            try:
                self.export(path)
            except (OSError, ValueError) as exc:
                self.export_failed.emit(f"Could not export the attention map to {path}: {exc}")

    def export(self, path: str) -> None:
        """Write the map (.png, .svg) or the matrix with its tokens (.csv, .json); raises OSError."""
        export_attention(path, self.heatmap, self.view, self.translation.source, self.candidate.text)

    def _set_enabled(self, enabled: bool) -> None:
        for w in (self.sentence_box, self.hyp_box, self.layer_box, self.head_box, self.words_box,
                  self.export_button, self.prefix_edit, self.redecode_button):
            w.setEnabled(enabled)


def _pieces_text(pieces) -> str:
    return "".join(pieces).replace(WORD_START, " ").strip()
