"""The Compare tab: the text translated by the open model (A) and by a second one (B, two checkpoints
of a run or two models of the library), the translations side by side with the words where they
differ highlighted, each model's cross-attention map under its translation, and how much they agree.

It asks the window for B's translation (`compare_requested`) when shown, and keeps each answer per
(model B, text, options); it never calls the engine.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QSize, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop.engine.api import ModelInfo, ParagraphTranslation
from s2s_desktop.gui.attention_heatmap import AttentionHeatmap
from s2s_desktop.gui.compare_math import agreement, map_of, to_csv, to_json, word_diff
from s2s_desktop.gui.picture_file import ask_and_export, write_picture

HELP = ("Highlighted: the words where the two translations differ. Under each, its model's cross-attention "
        "(mean of the last layer's heads, in words).")
ONLY_A, ONLY_B = "#f4d3d3", "#d3ecd3"  # a word of A that B lacks; of B that A lacks


class ModelColumn(QWidget):
    """One model's side: its name, its translation of the sentence, its map."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(title)
        self.text = QTextBrowser(openLinks=False)
        # three lines: a sentence; the map under it gets the height
        self.text.setFixedHeight(self.text.fontMetrics().lineSpacing() * 3 + 12)
        self.heatmap = AttentionHeatmap()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        layout.addWidget(self.heatmap, 1)

    def set_side(self, title: str, words, colour: str, view) -> None:
        self.title.setText(title)
        self.text.setHtml(" ".join(f'<span style="background:{colour}">{html.escape(w)}</span>' if differs else
                                   html.escape(w) for w, differs in words))
        if view is None:
            self.heatmap.set_matrix(_empty(), (), ())
        else:
            self.heatmap.set_matrix(view.matrix, view.target_labels, view.source_labels)

    def clear(self, title: str) -> None:
        self.title.setText(title)
        self.text.clear()
        self.heatmap.set_matrix(_empty(), (), ())


def _empty() -> np.ndarray:
    return np.zeros((0, 0))


