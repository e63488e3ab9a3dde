"""The Train tab: a new-run form and the run history on the left; on the right the run being watched
(status, progress with ETA, pause/resume/stop, live plots, and below them the sample translations
with the attention map of a chosen validation sentence, the notices, and the table of compared runs).

The status line is the run's state, never a stale one: elapsed time and ETA move on every second
between step reports, "validating…" shows while the trainer validates, "(stopping: …)" lasts until the
run has ended, and a finished run's bar is full. A first Stop lets the run validate and save; a
second one saves at once, without the validation.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QProcess, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QInputDialog,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop.engine import metrics
from s2s_desktop.engine.api import (
    EvalReport,
    Event,
    Failed,
    Finished,
    ModelSaved,
    Notice,
    RunStarted,
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
from s2s_desktop.gui.durations import format_eta
from s2s_desktop.gui.quit_saving import QuitSavingNote
from s2s_desktop.gui.run_compare import load_run
from s2s_desktop.gui.run_history import RunHistory, finish_reason
from s2s_desktop.gui.run_status import (
    LIMIT_REASONS,
    LiveClock,
    eta_at,
    extend_limit,
    is_validating,
    run_progress,
    status_text,
    weak_model_warning,
)
from s2s_desktop.gui.run_view import COMPARE_TAB, STOP_TIP, RunView
from s2s_desktop.gui.training_form import TrainingForm
from s2s_desktop.gui.training_worker import TrainingClient
from s2s_desktop.gui.worker import Failure, FailureKind

__all__ = ["TrainingPanel", "run_progress"]
WATCH_MS = 1000  # how often a run written by another process (the CLI) is re-read
STATUS_MS = 1000  # how often the status line's elapsed time and ETA move on between reports
STOPPING = " (stopping: validating and saving a model… press Stop again to save it without validating)"
STOPPING_NOW = " (stopping now: saving a model without validating…)"
LIMIT_UNITS = {"max-minutes": "minutes", "max-steps": "steps", "max-epochs": "epochs"}
ALREADY_TRAINING = "A run is already training; stop it first."


class TrainingPanel(QWidget):
    use_model = Signal(str)  # a model file to open in the translate panel
    process_done = Signal(int)  # a distributed run's launcher exited (its status)
    message = Signal(str, str)  # text, level: for the window's message bar
    run_ended = Signal()  # the run training here ended: messages about it (`transient`) are stale

    def __init__(self, extra_run_folders: list[str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = TrainingClient(self)
        self.run_dir: str | None = None
        self.train_cfg: dict[str, Any] = {}
        self.last_step: StepReport | None = None
        self.best_path = ""
        self.tail: MetricsTail | None = None
        self.process: QProcess | None = None
        self.best_scores: dict[str, Any] = {}  # of the best model so far (step, loss, ppl, metrics)
        self.last_eval_step = 0
        self.device = ""
        self.transient = {ALREADY_TRAINING}  # messages that lose their meaning when the run ends
        self.clock = LiveClock()  # training seconds between the step reports of the run trained here
        self._live = False  # the run shown is training here (its status moves on with the clock)
        self.quit_note: QuitSavingNote | None = None  # shown while the run saves before the window closes
        self._warmed = False
        self.watch_timer = QTimer(self, interval=WATCH_MS)
        self.watch_timer.timeout.connect(self._poll_watched)
        self.status_timer = QTimer(self, interval=STATUS_MS)
        self.status_timer.timeout.connect(self._refresh_status)

        self.form = TrainingForm()  # it scrolls its fields itself; its buttons stay in view
        self.history = RunHistory(extra_run_folders)
        self.left = QTabWidget()
        self.left.addTab(self.form, "New run")
        self.left.addTab(self.history, "History")
        self.left.setMinimumWidth(self.form.minimumSizeHint().width())

        self.view = RunView()
        v = self.view  # the widgets tests and the window reach through the panel
        self.title, self.status, self.progress = v.title, v.status, v.progress
        self.pause_button, self.stop_button, self.use_button = v.pause_button, v.stop_button, v.use_button
        self.plots, self.sample_table, self.attention = v.plots, v.sample_table, v.attention
        self.notices, self.compare, self.bottom_tabs = v.notices, v.compare, v.bottom_tabs
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.use_button.clicked.connect(self._use_best)
        self.plots.eval_point_clicked.connect(self._open_step_model)
        right = v
        self.splitter = QSplitter(Qt.Orientation.Horizontal, childrenCollapsible=False)
        self.splitter.addWidget(self.left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)  # the form keeps its width; the plots get the rest
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([self.left.minimumSizeHint().width() + 8, right.minimumSizeHint().width()])
        # Below its minimum size (a small screen, a banner above the tabs) the tab scrolls instead of
        # squeezing the plots flat or making the window grow past the screen.
        self.scroll = QScrollArea(widgetResizable=True, frameShape=QScrollArea.Shape.NoFrame)
        self.scroll.setWidget(self.splitter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll)

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

    def warm_up(self) -> None:
        """Paint the tab once, hidden, while torch imports at start-up: its plots' and attention map's
        first paint (65-70 ms of one-off pyqtgraph work) otherwise came when the tab was first opened."""
        if not self._warmed:
            self._warmed = True
            self.attention.warm_up()
        page = self.parentWidget()
        if page is not None and not self.isVisible():
            self.resize(page.size())  # (a hidden tab page keeps its first size)
        self.grab()

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
            self.message.emit(ALREADY_TRAINING, "warning")
            return
        self._stop_watching()
        self._reset_view(train_cfg["out_dir"], train_cfg)
        self.view.set_title(f"<b>{Path(train_cfg['out_dir']).name}</b>: {'resuming' if resume else 'preparing the data'}…")
        self.client.start(model_cfg, train_cfg, resume)
        self._set_running(True)
        self._go_live(train_cfg["out_dir"])

    def start_distributed(self, model_cfg: dict, train_cfg: dict, processes: int) -> None:
        """Several processes (one per GPU) cannot share this app's thread: the run is an `s2s train
        --config RUN/config.json --nproc-per-node N` child process, watched through its metrics.jsonl
        like a CLI run. The config.json written here is the one the run itself then rewrites."""
        from s2s_desktop.engine.api import ModelConfig, TrainConfig
        from s2s_desktop.engine.config import run_config, write_run_config
        from s2s_desktop.errors import S2SError

        if self.client.running or self.process is not None:
            self.message.emit(ALREADY_TRAINING, "warning")
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
        self.view.set_title(f"<b>{Path(train_cfg['out_dir']).name}</b>: starting {processes} processes…")
        self.tail = MetricsTail(Path(train_cfg["out_dir"]) / METRICS_FILE)
        self.watch_timer.start()
        self.stop_button.setEnabled(True)
        self.pause_button.setEnabled(False)  # a distributed run can be stopped, not paused
        self.form.start_button.setEnabled(False)
        self._go_live(train_cfg["out_dir"])

    def _on_process_finished(self, code: int, _status) -> None:
        output = bytes(self.process.readAll()).decode("utf-8", errors="replace").strip()
        self.process.deleteLater()
        self.process = None
        self._poll_watched()
        self._stop_watching()
        self._set_running(False)
        self._end_live()
        if code != 0:
            last = output.splitlines()[-1] if output else f"exit status {code}"
            self.message.emit(f"The distributed run ended with an error: {last}", "error")
        self.process_done.emit(code)

    def resume_run(self, folder: str) -> None:
        """Continue a run where it stopped. One that ended at its limit (minutes, steps, epochs) needs
        a new one: the user is asked how much more (`ask_more`)."""
        try:
            cfg = json.loads((Path(folder) / CONFIG_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            self.message.emit(f"Cannot resume {folder}: its {CONFIG_FILE} cannot be read ({exc}).", "error")
            return
        train = cfg["train"]
        reason = finish_reason(folder)
        if reason in LIMIT_REASONS:
            more = self.ask_more(reason, train)
            if not more:
                return
            train = extend_limit(train, reason, more)
        self.start(cfg["model"], train, resume=True)
        self.plots.replay(read_metrics(Path(folder) / METRICS_FILE))

    def ask_more(self, reason: str, train: dict[str, Any]) -> int | None:
        """How many more minutes/steps/epochs a run that reached its limit should train (None: cancel)."""
        unit = LIMIT_UNITS[reason]
        limit = train.get(LIMIT_REASONS[reason]) or 0
        value, ok = QInputDialog.getInt(
            self, "Resume the run", f"The run reached its limit of {limit:g} {unit}.\nTrain for how many more {unit}?",
            max(int(limit), 1), 1, 10_000_000)
        return value if ok else None

    def toggle_pause(self) -> None:
        paused = not self.client.paused
        self.client.set_paused(paused)
        (self.clock.pause if paused else self.clock.resume)()
        self.pause_button.setText("Resume" if paused else "Pause")
        self._refresh_status()

    def stop(self) -> None:
        """The first call: finish the step, validate, save a model, end. The second: save at once,
        without the validation (which can take a minute on a large validation set)."""
        if self.view.stopping:
            self.client.stop(now=True)
            self.stop_button.setEnabled(False)
            self.view.set_stopping(STOPPING_NOW)
            return
        if self.process is not None:
            self.process.terminate()  # SIGTERM: every process finishes its step and rank 0 saves
        self.client.stop()
        self.pause_button.setEnabled(False)
        self.pause_button.setText("Pause")
        self.clock.resume()
        self.stop_button.setText("Stop now")
        self.stop_button.setToolTip("Save the model as it is and stop, without validating it first")
        self.stop_button.setEnabled(self.process is None and self.client.running)  # SIGTERM has no second level
        self.view.set_stopping(STOPPING)

    def stop_to_quit(self) -> QuitSavingNote:
        """The window is closing: stop the run and say so at once, in a note that stays until the run has
        saved (the window closes right after); its button is the second Stop."""
        if not self.view.stopping:
            self.stop()
        self.quit_note = QuitSavingNote(self.stop_button.isEnabled(), self.view.stopping == STOPPING_NOW, self.window())
        self.quit_note.skip_validation.connect(self.stop)
        self.run_ended.connect(self.quit_note.accept)
        self.quit_note.open()
        return self.quit_note

    def _set_running(self, running: bool) -> None:
        self.pause_button.setEnabled(running)
        self.pause_button.setText("Pause")
        self.stop_button.setEnabled(running)
        self.stop_button.setText("Stop")
        self.stop_button.setToolTip(STOP_TIP)
        self.form.start_button.setEnabled(not running and self.form.revalidate())
        if not running:
            self.view.set_stopping("")

    def _on_done(self) -> None:
        self._set_running(False)
        self._end_live()

    def _go_live(self, folder: str) -> None:
        """The run in `folder` trains here: the status moves on every second, History lists it as running."""
        self._live = True
        self.clock.set(0.0)
        self.status_timer.start()
        self._refresh_status()
        self.history.set_live(folder)

    def _end_live(self) -> None:
        self._live = False
        self.clock.pause()
        self.status_timer.stop()
        self.history.set_live(None)
        self.history.refresh()  # its final state
        self.run_ended.emit()

    def _on_failed(self, failure: Failure) -> None:
        self.message.emit(f"Error while {failure.action}: {failure.message}", "error")
        if failure.kind is not FailureKind.CHECK_CORPUS:
            self.view.set_title(f"<b>{Path(self.run_dir or '').name}</b>: failed")

    # -- events (live, or from a watched metrics.jsonl) ---------------------------------------------
    def on_event(self, event: Event, plot: bool = True) -> None:
        if plot:
            self.plots.add_event(event)
        match event:
            case RunStarted(data=d):
                self.train_cfg = event.train
                self.view.set_title(f"<b>{Path(event.run_dir).name}</b>: {event.model.get('arch', '?')}, "
                                    f"{event.num_params:,} parameters, {d.train_pairs:,} training pairs, on {event.device}")
                self.device = event.device
                if plot and self._live:
                    self.history.refresh()  # the new run's folder is there now
            case StepReport():
                self.last_step = event
                self.clock.set(event.elapsed, running=self._live and self.client.running and not self.client.paused)
                self._refresh_status()
            case EvalReport():
                self.last_eval_step = max(self.last_eval_step, event.step)
                if event.is_best:
                    self.best_scores = {"step": event.step, "loss": event.loss, "ppl": event.ppl, **event.scores}
                if self.last_step is not None and plot:
                    self._refresh_status()  # "validating…" ends
            case SampleTranslations():
                self.view.fill_samples(event.samples)
            case ModelSaved(role="best"):
                self.best_path = event.path
                self.use_button.setEnabled(True)
            case Notice():
                self.view.add_notice(f"step {event.step}: {event.message}")
            case Finished():
                self.best_path = event.best_path or self.best_path
                self.best_scores = {"step": event.best_step, **event.best_scores} if event.best_scores \
                    else self.best_scores
                self.use_button.setEnabled(bool(self.best_path))
                self._end_status()
                scores = metrics.format_scores(event.best_scores)
                self.status.setText(f"Finished ({event.reason}) at step {event.step:,} after "
                                    f"{format_eta(event.elapsed)}."
                                    + (f" Best (step {event.best_step}): {scores}" if scores else ""))
                self.view.show_ended(stopped=event.reason == "stopped")
                if self.compare.runs and plot:
                    self.compare.set_runs([load_run(r) for r in self._compared()])
            case Failed():
                self._end_status()
                self.status.setText(f"Failed at step {event.step}: {event.message}")
                self.message.emit(f"Training failed: {event.message}", "error")

    def _end_status(self) -> None:
        """The run has ended: no more clock, no stopping note."""
        self.status_timer.stop()
        self.clock.pause()
        self.view.set_stopping("")

    def _refresh_status(self) -> None:
        """The status line and bar from the last report, moved on by the time since (for the run
        training here: the clock runs between reports, not while paused)."""
        e, train = self.last_step, self.train_cfg
        paused = self.client.paused and self.client.running
        if e is None:
            if self._live:
                self.status.setText(("Paused. " if paused else "") + f"Preparing the data… {format_eta(self.clock.elapsed)}")
            return
        elapsed = max(self.clock.elapsed, e.elapsed)
        frac = run_progress(train, e.step, e.epoch, elapsed)
        if frac is not None:
            self.progress.setValue(int(frac * 1000))
            self.progress.setFormat(f"{frac * 100:.0f}%")
        eta = eta_at(e, train)
        eta = max(eta - self.clock.drift, 0.0) if eta is not None else None
        validating = is_validating(train, e.step, self.last_eval_step)
        self.status.setText(status_text(e, train, elapsed, eta, self.device, paused, validating))

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
        if summary and summary.best:
            self.best_scores = dict(summary.best)
        if summary is None or summary.status == "running or interrupted":
            self.watch_timer.start()
        self.compare.set_runs([load_run(folder)])

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
        """Draw another run dashed over the one shown, and compare their settings and scores."""
        self.plots.set_overlay(read_metrics(Path(folder) / METRICS_FILE), Path(folder).name)
        self._overlay_dir = folder
        self.compare.set_runs([load_run(r) for r in self._compared()])
        self.bottom_tabs.setCurrentIndex(COMPARE_TAB)

    def _compared(self) -> list[str]:
        """The run shown (when it has a folder yet) and the one overlaid."""
        runs = [self.run_dir] if self.run_dir and (Path(self.run_dir) / CONFIG_FILE).is_file() else []
        overlay = getattr(self, "_overlay_dir", None)
        return runs + ([overlay] if overlay and self.plots.overlay is not None else [])

    def _reset_view(self, folder: str, train_cfg: dict) -> None:
        self.run_dir, self.train_cfg = folder, train_cfg
        self.best_path, self.last_step = "", None
        self.best_scores, self.last_eval_step, self._overlay_dir = {}, 0, None
        self.view.reset(Path(folder).name)

    def _use_best(self) -> None:
        """Open the best model in the Translate tab; warn when it scores nearly nothing."""
        if not self.best_path:
            return
        self.use_model.emit(self.best_path)
        warning = weak_model_warning(self.best_scores)
        if warning:
            self.message.emit(warning, "warning")

    def _open_step_model(self, step: int) -> None:
        """A click on a validation point: open the model saved at that step, or say why there is none."""
        path = model_at_step(self.run_dir, step) if self.run_dir else None
        best = self.plots.curves.best
        if path is None and best is not None and best[0] == step and self.best_path:
            path = self.best_path
        if path:
            self.use_model.emit(path)
            return
        best_step = best[0] if best is not None and self.best_path else None
        instead = f" Use this model opens the best one (step {best_step:,})." if best_step else ""
        self.message.emit(f"The model of step {step:,} was not kept: a run keeps its best and its last model "
                          f"(s2s train --keep-last N keeps the last N as well).{instead}", "info")
