"""The translate panel: source and output side by side, decode options, the n-best list.

It knows nothing about the engine: it emits `translate_requested(text, options)` (debounced while
typing, at once on Ctrl+Return) and shows whatever `show_result` is given.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QKeySequence,
    QShortcut,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QTextEdit,
    QToolButton,
    QToolTip,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop.engine.api import DecodeOptions, ParagraphTranslation, Translation
from s2s_desktop.gui.beam_tree_view import BeamTreeView
from s2s_desktop.gui.compare_view import CompareView
from s2s_desktop.gui.inspector_panel import InspectorPanel
from s2s_desktop.gui.output_spans import (
    FlaggedSpan,
    WordSpan,
    flag_at,
    flag_tooltip,
    flagged_spans,
    output_spans,
    sentence_at,
    shade_alpha,
    span_at,
    tooltip,
)
from s2s_desktop.gui.text_link import TextLink
from s2s_desktop.settings import DEFAULT_DECODE

DEBOUNCE_MS = 300
SHADE_RGB = (255, 160, 0)
FORCED_RGB = (60, 110, 200)  # the forced prefix of a what-if result
STALE_RGB = (190, 110, 0)
STALE_TEXT_RGB = (150, 150, 150)
LEGEND = "Shaded words: the model was unsure (hover a word for its probability)."
FORCED_LEGEND = " Blue, dashed underline: the prefix you forced (what-if)."
FLAGGED_RGB = (200, 30, 30)  # an output that looks degenerate (a loop, ...): red text, wavy underline
FLAGGED_LEGEND = "Red, wavy underline: the output looks broken (hover it for why). "  # first: the line may be cut
STALE_TEXT = "· out of date: press Translate (Ctrl+Return)"


class TranslatePanel(QWidget):
    translate_requested = Signal(str, object)  # text, DecodeOptions
    options_changed = Signal()
    target_language_chosen = Signal(str)  # a multilingual model's target-language code
    swap_requested = Signal()  # ⇄: the other direction (gui/model_library.py enables it and does it)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: ParagraphTranslation | None = None
        self.spans: list[WordSpan] = []
        self.flags: list[FlaggedSpan] = []  # sentences whose output looks degenerate
        self._decode = DEFAULT_DECODE  # what the boxes below do not show is kept from here
        self._debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._debounce.timeout.connect(self.request_translation)

        # Decode options.
        self.beam = QSpinBox(minimum=1, maximum=32, value=5, toolTip="Beam size (1 = greedy search)")
        self.nbest = QSpinBox(minimum=1, maximum=32, value=3, toolTip="How many hypotheses to list (at most the beam)")
        self.length_penalty = QDoubleSpinBox(minimum=0.0, maximum=3.0, singleStep=0.1, value=1.0, decimals=1,
                                             toolTip="GNMT length penalty alpha: higher favours longer outputs")
        self.max_ratio = QDoubleSpinBox(minimum=0.5, maximum=5.0, singleStep=0.1, value=1.5, decimals=1,
                                        toolTip="Maximum output length: this many pieces per source piece, plus 10")
        self.target_box = QComboBox(toolTip="This model translates into several languages: the one to translate into")
        self.target_box.currentIndexChanged.connect(self._on_target_chosen)
        self.target_label = QLabel("Into")
        self.target_label.setBuddy(self.target_box)
        self.as_you_type = QCheckBox("As you type", checked=True,
                                     toolTip="Translate as you type (otherwise: Translate, or Ctrl+Return)")
        self.translate_button = QPushButton("Translate", toolTip="Translate now (Ctrl+Return)")
        self.translate_button.clicked.connect(self.request_translation)
        options = QHBoxLayout()
        for label, widget in (("Beam", self.beam), ("N-best", self.nbest), ("Length penalty", self.length_penalty),
                              ("Max length ×", self.max_ratio)):
            lab = QLabel(label)
            lab.setBuddy(widget)
            options.addWidget(lab)
            options.addWidget(widget)
            options.addSpacing(8)
        options.addWidget(self.target_label)
        options.addWidget(self.target_box)
        self.target_label.hide()
        self.target_box.hide()
        options.addStretch(1)
        options.addWidget(self.as_you_type)
        options.addWidget(self.translate_button)
        for w in (self.beam, self.nbest, self.length_penalty, self.max_ratio):
            w.valueChanged.connect(self._on_options_changed)
        self.beam.valueChanged.connect(lambda v: self.nbest.setMaximum(v))
        self.as_you_type.toggled.connect(lambda _: self.options_changed.emit())
        self.as_you_type.toggled.connect(lambda _: self._mark_stale())

        # Source and output.
        self.source_label = QLabel("Source")
        self.source = QPlainTextEdit(placeholderText="Type or paste text to translate…")
        self.source.textChanged.connect(self._on_source_changed)
        self.source.cursorPositionChanged.connect(self._show_nbest_for_cursor)
        self.output_label = QLabel("Translation")
        self.output = QTextEdit(readOnly=True, placeholderText="The translation appears here.")
        self.output.setAcceptRichText(False)
        self.output.viewport().installEventFilter(self)
        self.output.viewport().setMouseTracking(True)
        self.copy_button = QPushButton("Copy", toolTip="Copy the translation to the clipboard")
        self.copy_button.clicked.connect(self.copy_output)
        self.legend = QLabel(LEGEND)
        self.legend.setStyleSheet("color: palette(mid);")
        self.legend.setWordWrap(True)  # a long legend wraps instead of widening the window
        self.stale_label = QLabel(STALE_TEXT)
        self.stale_label.setStyleSheet(f"color: rgb{STALE_RGB}; font-weight: bold;")
        self.stale_label.hide()
        self.tgt_lang = ""

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        self.swap_button = QToolButton(text="⇄", enabled=False, toolTip="Swap the languages")
        self.swap_button.clicked.connect(self.swap_requested.emit)
        source_head = QHBoxLayout()
        source_head.addWidget(self.source_label)
        source_head.addStretch(1)
        source_head.addWidget(self.swap_button)
        lv.addLayout(source_head)
        lv.addWidget(self.source)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(self.output_label)
        head.addWidget(self.stale_label)
        head.addStretch(1)
        head.addWidget(self.copy_button)
        rv.addLayout(head)
        rv.addWidget(self.output)
        rv.addWidget(self.legend)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)

        # The attention inspector and the n-best list, as tabs under the texts.
        self.inspector = InspectorPanel()
        self.link = TextLink(self.source, self.output, self.inspector)
        self.free_result: ParagraphTranslation | None = None  # the last decode without forced prefixes
        self.nbest_label = QLabel("N-best")
        self.nbest_list = QTreeWidget()
        self.nbest_list.setHeaderLabels(["#", "Score", "Log-prob", "Translation"])
        self.nbest_list.setRootIsDecorated(False)
        self.nbest_list.setColumnWidth(0, 30)
        self.nbest_list.setColumnWidth(1, 70)
        self.nbest_list.setColumnWidth(2, 70)
        self._nbest_sentence = 0
        self.nbest_list.currentItemChanged.connect(self._on_nbest_chosen)
        bottom = QWidget()
        bv = QVBoxLayout(bottom)
        bv.setContentsMargins(0, 0, 0, 0)
        bv.addWidget(self.nbest_label)
        bv.addWidget(self.nbest_list)
        self.tree_view = BeamTreeView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.inspector, "Attention")
        self.tabs.addTab(bottom, "N-best")
        self.tabs.addTab(self.tree_view, "Beam tree")
        self.compare_view = CompareView()
        self.tabs.addTab(self.compare_view, "Compare")
        self.tabs.currentChanged.connect(lambda _: self._show_tree_for_cursor())
        self.tabs.currentChanged.connect(lambda _: self._show_comparison())
        self.vsplitter = QSplitter(Qt.Orientation.Vertical)
        self.vsplitter.addWidget(self.splitter)
        self.vsplitter.addWidget(self.tabs)
        self.vsplitter.setStretchFactor(0, 2)
        self.vsplitter.setStretchFactor(1, 3)
        self.vsplitter.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.addLayout(options)
        layout.addWidget(self.vsplitter, 1)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, activated=self.request_translation)

    # -- options -----------------------------------------------------------------------------------
    def options(self) -> DecodeOptions:
        """The decode options the boxes show (nbest clamped to the beam); kept in the settings as they are."""
        return dataclasses.replace(self._decode, beam=self.beam.value(), nbest=self.nbest.value(),
                                   length_penalty=self.length_penalty.value(),
                                   max_len_a=self.max_ratio.value()).clamped()

    def set_options(self, decode: DecodeOptions, as_you_type: bool) -> None:
        self._decode = decode
        self.beam.setValue(decode.beam)
        self.nbest.setValue(decode.nbest)
        self.length_penalty.setValue(decode.length_penalty)
        self.max_ratio.setValue(decode.max_len_a)
        self.as_you_type.setChecked(as_you_type)

    def set_languages(self, src: str, tgt: str) -> None:
        self.source_label.setText(f"Source ({src})")
        self.output_label.setText(f"Translation ({tgt})")

    def set_target_languages(self, codes: tuple[str, ...], current: str | None) -> None:
        """A multilingual model's target languages (the box is hidden for the others)."""
        self.target_box.blockSignals(True)
        self.target_box.clear()
        for code in codes:
            self.target_box.addItem(code, code)
        self.target_box.setCurrentIndex(max(self.target_box.findData(current), 0) if current else -1)
        self.target_box.blockSignals(False)
        for w in (self.target_box, self.target_label):
            w.setVisible(bool(codes))

    def _on_target_chosen(self, index: int) -> None:
        if index >= 0:
            self.target_language_chosen.emit(self.target_box.itemData(index))

    # -- requests ----------------------------------------------------------------------------------
    def _on_source_changed(self) -> None:
        if self.as_you_type.isChecked():
            self._debounce.start()
        self._mark_stale()

    @property
    def stale(self) -> bool:
        """The translation shown is of another text than the source's (and is not being redone as you type)."""
        return (self.result is not None and not self.as_you_type.isChecked()
                and self.result.source != self.source.toPlainText())

    def _mark_stale(self) -> None:
        """Say so, and grey the old translation out, until Translate (Ctrl+Return) is pressed."""
        stale = self.stale
        self.stale_label.setVisible(stale)
        self.output.setStyleSheet(f"QTextEdit {{ color: rgb{STALE_TEXT_RGB}; }}" if stale else "")

    def _on_options_changed(self) -> None:
        self.options_changed.emit()
        if self.as_you_type.isChecked() and self.source.toPlainText().strip():
            self._debounce.start()

    def request_translation(self) -> None:
        self._debounce.stop()
        self.translate_requested.emit(self.source.toPlainText(), self.options())

    # -- results -----------------------------------------------------------------------------------
    def show_result(self, result: ParagraphTranslation, free: bool = True, sentence: int | None = None) -> None:
        """Show a translation: the text with confidence shading, the attention map and the n-best list.

        `free` is False for a what-if (forced-prefix) result, which Reset can undo.
        """
        if free:
            self.free_result = result
            self._show_comparison()
        self.result = result
        self.spans = output_spans(result)
        self.link.muted = True  # replacing the text moves the output cursor: not a user's selection
        self.output.setPlainText(result.text)
        cursor = QTextCursor(self.output.document())
        cursor.beginEditBlock()
        forced = False
        for span in self.spans:
            fmt = QTextCharFormat()
            if span.forced:  # chosen by the user, not the model: its own style, never "unsure"
                forced = True
                fmt.setBackground(QColor(*FORCED_RGB, 70))
                fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.DashUnderline)
                fmt.setUnderlineColor(QColor(*FORCED_RGB))
            else:
                alpha = shade_alpha(span.prob)
                if not alpha:
                    continue
                fmt.setBackground(QColor(*SHADE_RGB, alpha))
            cursor.setPosition(span.start)
            cursor.setPosition(span.end, QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(fmt)
        self.flags = flagged_spans(result)
        for flag in self.flags:  # its own style, over the confidence shading (which it leaves in place)
            fmt = QTextCharFormat()
            fmt.setForeground(QColor(*FLAGGED_RGB))
            fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
            fmt.setUnderlineColor(QColor(*FLAGGED_RGB))
            cursor.setPosition(flag.start)
            cursor.setPosition(flag.end, QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(fmt)
        cursor.endEditBlock()
        self.legend.setText((FLAGGED_LEGEND if self.flags else "") + LEGEND + (FORCED_LEGEND if forced else ""))
        self.link.muted = False
        self.link.set_result(result, self.spans)
        self.link.clear_shading()
        if sentence is None:
            sentence = sentence_at(result, self.source.textCursor().position(), source=True)
        self.inspector.set_result(result, sentence)
        self._show_nbest_for_cursor()
        self._mark_stale()

    def replace_sentence(self, index: int, translation: Translation) -> None:
        """Show a re-decoded sentence (what-if) in place of the current one."""
        if self.result is None or index >= len(self.result.sentences):
            return
        sentences = list(self.result.sentences)
        sentences[index] = translation
        self.show_result(dataclasses.replace(self.result, sentences=tuple(sentences)), free=False, sentence=index)

    def reset_sentence(self, index: int) -> None:
        """Back to the free decode of one sentence."""
        if self.free_result is not None and index < len(self.free_result.sentences):
            self.replace_sentence(index, self.free_result.sentences[index])

    def clear_result(self) -> None:
        self.result = self.free_result = None
        self.spans, self.flags = [], []
        self.link.muted = True
        self.output.clear()
        self.link.muted = False
        self.link.set_result(None, [])
        self.link.clear_shading()
        self.inspector.set_result(None)
        self.nbest_list.clear()
        self._mark_stale()

    def _show_nbest_for_cursor(self) -> None:
        self.nbest_list.clear()
        result = self.result
        if result is None or not result.sentences:
            self.nbest_label.setText("N-best")
            return
        index = sentence_at(result, self.source.textCursor().position(), source=True)
        index = min(index, len(result.sentences) - 1)
        t = result.sentences[index]
        self._nbest_sentence = index
        where = f" for sentence {index + 1} of {len(result.sentences)}" if len(result.sentences) > 1 else ""
        self.nbest_label.setText(f"N-best{where} (score = log-probability with length penalty; "
                                 "select one to inspect it)")
        self.nbest_list.blockSignals(True)
        for rank, cand in enumerate(t.nbest, 1):
            QTreeWidgetItem(self.nbest_list, [str(rank), f"{cand.score:.3f}", f"{cand.log_prob:.2f}", cand.text])
        self.nbest_list.blockSignals(False)
        self._show_tree_for_cursor()

    def _show_comparison(self) -> None:
        """The free decode beside the second model's (asked for only while the Compare tab is shown)."""
        self.compare_view.show_for(self.free_result, self.options(), self.tabs.currentWidget() is self.compare_view)

    def _show_tree_for_cursor(self) -> None:
        """The beam tree of the sentence under the cursor, when its tab is shown (asked for only then)."""
        if self.tabs.currentWidget() is not self.tree_view or self.result is None or not self.result.sentences:
            return
        index = min(sentence_at(self.result, self.source.textCursor().position(), source=True),
                    len(self.result.sentences) - 1)
        source = self.result.sentences[index].source
        self.tree_view.show_for(index, len(self.result.sentences), source, (source, self.options()))

    def _on_nbest_chosen(self, item: QTreeWidgetItem | None, _previous: object = None) -> None:
        """Selecting an n-best row shows that hypothesis in the attention map."""
        if item is not None:
            self.inspector.show_hypothesis(self._nbest_sentence, self.nbest_list.indexOfTopLevelItem(item))

    def word_at(self, position: int) -> WordSpan | None:
        return span_at(self.spans, position)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.output.viewport() and event.type() == QEvent.Type.ToolTip:
            pos = self.output.cursorForPosition(event.pos()).position()
            span = self.word_at(pos)
            if span is None and pos > 0:
                span = self.word_at(pos - 1)
            flag = flag_at(self.flags, pos) or (flag_at(self.flags, pos - 1) if pos > 0 else None)
            if span is not None:
                QToolTip.showText(event.globalPos(), tooltip(span), self.output.viewport())
            elif flag is not None:
                QToolTip.showText(event.globalPos(), flag_tooltip(flag.reason), self.output.viewport())
            else:
                QToolTip.hideText()
            return True
        return super().eventFilter(obj, event)

    def copy_output(self) -> None:
        QGuiApplication.clipboard().setText(self.output.toPlainText())
