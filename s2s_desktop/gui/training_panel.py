"""The Train tab: a new-run form and the run history on the left; on the right the run being watched
(status, progress with ETA, pause/resume/stop, live plots, sample translations with the attention
map of a chosen validation sentence)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QProcess, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop.engine import metrics
from s2s_desktop.engine.api import (
    Event,
    Failed,
    Finished,
    ModelSaved,
    Notice,
    RunStarted,
    Sample,
    SampleTranslations,
    StepReport,
)
from s2s_desktop.engine.training.run_folder import (
    CONFIG_FILE,
    METRICS_FILE,
    MetricsTail,
    model_at_step,
    read_metrics,
)
from s2s_desktop.gui.attention_heatmap import AttentionHeatmap
from s2s_desktop.gui.durations import format_eta
from s2s_desktop.gui.run_history import RunHistory
from s2s_desktop.gui.training_form import TrainingForm
from s2s_desktop.gui.training_plots import TrainingPlots
from s2s_desktop.gui.training_worker import TrainingClient
from s2s_desktop.gui.worker import Failure, FailureKind

WATCH_MS = 1000  # how often a run written by another process (the CLI) is re-read


def run_progress(train: dict[str, Any], step: int, epoch: int, elapsed: float) -> float | None:
    """Fraction done (0-1) by whichever limit is closest, or None when the run has no limit."""
    fractions = []
    if train.get("max_steps"):
        fractions.append(step / train["max_steps"])
    if train.get("max_minutes"):
        fractions.append(elapsed / (train["max_minutes"] * 60))
    if train.get("max_epochs"):
        fractions.append(epoch / train["max_epochs"])
    return min(max(fractions), 1.0) if fractions else None


class TrainingPanel(QWidget):
    use_model = Signal(str)  # a model file to open in the translate panel
    process_done = Signal(int)  # a distributed run's launcher exited (its status)
    message = Signal(str, str)  # text, level: for the window's message bar

    def __init__(self, extra_run_folders: list[str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = TrainingClient(self)
        self.run_dir: str | None = None
        self.train_cfg: dict[str, Any] = {}
        self.last_step: StepReport | None = None
        self.best_path = ""
        self.samples: tuple[Sample, ...] = ()
        self.tail: MetricsTail | None = None
        self.process: QProcess | None = None
        self._warmed = False
        self.watch_timer = QTimer(self, interval=WATCH_MS)
        self.watch_timer.timeout.connect(self._poll_watched)

        self.form = TrainingForm()
        self.history = RunHistory(extra_run_folders)
        form_scroll = QScrollArea(widgetResizable=True)
        form_scroll.setWidget(self.form)
        form_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the form fits its width
        form_scroll.setMinimumWidth(self.form.minimumSizeHint().width() + 24)
        self.left = QTabWidget()
        self.left.addTab(form_scroll, "New run")
        self.left.addTab(self.history, "History")

        self.title = QLabel("<b>No run yet</b>: fill in the form and press Start training, or open one from History.")
        self.status = QLabel(" ", wordWrap=True)
        self.title.setWordWrap(True)
        for label in (self.title, self.status):  # room for two lines: a longer text must not resize the
            label.setMinimumHeight(2 * label.fontMetrics().lineSpacing() + 2)  # plots (a 50 ms repaint)
            label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.progress = QProgressBar(minimum=0, maximum=1000, textVisible=True)
        self.progress.setFormat("")
        self.pause_button = QPushButton("Pause", enabled=False)
        self.stop_button = QPushButton("Stop", enabled=False, toolTip="Finish the current step, save a model, stop")
        self.use_button = QPushButton("Use this model", enabled=False,
                                      toolTip="Open the run's best model in the Translate tab")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.use_button.clicked.connect(lambda: self.best_path and self.use_model.emit(self.best_path))
        controls = QHBoxLayout()
        controls.addWidget(self.progress, 1)
        controls.addWidget(self.pause_button)
        controls.addWidget(self.stop_button)
        controls.addWidget(self.use_button)

        self.plots = TrainingPlots()
        self.plots.eval_point_clicked.connect(self._open_step_model)
        self.sample_table = QTableWidget(0, 3)
        self.sample_table.setHorizontalHeaderLabels(["Source", "Reference", "Model output"])
        self.sample_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.sample_table.setWordWrap(True)
        self.sample_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.sample_table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.sample_table.currentCellChanged.connect(lambda row, *_: self._show_sample_attention(row))
        self.sample_label = QLabel("Sample translations at the last validation (select one to see its attention)",
                                   wordWrap=True)
        self.attention = AttentionHeatmap()
        self.attention_label = QLabel("Attention of the selected sample (last decoder layer, mean of heads)",
                                      wordWrap=True)
        self.notices = QPlainTextEdit(readOnly=True, maximumBlockCount=500, placeholderText="Notices")
        self.notices.setMaximumHeight(70)

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
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(samples)
        bottom.addWidget(attn)
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 2)
        right_split = QSplitter(Qt.Orientation.Vertical)
        right_split.addWidget(self.plots)
        right_split.addWidget(bottom)
        right_split.setStretchFactor(0, 3)
        right_split.setStretchFactor(1, 2)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addWidget(self.title)
        rv.addWidget(self.status)
        rv.addLayout(controls)
        rv.addWidget(right_split, 1)
        rv.addWidget(self.notices)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 5)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        self.form.start_requested.connect(self.start)
        self.form.check_requested.connect(self.client.check_corpus)
        self.client.corpus_checked.connect(self.form.show_counts)
        self.client.event.connect(self.on_event)
        self.client.done.connect(self._on_done)
        self.client.failed.connect(self._on_failed)
        self.history.open_requested.connect(self.open_run)
        self.history.overlay_requested.connect(self.overlay_run)
        self.history.resume_requested.connect(self.resume_run)
        self.history.export_failed.connect(lambda text: self.message.emit(text, "error"))

    def showEvent(self, event) -> None:
        """Build the attention map's first frame (about 50 ms of one-off work) when the tab is first
        shown, not when a run starts or at its first validation, while the UI must stay fluid."""
        super().showEvent(event)
        if not self._warmed:
            self._warmed = True
            QTimer.singleShot(0, self.attention.warm_up)

    # -- runs started here -------------------------------------------------------------------------
    def start(self, model_cfg: dict, train_cfg: dict, processes: int = 1, resume: bool = False) -> None:
        if processes > 1:
            self.start_distributed(model_cfg, train_cfg, processes)
            return
        if self.client.running or self.process is not None:
            self.message.emit("A run is already training; stop it first.", "warning")
            return
        self._stop_watching()
        self._reset_view(train_cfg["out_dir"], train_cfg)
        self.title.setText(f"<b>{Path(train_cfg['out_dir']).name}</b>: {'resuming' if resume else 'preparing the data'}…")
        self.client.start(model_cfg, train_cfg, resume)
        self._set_running(True)

    def start_distributed(self, model_cfg: dict, train_cfg: dict, processes: int) -> None:
        """Several processes (one per GPU) cannot share this app's thread: the run is an `s2s train
        --config RUN/config.json --nproc-per-node N` child process, watched through its metrics.jsonl
        like a CLI run. The config.json written here is the one the run itself then rewrites."""
        from s2s_desktop.engine.api import ModelConfig, TrainConfig
        from s2s_desktop.engine.config import run_config, write_run_config
        from s2s_desktop.errors import S2SError

        if self.client.running or self.process is not None:
            self.message.emit("A run is already training; stop it first.", "warning")
            return
        config = Path(train_cfg["out_dir"]) / CONFIG_FILE
        try:
            write_run_config(config, run_config(ModelConfig.from_dict(model_cfg), TrainConfig.from_dict(train_cfg)))
        except S2SError as exc:
            self.message.emit(f"Cannot start the run: {exc}", "error")
            return
        self.process = QProcess(self)
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        self.process.finished.connect(self._on_process_finished)
        self.process.start(sys.executable, ["-m", "s2s_desktop", "train", "--config", str(config), "--quiet",
                                            "--nproc-per-node", str(processes)])
        self._stop_watching()
        self._reset_view(train_cfg["out_dir"], train_cfg)
        self.title.setText(f"<b>{Path(train_cfg['out_dir']).name}</b>: starting {processes} processes…")
        self.tail = MetricsTail(Path(train_cfg["out_dir"]) / METRICS_FILE)
        self.watch_timer.start()
        self.stop_button.setEnabled(True)
        self.pause_button.setEnabled(False)  # a distributed run can be stopped, not paused
        self.form.start_button.setEnabled(False)

    def _on_process_finished(self, code: int, _status) -> None:
        output = bytes(self.process.readAll()).decode("utf-8", errors="replace").strip()
        self.process.deleteLater()
        self.process = None
        self._poll_watched()
        self._stop_watching()
        self._set_running(False)
        self.history.refresh()
        if code != 0:
            last = output.splitlines()[-1] if output else f"exit status {code}"
            self.message.emit(f"The distributed run ended with an error: {last}", "error")
        self.process_done.emit(code)

    def resume_run(self, folder: str) -> None:
        try:
            cfg = json.loads((Path(folder) / CONFIG_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            self.message.emit(f"Cannot resume {folder}: its {CONFIG_FILE} cannot be read ({exc}).", "error")
            return
        self.start(cfg["model"], cfg["train"], resume=True)
        self.plots.replay(read_metrics(Path(folder) / METRICS_FILE))

    def toggle_pause(self) -> None:
        paused = not self.client.paused
        self.client.set_paused(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.status.setText(("Paused. " if paused else "") + self.status.text().removeprefix("Paused. "))

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: every process finishes its step and rank 0 saves
        self.client.stop()
        self.stop_button.setEnabled(False)
        self.pause_button.setEnabled(False)
        self.title.setText(self.title.text() + " (stopping: finishing the step and saving a model…)")

    def _set_running(self, running: bool) -> None:
        self.pause_button.setEnabled(running)
        self.pause_button.setText("Pause")
        self.stop_button.setEnabled(running)
        self.form.start_button.setEnabled(not running and self.form.revalidate())

    def _on_done(self) -> None:
        self._set_running(False)
        self.history.refresh()

    def _on_failed(self, failure: Failure) -> None:
        self.message.emit(f"Error while {failure.action}: {failure.message}", "error")
        if failure.kind is not FailureKind.CHECK_CORPUS:
            self.title.setText(f"<b>{Path(self.run_dir or '').name}</b>: failed")

    # -- events (live, or from a watched metrics.jsonl) ---------------------------------------------
    def on_event(self, event: Event, plot: bool = True) -> None:
        if plot:
            self.plots.add_event(event)
        match event:
            case RunStarted(data=d):
                self.train_cfg = event.train
                self.title.setText(f"<b>{Path(event.run_dir).name}</b>: {event.model.get('arch', '?')}, "
                                   f"{event.num_params:,} parameters, {d.train_pairs:,} training pairs, "
                                   f"on {event.device}")
                self.device = event.device
            case StepReport():
                self.last_step = event
                self._show_progress(event)
            case SampleTranslations():
                self.samples = event.samples
                self._fill_samples()
            case ModelSaved(role="best"):
                self.best_path = event.path
                self.use_button.setEnabled(True)
            case Notice():
                self.notices.appendPlainText(f"step {event.step}: {event.message}")
            case Finished():
                self.best_path = event.best_path or self.best_path
                self.use_button.setEnabled(bool(self.best_path))
                scores = metrics.format_scores(event.best_scores)
                self.status.setText(f"Finished ({event.reason}) at step {event.step:,} after "
                                    f"{format_eta(event.elapsed)}."
                                    + (f" Best (step {event.best_step}): {scores}" if scores else ""))
                done = event.reason != "stopped"
                self.progress.setValue(self.progress.maximum() if done else self.progress.value())
            case Failed():
                self.status.setText(f"Failed at step {event.step}: {event.message}")
                self.message.emit(f"Training failed: {event.message}", "error")

    def _show_progress(self, e: StepReport) -> None:
        frac = run_progress(self.train_cfg, e.step, e.epoch, e.elapsed)
        eta = ""
        if frac:
            self.progress.setValue(int(frac * 1000))
            self.progress.setFormat(f"{frac * 100:.0f}%")
            eta = f" · about {format_eta(e.elapsed * (1 - frac) / frac)} left" if frac < 1 else ""
        self.status.setText(("Paused. " if self.client.paused else "")
                            + f"Epoch {e.epoch + 1} · step {e.step:,} · {e.tokens_seen / 1e6:.2f}M target tokens"
                            f" · {format_eta(e.elapsed)} elapsed{eta} · {e.tokens_per_sec:,.0f} tokens/s"
                            f" · {getattr(self, 'device', '')}")

    def _fill_samples(self) -> None:
        self.sample_table.setRowCount(len(self.samples))
        for row, s in enumerate(self.samples):
            for col, text in enumerate((s.source, s.reference, s.hypothesis)):
                self.sample_table.setItem(row, col, QTableWidgetItem(text))
        self.sample_table.resizeRowsToContents()
        row = max(self.sample_table.currentRow(), 0)
        if self.samples:
            self.sample_table.selectRow(row)
            self._show_sample_attention(row)

    def _show_sample_attention(self, row: int) -> None:
        if not (0 <= row < len(self.samples)):
            return
        s = self.samples[row]
        if s.attention:
            self.attention.set_matrix(np.asarray(s.attention, dtype=np.float32), s.target_tokens, s.source_tokens)
        else:
            self.attention.set_matrix(np.zeros((0, 0)), (), ())

    # -- history -----------------------------------------------------------------------------------
    def open_run(self, folder: str) -> None:
        """Replay a run's curves; keep following it while another process (the CLI) writes it."""
        if self.client.running and os.path.realpath(folder) == os.path.realpath(self.run_dir or ""):
            return  # it is the live run
        self._stop_watching()
        cfg = {}
        try:
            cfg = json.loads((Path(folder) / CONFIG_FILE).read_text(encoding="utf-8")).get("train", {})
        except (OSError, ValueError):
            pass
        self._reset_view(folder, cfg)
        self.tail = MetricsTail(Path(folder) / METRICS_FILE)
        events = self.tail.read()
        self.plots.replay(events)
        for e in events:
            self.on_event(e, plot=False)
        summary = self.history.summary(folder)
        if summary and summary.best_model:
            self.best_path = summary.best_model
            self.use_button.setEnabled(True)
        if summary is None or summary.status == "running or interrupted":
            self.watch_timer.start()

    def _poll_watched(self) -> None:
        if self.tail is None:
            return
        for e in self.tail.read():
            self.on_event(e)
            if isinstance(e, (Finished, Failed)):
                self._stop_watching()
                self.history.refresh()

    def _stop_watching(self) -> None:
        self.watch_timer.stop()
        self.tail = None

    def overlay_run(self, folder: str) -> None:
        self.plots.set_overlay(read_metrics(Path(folder) / METRICS_FILE), Path(folder).name)

    def _reset_view(self, folder: str, train_cfg: dict) -> None:
        self.run_dir, self.train_cfg = folder, train_cfg
        self.best_path, self.samples, self.last_step = "", (), None
        self.plots.clear()
        self.sample_table.setRowCount(0)
        self.attention.set_matrix(np.zeros((0, 0)), (), ())
        self.notices.clear()
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.status.setText(" ")
        self.use_button.setEnabled(False)
        self.title.setText(f"<b>{Path(folder).name}</b>")

    def _open_step_model(self, step: int) -> None:
        path = model_at_step(self.run_dir, step) if self.run_dir else None
        best = self.plots.curves.best
        if path is None and best is not None and best[0] == step and self.best_path:
            path = self.best_path
        if path:
            self.use_model.emit(path)
        else:
            self.message.emit(f"The model of step {step:,} was not kept (keep more with --keep-last, or use the best "
                              "model).", "info")
