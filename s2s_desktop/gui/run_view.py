"""The right side of the Train tab: the run shown (title, status line, progress bar and its buttons), its
plots, and below them tabs for the sample translations with the attention map, the notices and the
table of compared runs. It only displays; the training panel decides what.

Sizes: the status keeps room for two lines, the title for one (a status line that grows a line at every
report would resize the plots: a 50 ms repaint each time), the plots and the tabs below them have
minimum heights and share the rest in a splitter.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop.engine.api import Sample
from s2s_desktop.gui.attention_heatmap import AttentionHeatmap
from s2s_desktop.gui.run_compare import RunCompare
from s2s_desktop.gui.training_plots import TrainingPlots

SAMPLES_TAB, NOTICES_TAB, COMPARE_TAB = 0, 1, 2
BOTTOM_MIN_HEIGHT = 150  # px: the sample table's header and two rows, the map with its labels
STOP_TIP = "Finish the current step, validate, save a model, stop"


class RunView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.samples: tuple[Sample, ...] = ()
        self.stopping = ""  # the note after the title while a stop is under way
        self._title = ""
        self.title = QLabel("<b>No run yet</b>: fill in the form and press Start training, or open one from History.",
                            wordWrap=True)
        self.status = QLabel(" ", wordWrap=True)
        for label, lines in ((self.title, 1), (self.status, 2)):
            label.setMinimumHeight(lines * label.fontMetrics().lineSpacing() + 2)
            label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.progress = QProgressBar(minimum=0, maximum=1000, textVisible=True)
        self.progress.setFormat("")
        self.pause_button = QPushButton("Pause", enabled=False)
        self.stop_button = QPushButton("Stop", enabled=False, toolTip=STOP_TIP)
        self.use_button = QPushButton("Use this model", enabled=False,
                                      toolTip="Open the run's best model in the Translate tab")
        controls = QHBoxLayout()
        controls.addWidget(self.progress, 1)
        controls.addWidget(self.pause_button)
        controls.addWidget(self.stop_button)
        controls.addWidget(self.use_button)

        self.plots = TrainingPlots()
        self.sample_table = QTableWidget(0, 3)
        self.sample_table.setHorizontalHeaderLabels(["Source", "Reference", "Output"])
        self.sample_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.sample_table.horizontalHeader().setMinimumSectionSize(60)
        self.sample_table.setWordWrap(True)
        # Rows follow the column widths (a narrower window wraps the sentences instead of cutting them).
        self.sample_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.sample_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.sample_table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.sample_table.currentCellChanged.connect(lambda row, *_: self.show_sample_attention(row))
        self.sample_label = QLabel("At the last validation (select a row to see its attention)", wordWrap=True)
        self.attention = AttentionHeatmap()
        self.attention_label = QLabel("Attention of the selected sample (last decoder layer, mean of heads)",
                                      wordWrap=True)
        self.notices = QPlainTextEdit(readOnly=True, maximumBlockCount=500,
                                      placeholderText="What the run reports on the way (a skipped step, a learning-rate "
                                                      "cut) appears here")
        self.compare = RunCompare()

        samples = QWidget()
        sv = QVBoxLayout(samples)
        sv.setContentsMargins(0, 0, 0, 0)
        sv.addWidget(self.sample_label)
        sv.addWidget(self.sample_table)
        attn = QWidget()
        av = QVBoxLayout(attn)
        av.setContentsMargins(0, 0, 0, 0)
        av.addWidget(self.attention_label)
        av.addWidget(self.attention)
        bottom = QSplitter(Qt.Orientation.Horizontal, childrenCollapsible=False)
        bottom.addWidget(samples)
        bottom.addWidget(attn)
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 2)
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.addTab(bottom, "Sample translations")
        self.bottom_tabs.addTab(self.notices, "Notices")
        self.bottom_tabs.addTab(self.compare, "Compare runs")
        self.bottom_tabs.setMinimumHeight(BOTTOM_MIN_HEIGHT)
        self.split = QSplitter(Qt.Orientation.Vertical, childrenCollapsible=False)
        self.split.addWidget(self.plots)
        self.split.addWidget(self.bottom_tabs)
        self.split.setStretchFactor(0, 3)
        self.split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.status)
        layout.addLayout(controls)
        layout.addWidget(self.split, 1)

    # -- title and progress ------------------------------------------------------------------------
    def set_title(self, text: str) -> None:
        self._title = text
        self.title.setText(self._title + self.stopping)

    def set_stopping(self, note: str) -> None:
        """The note after the title while the run stops ("" once it has)."""
        if note != self.stopping:
            self.stopping = note
            self.title.setText(self._title + note)

    def show_ended(self, stopped: bool) -> None:
        """The run is over: a full bar, whatever its limit said; a stopped one says how far it got."""
        done = self.progress.value() / 10
        self.progress.setValue(self.progress.maximum())
        self.progress.setFormat(f"stopped at {done:.0f}%" if stopped and done else "100%")

    def reset(self, name: str) -> None:
        """An empty view for run `name`."""
        self.samples = ()
        self.plots.clear()
        self.plots.run_name = name
        self.sample_table.setRowCount(0)
        self.attention.set_matrix(np.zeros((0, 0)), (), ())
        self.notices.clear()
        self.bottom_tabs.setTabText(NOTICES_TAB, "Notices")
        self.compare.set_runs([])
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.status.setText(" ")
        self.use_button.setEnabled(False)
        self.stopping = ""
        self.set_title(f"<b>{name}</b>")

    # -- below the plots ---------------------------------------------------------------------------
    def add_notice(self, text: str) -> None:
        self.notices.appendPlainText(text)
        self.bottom_tabs.setTabText(NOTICES_TAB, f"Notices ({self.notices.blockCount()})")

    def fill_samples(self, samples: tuple[Sample, ...]) -> None:
        self.samples = samples
        self.sample_table.setRowCount(len(samples))
        for row, s in enumerate(samples):
            for col, text in enumerate((s.source, s.reference, s.hypothesis)):
                self.sample_table.setItem(row, col, QTableWidgetItem(text))
        row = max(self.sample_table.currentRow(), 0)
        if samples:
            self.sample_table.selectRow(row)
            self.show_sample_attention(row)

    def show_sample_attention(self, row: int) -> None:
        if not (0 <= row < len(self.samples)):
            return
        s = self.samples[row]
        if s.attention:
            self.attention.set_matrix(np.asarray(s.attention, dtype=np.float32), s.target_tokens, s.source_tokens)
        else:
            self.attention.set_matrix(np.zeros((0, 0)), (), ())
