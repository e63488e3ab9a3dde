"""The attention inspector: the heatmap of one sentence, with layer/head pickers, a pieces/words
toggle, the distribution of the selected token, its alternatives, what-if re-decoding and export.
For a Transformer it also shows the encoder's and the decoder's self-attention next to the
cross-attention (BertViz's views), asked of the engine when first shown.

It shows a `ParagraphTranslation` given by the window and reports selections (so the window shades
the editors), what-if requests and self-attention requests (so the window asks the engine); it never
calls the engine.
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop.engine.api import Candidate, Contrast, Explanation, ParagraphTranslation, SelfAttention, Translation
from s2s_desktop.engine.data.words import WORD_START, piece_to_word, word_groups
from s2s_desktop.engine.formats.atomic import atomic_write
from s2s_desktop.gui.attention_export import export_attention
from s2s_desktop.gui.attention_heatmap import AttentionHeatmap
from s2s_desktop.gui.attention_math import (
    ATTRIBUTIONS,
    CROSS,
    DECODER,
    ENCODER,
    IG_STEPS,
    INPUT_X_GRADIENT,
    INTEGRATED_GRADIENTS,
    KIND_HINTS,
    MEAN_OF_HEADS,
    ONE_HEAD_HINT,
    ROLLOUT,
    TARGET_BY_SOURCE,
    AttentionView,
    alignment_links,
    attention_view,
    link_shading,
    to_pharaoh,
)
from s2s_desktop.gui.contrast_view import (
    CONTRAST_HINT,
    ContrastView,
    contrast_view,
    export_contrast,
    piece_text,
    reading,
)
from s2s_desktop.gui.map_picker import MapPicker
from s2s_desktop.gui.picture_file import ask_and_export
from s2s_desktop.gui.steady_widgets import SteadyLabel, fix_combo_size
from s2s_desktop.gui.token_details import TokenDetails

HINT = "Click a token (a row or a column of the map, or a word in either text)."
PENDING = {ENCODER: "Computing the self-attention of this translation…",
           DECODER: "Computing the self-attention of this translation…",
           INPUT_X_GRADIENT: "Computing input × gradient (one backward pass per output token)…",
           INTEGRATED_GRADIENTS: "Computing integrated gradients ({steps} steps: a few seconds)…",
           ROLLOUT: "Computing the attention rollout…"}


class InspectorPanel(QWidget):
    # sentence, weight per source word, selected target word (-1: none, or the map shows another hypothesis)
    target_selected = Signal(int, object, int)
    # sentence, weight per target word of the best hypothesis (None for another hypothesis), source word (-1: none)
    source_selected = Signal(int, object, int)
    selection_cleared = Signal()
    redecode_requested = Signal(int, object)  # sentence, prefix (target pieces or text)
    reset_requested = Signal(int)  # sentence: back to the free decode
    self_attention_requested = Signal(object, str, object)  # key, source, target pieces
    # key, method, source, target pieces, first row (or None), integrated gradients' steps
    explain_requested = Signal(object, str, str, object, object, int)
    contrast_requested = Signal(object, str, object, int, str)  # key, source, target pieces, position, alternative
    export_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: ParagraphTranslation | None = None
        self.sentence = 0
        self.hypothesis = 0
        self.layer = 0
        self.head = MEAN_OF_HEADS
        self.kind = CROSS
        self.steps = IG_STEPS  # integrated gradients' path steps (the picker's step box)
        self.view: AttentionView | None = None
        self.row: int | None = None
        self.col: int | None = None
        self.model_name = ""
        self.transformer = False
        self.self_attention: dict[tuple, SelfAttention] = {}  # (source, target pieces) -> its self-attention
        self.explanations: dict[tuple, Explanation] = {}  # (source, target pieces, method) -> its attribution
        self._asked: set[tuple] = set()
        self.contrast: ContrastView | None = None  # what the bars show instead of the row's weights
        self._asked_contrast: tuple | None = None  # (key, position, alternative) being computed
        self._keep_piece: int | None = None  # the target piece selected before another map was chosen
        self._previous_model = False  # the translation shown was made by the model open before this one

        self.sentence_box = QComboBox(toolTip="Which sentence of the text the map shows")
        self.hyp_box = QComboBox(toolTip="Which n-best hypothesis the map shows")
        self.picker = MapPicker()  # which map: attention kind, layer, head, and the grid of them all
        p = self.picker
        self.kind_box, self.layer_box, self.head_box, self.grid_label, self.grid = (
            p.kind_box, p.layer_box, p.head_box, p.grid_label, p.grid)
        self.words_box = QCheckBox("Whole words", toolTip="Aggregate subword pieces into words")
        self.export_button = QToolButton(text="Export", popupMode=QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        for label, suffix in (("Map as PNG…", ".png"), ("Map as SVG…", ".svg"), ("Matrix as CSV…", ".csv"),
                              ("Matrix as JSON…", ".json")):
            menu.addAction(label, lambda s=suffix: self.ask_export(s))
        menu.addSeparator()
        menu.addAction("Word alignment (Pharaoh)…", self.ask_export_alignment)
        menu.addSeparator()
        self.contrast_actions = [menu.addAction(label, lambda s=suffix: self.ask_export_contrast(s))
                                 for label, suffix in (("Contrast as PNG…", ".png"), ("Contrast as SVG…", ".svg"),
                                                       ("Contrast as CSV…", ".csv"), ("Contrast as JSON…", ".json"))]
        for action in self.contrast_actions:
            action.setEnabled(False)
        self.export_button.setMenu(menu)
        # What the text is (sentence, hypothesis) above everything; which map (attention, layer, head)
        # above the head grid: one row for all would not fit the default window beside the model panel.
        # Both are refilled per translation; sized once, so that never re-lays out the window.
        self.sentence_box.setMinimumContentsLength(8)
        self.sentence_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.sentence_box.setFixedSize(self.sentence_box.sizeHint())
        fix_combo_size(self.hyp_box, ["hypothesis 88 (-888.88)"])
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Sentence"))
        controls.addWidget(self.sentence_box)
        controls.addWidget(self.hyp_box)
        controls.addWidget(self.words_box)
        controls.addStretch(1)
        controls.addWidget(self.export_button)
        self.sentence_box.currentIndexChanged.connect(self._on_sentence_chosen)
        self.hyp_box.currentIndexChanged.connect(self._on_hypothesis_chosen)
        p.kind_chosen.connect(self._on_kind_chosen)
        p.layer_head_chosen.connect(self.set_layer_head)
        p.steps_chosen.connect(self.set_steps)
        self.words_box.toggled.connect(lambda _: self._refresh(keep_selection=False))

        self.heatmap = AttentionHeatmap()
        self.heatmap.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.heatmap.installEventFilter(self)
        self.heatmap.cell_clicked.connect(self.select_cell)
        self.heatmap.row_clicked.connect(self.select_row)
        self.heatmap.column_clicked.connect(self.select_column)

        self.details = TokenDetails(HINT)
        d = self.details
        d.alternative_chosen.connect(self._use_alternative)
        d.contrast_requested.connect(self._ask_contrast)
        d.redecode_requested.connect(self._redecode_from_text)
        d.reset_requested.connect(lambda: self.reset_requested.emit(self.sentence))
        # Its parts, by the names the window and the tests use.
        self.selected_label, self.bar_axis, self.bar_item = d.selected_label, d.bar_axis, d.bar_item
        self.alternatives, self.use_button, self.prefix_edit = d.alternatives, d.use_button, d.prefix_edit
        self.why_button = d.why_button
        self.redecode_button, self.reset_button = d.redecode_button, d.reset_button

        side = QSplitter(Qt.Orientation.Vertical)  # the user can trade grid height for the details
        side.addWidget(self.picker)
        side.addWidget(self.details)
        side.setStretchFactor(0, 3)
        side.setStretchFactor(1, 2)
        side.setChildrenCollapsible(False)
        self.side = side
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.heatmap)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 4)
        self._auto_split = True
        self._grid_shown = True  # the side column's split was made for a head grid
        self._grid_sizes: list[int] | None = None
        self.splitter.splitterMoved.connect(self._stop_auto_split)
        self.side.splitterMoved.connect(self._stop_auto_split)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.splitter, 1)
        # Where the map shown is easy to misread, one line says how (SteadyLabel: changing it moves nothing).
        self.hint_label = SteadyLabel(KIND_HINTS[CROSS], lines=1)
        palette = self.hint_label.palette()
        palette.setColor(QPalette.ColorRole.WindowText, QColor(100, 100, 100))
        self.hint_label.setPalette(palette)
        layout.addWidget(self.hint_label)
        self._set_enabled(False)

    def resizeEvent(self, event) -> None:
        """Until the user drags a splitter: the width 5:4 between the map and the side column, the
        side's height 3:2 between the head grid and the token details (splitters start from size
        hints, which gave the map a third)."""
        super().resizeEvent(event)
        if self._auto_split:
            width, height = max(self.splitter.width(), 400), max(self.side.height(), 200)
            self.splitter.setSizes([width * 5 // 9, width * 4 // 9])
            self._grid_sizes = [height * 3 // 5, height * 2 // 5]
            if self._grid_shown:
                self.side.setSizes(self._grid_sizes)
            else:
                top = self.picker.kind_box.sizeHint().height() + 4
                self.side.setSizes([top, max(height - top, 0)])

    def _stop_auto_split(self) -> None:
        self._auto_split = False

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

    def set_model(self, name: str, self_attention: bool) -> None:
        """A model was opened: forget what belonged to the previous one (its self-attention, a typed
        prefix); `self_attention` says whether this one has any (Transformers)."""
        self.model_name = name
        self.transformer = self_attention
        self.self_attention.clear()
        self.explanations.clear()
        self._asked.clear()  # (and a request for the previous model's map is never sent: see the window)
        # The translation shown is the previous model's until the new one's arrives: nothing is asked of
        # the new model about it (its tokens may not even be in the new vocabulary).
        self._previous_model = self.result is not None
        self.prefix_edit.clear()
        self.picker.offer_self_attention(self_attention)
        if self.kind not in self.picker.offered():
            self.kind = CROSS  # back to the cross-attention
            self.picker.select_kind(CROSS)

    def set_result(self, result: ParagraphTranslation | None, sentence: int | None = None) -> None:
        """Show a new translation; keeps the sentence (when it still exists), layer and head."""
        self.result = result
        self._previous_model = False
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

    def show_hypothesis(self, sentence: int, index: int) -> None:
        """Show hypothesis `index` of `sentence` (the n-best list's selection)."""
        self.show_sentence(sentence)
        if self.translation is not None and 0 <= index < len(self.translation.nbest) and index != self.hypothesis:
            self.hyp_box.setCurrentIndex(index)

    def _fill_hypotheses(self, hypothesis: int = 0) -> None:
        t = self.translation
        self._keep_piece = None
        self.hypothesis = hypothesis
        self.hyp_box.blockSignals(True)
        self.hyp_box.clear()
        for i, cand in enumerate(t.nbest if t else ()):
            self.hyp_box.addItem(f"hypothesis {i + 1} ({cand.score:.2f})", i)
        self.hyp_box.setCurrentIndex(hypothesis)
        self.hyp_box.blockSignals(False)
        self._fill_layers()

    def _key(self) -> tuple | None:
        t, cand = self.translation, self.candidate
        return None if t is None or cand is None else (t.source, tuple(cand.tokens))

    def _attention(self) -> np.ndarray | None:
        """[L, H, rows, cols] of the chosen kind for the shown candidate; None while it is computed."""
        cand = self.candidate
        if cand is None:
            return None
        if self.kind == CROSS:
            return np.asarray(cand.attention)
        key = self._key()
        if self.kind in ATTRIBUTIONS:
            explained = self.explanations.get((*key, self.kind))
            if explained is not None and self.kind == INTEGRATED_GRADIENTS and explained.steps != self.steps:
                explained = None  # (computed with other steps: asked again)
            if explained is None:
                if (*key, self.kind) not in self._asked and not self._previous_model:
                    self._asked.add((*key, self.kind))
                    self.explain_requested.emit(key, self.kind, self.translation.source, tuple(cand.tokens),
                                                self._keep_piece, self.steps)
                return None
            return np.asarray(explained.scores)[None, None]
        found = self.self_attention.get(key)
        if found is None:
            if key not in self._asked and not self._previous_model:
                self._asked.add(key)
                self.self_attention_requested.emit(key, self.translation.source, tuple(cand.tokens))
            return None
        return np.asarray(found.encoder if self.kind == ENCODER else found.decoder)

    def _extra(self):
        """What `attention_view` needs beside the candidate for the shown kind."""
        key = self._key()
        if self.kind in ATTRIBUTIONS:
            return self.explanations.get((*key, self.kind))
        return self.self_attention.get(key)

    def set_self_attention(self, key: tuple, result: SelfAttention) -> None:
        """The engine's answer to `self_attention_requested`."""
        self._asked.discard(key)
        self.self_attention[key] = result
        if key == self._key() and self.kind in (ENCODER, DECODER):
            self._fill_layers()

    def request_failed(self, message: str) -> None:
        """The engine could not answer: say so where the map would be, and ask again when next shown
        (a request left marked as asked waited forever)."""
        self._asked.clear()
        self._asked_contrast = None
        self.selected_label.setText(message)

    def set_explanation(self, key: tuple, method: str, result: Explanation | None) -> None:
        """The engine's answer to `explain_requested`: a partial map while a slow one grows (shown as it
        comes, the selected row first), the whole, or None when a newer request cancelled it (asked
        again when next shown)."""
        if result is not None and method == INTEGRATED_GRADIENTS and result.steps != self.steps:
            if result.complete:
                self._asked.discard((*key, method))
            return  # (asked with steps the user has since changed)
        shown = key == self._key() and self.kind == method
        if result is None or result.complete:
            self._asked.discard((*key, method))
        if result is None:
            found = self.explanations.get((*key, method))
            if found is not None and not found.complete:
                del self.explanations[(*key, method)]  # (a partial map would stay partial)
            return
        had = self.explanations.get((*key, method)) is not None
        self.explanations[(*key, method)] = result
        if not shown:
            return
        if not had:
            self._fill_layers()
        elif not result.complete and self.view is not None:
            self._grow_map()
        else:
            self._refresh(keep_selection=True)

    def _grow_map(self) -> None:
        """More rows of a growing map: only the map and the hint change (the selected row came first and
        is final; refreshing the details, the links and the editors' shading too stalled the UI)."""
        self.view = attention_view(self.translation, self.candidate, self.layer, self.head,
                                   self.words_box.isChecked(), self.kind, self._extra())
        self.heatmap.set_matrix(self.view.matrix, self.view.target_labels, self.view.source_labels)
        self.heatmap.select(self.row, self.col)
        self.hint_label.setText(self._hint(np.asarray(self.view.matrix)[None, None]))


    def _fill_layers(self) -> None:
        cand = self.candidate
        # What the forced-prefix box offers belongs to the shown hypothesis: the prefix it was forced
        # with, or nothing (never the previous sentence's or model's text).
        self.prefix_edit.setText(_pieces_text(cand.tokens[: cand.prefix_length]) if cand is not None else "")
        att = self._attention()
        layers, heads = att.shape[:2] if att is not None and att.ndim == 4 else (1, 1)
        self.layer = min(self.layer, layers - 1)
        if self.head != MEAN_OF_HEADS and self.head >= heads:
            self.head = MEAN_OF_HEADS
        self.picker.set_shape(layers, heads, self.layer, self.head)
        self._fit_side(layers * heads > 1)
        self._refresh(keep_selection=False)

    def _fit_side(self, grid: bool) -> None:
        """A single map has no head grid: the token details take its height (it stood empty), and get
        it back, as the user left it, when a map with heads returns."""
        if grid == self._grid_shown:
            return
        self._grid_shown = grid
        total = sum(self.side.sizes())
        if not grid:
            self._grid_sizes = self.side.sizes()
            top = self.picker.kind_box.sizeHint().height() + 4
            self.side.setSizes([top, max(total - top, 0)])
        elif self._grid_sizes is not None:
            self.side.setSizes(self._grid_sizes)

    def _refresh(self, keep_selection: bool = True) -> None:
        t, cand = self.translation, self.candidate
        att = self._attention()
        if t is None or cand is None or att is None:
            self.view = None
            if att is None and cand is not None and self.kind in ATTRIBUTIONS:
                # Being computed: an empty map under the same labels (rows and columns are this
                # translation's pieces), so its arrival repaints the cells only, not both axes.
                shape = attention_view(t, cand, 0, MEAN_OF_HEADS, self.words_box.isChecked())
                self.heatmap.set_matrix(np.zeros_like(shape.matrix), shape.target_labels, shape.source_labels)
            else:
                self.heatmap.set_matrix(np.zeros((0, 0)), (), ())
            self.row = self.col = None
            self._show_selection()
            if att is None and cand is not None:
                self.selected_label.setText(PENDING.get(self.kind, PENDING[ENCODER]).format(steps=self.steps))
            return
        row, col = self.row, self.col
        self.view = attention_view(t, cand, self.layer, self.head, self.words_box.isChecked(), self.kind,
                                   self._extra())
        self.hint_label.setText(self._hint(att))
        self.heatmap.set_matrix(self.view.matrix, self.view.target_labels, self.view.source_labels)
        self.picker.show_heads(att, self.layer, self.head)
        self.reset_button.setEnabled(cand.prefix_length > 0)
        if keep_selection:
            self.row, self.col = row, col
        else:
            self._drop_contrast()
            self.row = self.col = None
            if self._keep_piece is not None and self.view.kind != ENCODER:
                self.row = next((r for r, g in enumerate(self.view.target_groups) if self._keep_piece in g), None)
                self._keep_piece = None
        self._show_selection()

    def _hint(self, att: np.ndarray) -> str:
        """How the map shown is easy to misread, or how far a growing one has come."""
        growing = self.explanations.get((*self._key(), self.kind)) if self.kind in ATTRIBUTIONS else None
        if growing is not None and not growing.complete:
            return (f"Computing: {growing.rows_done} of {len(self.candidate.tokens)} output pieces so far (the "
                    f"selected one first); the other rows are still empty.")
        return (ONE_HEAD_HINT if self.kind == CROSS and self.head != MEAN_OF_HEADS and att.shape[1] > 1 else
                KIND_HINTS[self.kind])

    # -- selectors ---------------------------------------------------------------------------------
    def _on_sentence_chosen(self, index: int) -> None:
        if index >= 0 and index != self.sentence:
            self.sentence = index
            self._fill_hypotheses()

    def _on_hypothesis_chosen(self, index: int) -> None:
        if index >= 0:
            self.hypothesis = index
            self._keep_piece = None
            self._fill_layers()

    def _on_kind_chosen(self, kind: str) -> None:
        """Another map: the target token selected stays selected where the new map has target rows (and
        a slow attribution computes its row first)."""
        self._keep_piece = self._selected_piece()
        self.kind = kind
        self._fill_layers()

    def _selected_piece(self) -> int | None:
        """The first target piece of the selected row (None: no row, or the map has no target rows)."""
        view = self.view
        if view is None or self.row is None or view.kind == ENCODER:
            return None
        return view.target_groups[self.row][0]

    def set_kind(self, kind: str) -> None:
        self.picker.select_kind(kind)

    def set_steps(self, steps: int) -> None:
        """Integrated gradients with `steps` path points: the map is asked again (the selected row first)."""
        if steps == self.steps:
            return
        self.steps = steps
        if self.picker.steps_box.value() != steps:
            self.picker.steps_box.blockSignals(True)
            self.picker.steps_box.setValue(steps)
            self.picker.steps_box.blockSignals(False)
        self._asked = {k for k in self._asked if k[-1] != INTEGRATED_GRADIENTS}
        if self.kind == INTEGRATED_GRADIENTS:
            self._keep_piece = self._selected_piece() if self.view is not None else self._keep_piece
            self._fill_layers()

    def set_layer_head(self, layer: int, head: int) -> None:
        self.layer, self.head = layer, head
        self.picker.mark(layer, head)
        self._refresh(keep_selection=True)

    def show_sentence(self, sentence: int) -> None:
        if self.result is not None and 0 <= sentence < len(self.result.sentences) and sentence != self.sentence:
            self.sentence_box.setCurrentIndex(sentence)

    # -- selection ---------------------------------------------------------------------------------
    def select_cell(self, row: int, col: int) -> None:
        self._drop_contrast()
        self.row, self.col = row, None  # a cell click selects its row's token
        self._show_selection(clicked_col=col)

    def select_row(self, row: int | None) -> None:
        self._drop_contrast()
        self.row, self.col = row, None
        self._show_selection()

    def select_column(self, col: int | None) -> None:
        self._drop_contrast()
        self.row, self.col = None, col
        self._show_selection()

    def clear_selection(self) -> None:
        self._drop_contrast()
        self.row = self.col = None
        self._show_selection()

    def select_target_word(self, sentence: int, word: int) -> None:
        """From the output text: select the row of that word (its first piece in pieces mode)."""
        self.show_sentence(sentence)
        if self.view is None or self.hypothesis != 0 or self.view.kind == ENCODER:
            return
        self.select_row(self._unit_of_word(self.view.target_groups, self.candidate.tokens, word))

    def select_source_word(self, sentence: int, word: int) -> None:
        self.show_sentence(sentence)
        if self.view is None or self.view.kind == DECODER:
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
        if view is None or (self.row is None and self.col is None):
            self.details.clear(HINT)  # (no labels of another sentence under empty bars)
            self.selection_cleared.emit()
            return
        self.alternatives.clear()
        side, weights = link_shading(view, t, cand, self.row, self.col)
        if self.row is not None:
            label = html.escape(view.target_labels[self.row])
            what = {ENCODER: "Source"}.get(view.kind, "Target")
            also = " (the output before it)" if view.kind == DECODER else ""
            verb = "draws on" if view.kind in ATTRIBUTIONS else "attends to"  # a gradient is not attention
            sure = _certainty(cand, view.target_groups[self.row][0]) if view.kind != ENCODER else ""
            self.details.show_weights(f"{what} <b>{label}</b>{sure} {verb}{also}:", view.matrix[self.row],
                                      view.source_labels)
        else:
            label = html.escape(view.source_labels[self.col])
            what = {DECODER: "Output"}.get(view.kind, "Source")
            self.details.show_weights(f"{what} <b>{label}</b> is attended by:", view.matrix[:, self.col],
                                      view.target_labels)
        marked = -1
        if self.row is not None and view.kind != ENCODER:
            first_piece = view.target_groups[self.row][0]
            self.details.show_alternatives(cand, first_piece)
            self.prefix_edit.setText(_pieces_text(cand.tokens[:first_piece]))
            if view.kind in TARGET_BY_SOURCE and self.hypothesis == 0:
                marked = int(piece_to_word(word_groups(cand.tokens), len(cand.tokens))[first_piece])
        elif self.col is not None and view.kind in TARGET_BY_SOURCE:
            first_piece = view.source_groups[self.col][0]
            marked = int(piece_to_word(word_groups(t.source_tokens), len(t.source_tokens))[first_piece])
        if side == "source":
            self.target_selected.emit(self.sentence, weights, marked)
        else:
            self.source_selected.emit(self.sentence, weights if self.hypothesis == 0 else None, marked)
        if self.contrast is not None:  # (a map refreshed under it: it still holds)
            self.details.show_contrast(reading(self.contrast), self.contrast.scores, self.contrast.labels)

    # -- why this and not that ---------------------------------------------------------------------
    def _ask_contrast(self, position: int, alternative: str) -> None:
        key, cand = self._key(), self.candidate
        if key is None or self._previous_model:
            return
        self._drop_contrast()
        self._asked_contrast = (key, position, alternative)
        self.selected_label.setText(
            f"Asking why <b>{html.escape(piece_text(cand.tokens[position]))}</b> and not "
            f"<b>{html.escape(piece_text(alternative))}</b> (integrated gradients, {IG_STEPS} steps)…")
        self.contrast_requested.emit(key, self.translation.source, tuple(cand.tokens), position, alternative)

    def set_contrast(self, key: tuple, result: Contrast) -> None:
        """The engine's answer to `contrast_requested`, shown in the bars if the user is still there."""
        if self._asked_contrast != (key, result.position, result.alternative):
            return
        self._asked_contrast = None
        self.contrast = contrast_view(result, self.translation.source_tokens, self.words_box.isChecked())
        self.details.show_contrast(reading(self.contrast), self.contrast.scores, self.contrast.labels)
        self.hint_label.setText(CONTRAST_HINT)
        for action in self.contrast_actions:
            action.setEnabled(True)

    def _drop_contrast(self) -> None:
        self.contrast = None
        self._asked_contrast = None
        for action in self.contrast_actions:
            action.setEnabled(False)

    # -- what-if -----------------------------------------------------------------------------------
    def _use_alternative(self, position: int, token: str) -> None:
        cand = self.candidate
        if cand is not None:
            self.redecode_requested.emit(self.sentence, [*cand.tokens[:position], token])

    def _redecode_from_text(self, text: str) -> None:
        if self.translation is not None:
            self.redecode_requested.emit(self.sentence, text)

    # -- keyboard ----------------------------------------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.heatmap and event.type() == QEvent.Type.KeyPress and self.handle_key(event):
            return True
        return super().eventFilter(obj, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self.handle_key(event):
            super().keyPressEvent(event)

    def handle_key(self, event: QKeyEvent) -> bool:
        """Up/down move the row selection, left/right the column selection, Esc clears."""
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
        if self.view is not None:
            ask_and_export(self, "the attention map", f"attention{suffix}", self.export, self.export_failed.emit)

    def ask_export_alignment(self) -> None:
        if self.result is None or not self.result.sentences:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export the word alignment", "alignment.txt",
                                              "Pharaoh links (*.txt);;All files (*)")
        if path:
            try:
                self.export_alignment(path)
            except OSError as exc:
                self.export_failed.emit(f"Could not export the word alignment to {path}: {exc.strerror or exc}")

    def export_alignment(self, path: str) -> None:
        """One line of Pharaoh links ("i-j": source word i, target word j) per sentence of the text, for
        its best translation, read from the cross-attention as `s2s align` does; raises OSError."""
        lines = [to_pharaoh(alignment_links(t, t.best, self.transformer)) for t in self.result.sentences]
        atomic_write(path, "".join(line + "\n" for line in lines).encode("utf-8"), error=None)

    def ask_export_contrast(self, suffix: str) -> None:
        if self.contrast is not None:
            ask_and_export(self, "the contrast", f"contrast{suffix}", self.export_contrast, self.export_failed.emit)

    def export_contrast(self, path: str) -> None:
        """The contrast shown: its bar chart (.png, .svg) or its scores (.csv, .json); raises OSError."""
        export_contrast(path, self.contrast, self.translation.source, self.candidate.text, self.model_name)

    def export(self, path: str) -> None:
        """Write the map (.png, .svg: every label, and a caption) or the matrix with its tokens (.csv,
        .json); raises OSError."""
        att = self._attention()
        shape = att.shape[:2] if att is not None and att.ndim == 4 else (1, 1)
        explained = self.explanations.get((*self._key(), self.kind)) if self.kind in ATTRIBUTIONS else None
        export_attention(path, self.view, self.translation.source, self.candidate.text, self.model_name, shape,
                         explained.steps if explained is not None else 0)

    def _set_enabled(self, enabled: bool) -> None:
        for w in (self.sentence_box, self.hyp_box, self.kind_box, self.layer_box, self.head_box, self.words_box,
                  self.export_button, self.prefix_edit, self.redecode_button):
            w.setEnabled(enabled)


def _certainty(cand: Candidate, position: int) -> str:
    """' (p 0.83, entropy 0.61 nats)' of the piece at `position`: how sure the model was there."""
    if position >= len(cand.token_probs):
        return ""
    entropy = cand.entropy(position)
    tail = f", entropy {entropy:.2f} nats" if entropy is not None else ""
    return f" (p {float(cand.token_probs[position]):.2f}{tail})"


def _pieces_text(pieces) -> str:
    return "".join(pieces).replace(WORD_START, " ").strip()