class CompareView(QWidget):
    compare_requested = Signal(object, str, str, object)  # key, model B's path, text, decoding options
    export_failed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_box = QComboBox(toolTip="The second model: another checkpoint, or another model of the same "
                                           "languages from the library")
        self.model_box.setMinimumContentsLength(14)
        self.model_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.file_button = QPushButton("Other file…", toolTip="Compare with a model file that is not in the library")
        self.file_button.clicked.connect(self._choose_file)
        self.sentence_box = QComboBox(toolTip="Which sentence of the text the columns show")
        self.sentence_box.setMinimumContentsLength(8)
        self.sentence_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.export_button = QToolButton(text="Export", popupMode=QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        for label, suffix in (("Comparison as PNG…", ".png"), ("Comparison as SVG…", ".svg"),
                              ("Translations as CSV…", ".csv"), ("Comparison as JSON…", ".json")):
            menu.addAction(label, lambda s=suffix: self.ask_export(s))
        self.export_button.setMenu(menu)
        top = QHBoxLayout()
        top.addWidget(QLabel("Compare with"))
        top.addWidget(self.model_box, 1)
        top.addWidget(self.file_button)
        top.addWidget(QLabel("Sentence"))
        top.addWidget(self.sentence_box)
        top.addWidget(self.export_button)
        self.summary = QLabel("", wordWrap=True)
        self.a, self.b = ModelColumn("A"), ModelColumn("B")
        self.columns = QSplitter(Qt.Orientation.Horizontal)
        self.columns.addWidget(self.a)
        self.columns.addWidget(self.b)
        self.columns.setChildrenCollapsible(False)
        self.help = QLabel(HELP, wordWrap=True)
        self.help.setStyleSheet("color: #666;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(self.columns, 1)
        layout.addWidget(self.help)

        self.info: ModelInfo | None = None  # model A
        self.result: ParagraphTranslation | None = None  # A's translation (the window's)
        self.options: object = None
        self.second: dict[object, tuple[ModelInfo, ParagraphTranslation]] = {}  # key -> B's answer
        self._agreement: dict[object, tuple | None] = {}  # key -> agreement(A, B), computed once
        self._asked: set = set()
        self.key: object = None
        self.visible_now = False
        self.model_box.currentIndexChanged.connect(lambda _: self.refresh())
        self.sentence_box.currentIndexChanged.connect(lambda _: self._show_sentence())
        self._set_choices([])

    # -- what is compared --------------------------------------------------------------------------
    def set_model(self, info: ModelInfo, choices: list[tuple[str, str]]) -> None:
        """Model A was opened; `choices` (name, path) the library's models of its languages but itself."""
        self.info = info
        self.second.clear()
        self._agreement.clear()
        self._asked.clear()
        self._set_choices(choices)

    def _set_choices(self, choices: list[tuple[str, str]]) -> None:
        keep = self.path()
        self.model_box.blockSignals(True)
        self.model_box.clear()
        for name, path in choices:
            self.model_box.addItem(name, path)
        if keep and self.model_box.findData(keep) < 0 and os.path.exists(keep):
            self.model_box.addItem(os.path.basename(keep), keep)
        index = self.model_box.findData(keep) if keep else -1
        self.model_box.setCurrentIndex(index if index >= 0 else 0 if choices else -1)
        self.model_box.setPlaceholderText("no other model")  # (a long one widened the window)
        self.model_box.blockSignals(False)

    def path(self) -> str:
        return self.model_box.currentData() or ""

    def add_file(self, path: str) -> None:
        index = self.model_box.findData(path)
        if index < 0:
            self.model_box.addItem(os.path.basename(path), path)
            index = self.model_box.count() - 1
        self.model_box.setCurrentIndex(index)  # (refreshes)

    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Compare with a model", "", "s2s models (*.s2s);;All files (*)")
        if path:
            self.add_file(path)

    def show_for(self, result: ParagraphTranslation | None, options: object, visible: bool) -> None:
        """The window's translation (A) and its decoding options; B is asked for only while shown."""
        self.result, self.options, self.visible_now = result, options, visible
        self.refresh()

    def refresh(self) -> None:
        path, result = self.path(), self.result
        if result is None or not result.sentences or not path:
            self.key = None
            if path or self.model_box.count():
                self.summary.setText("Translate a text, and choose a second model to compare with.")
            else:
                langs = f"{self.info.src_lang} → {self.info.tgt_lang} " if self.info else ""
                self.summary.setText(f"No other {langs}model in the library: train one (Train tab) or import "
                                     "one (File › Import model…), or choose a file (Other file…).")
            self._fill_sentences()
            return
        self.key = (os.path.abspath(path), result.source, self.options)
        if self.key not in self.second and self.key not in self._asked and self.visible_now:
            self._asked = {self.key}  # (an older text's request is superseded: asked again if it comes back)
            self.compare_requested.emit(self.key, self.key[0], result.source, self.options)
        self._fill_sentences()

    def set_comparison(self, key: object, info: ModelInfo, result: ParagraphTranslation) -> None:
        """The engine's answer to `compare_requested`."""
        self._asked.discard(key)
        self.second[key] = (info, result)
        self._agreement[key] = agreement(self.result, result) if key == self.key else None
        if key == self.key:
            self._fill_sentences()

    def failed(self, message: str) -> None:
        self._asked.clear()
        self.summary.setText(f"Model B could not translate: {message}")

    # -- what is shown -----------------------------------------------------------------------------
    def _pair(self) -> tuple[ParagraphTranslation, ModelInfo, ParagraphTranslation] | None:
        found = self.second.get(self.key) if self.key is not None else None
        return None if found is None else (self.result, *found)

    def _fill_sentences(self) -> None:
        pair = self._pair()
        keep = max(self.sentence_box.currentIndex(), 0)
        self.sentence_box.blockSignals(True)
        self.sentence_box.clear()
        if pair is not None:
            a, _, b = pair
            for i, t in enumerate(a.sentences):
                mark = "" if i < len(b.sentences) and b.sentences[i].best.text == t.best.text else " ≠"
                self.sentence_box.addItem(f"{i + 1}{mark}: {t.source[:30]}{'…' if len(t.source) > 30 else ''}")
            self.sentence_box.setCurrentIndex(min(keep, len(a.sentences) - 1))
        self.sentence_box.blockSignals(False)
        self._show_sentence()

    def _show_sentence(self) -> None:
        pair = self._pair()
        name_a = os.path.basename(self.info.path) if self.info else "A"
        if pair is None:
            if self.key is not None:
                self.summary.setText(f"Translating with {os.path.basename(self.path())}…")
            self.a.clear(f"A · {name_a}")
            self.b.clear(f"B · {os.path.basename(self.path()) or '—'}")
            return
        a, info_b, b = pair
        if self._agreement.get(self.key) is None:
            self._agreement[self.key] = agreement(a, b)
        same, count, bleu = self._agreement[self.key]
        name_b = os.path.basename(info_b.path)
        self.summary.setText(f"<b>A</b> {html.escape(name_a)} and <b>B</b> {html.escape(name_b)}: the same "
                             f"translation for {same} of {count} sentence{'s' if count != 1 else ''}"
                             + (f"; BLEU of B against A {bleu:.1f}" if bleu is not None else "") + ".")
        i = min(max(self.sentence_box.currentIndex(), 0), len(a.sentences) - 1, len(b.sentences) - 1)
        x, y = a.sentences[i], b.sentences[i]
        diff = word_diff(x.best.text, y.best.text)
        self.a.set_side(f"A · {name_a} (score {x.best.score:.2f})", diff.a, ONLY_A, map_of(x))
        self.b.set_side(f"B · {name_b} (score {y.best.score:.2f})", diff.b, ONLY_B, map_of(y))

    # -- export ------------------------------------------------------------------------------------
    def ask_export(self, suffix: str) -> None:
        if self._pair() is not None:
            ask_and_export(self, "the comparison", f"comparison{suffix}", self.export, self.export_failed.emit)

    def export(self, path: str) -> None:
        """The two columns as a picture (.png at twice the size, .svg), the translations (.csv), or
        everything with both maps (.json); raises OSError (ValueError for an unknown suffix)."""
        a, info_b, b = self._pair()
        suffix = Path(path).suffix.lower()
        if suffix == ".csv":
            Path(path).write_text(to_csv(a, b), encoding="utf-8")
        elif suffix == ".json":
            data = to_json(a, b, self.info.path if self.info else "", info_b.path)
            Path(path).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        elif suffix in (".png", ".svg"):
            self._export_picture(path)
        else:
            raise ValueError(f"unknown export format {suffix!r}: use .png, .svg, .csv or .json")

    def _export_picture(self, path: str) -> None:
        """The summary line over the two columns, as drawn on screen."""
        gap = 8
        size = QSize(self.columns.width(), self.summary.height() + gap + self.columns.height())

        def paint(painter: QPainter) -> None:
            self.summary.render(painter, QPoint(0, 0))
            self.columns.render(painter, QPoint(0, self.summary.height() + gap))

        write_picture(path, size, "Two models compared", paint)
