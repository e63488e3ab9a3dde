"""Past and running training runs, listed from the app's runs folder (and folders the user added):
open one to replay its curves, overlay a second, resume an interrupted one (or one that reached its
limit, with a new one), export curves as CSV. The run training in this app is "running", and no run
can be resumed while it trains."""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop import paths
from s2s_desktop.engine import metrics
from s2s_desktop.engine.training.run_folder import (
    METRICS_FILE,
    RESUME_FILE,
    RunSummary,
    curves_csv,
    list_runs,
    read_metrics,
)
from s2s_desktop.gui.run_status import LIMIT_REASONS

TAIL_BYTES = 8192  # the end of metrics.jsonl read for the reason a run finished


def finish_reason(folder: str | Path) -> str:
    """Why a run last finished ("max-minutes", "stopped", ...), read from the end of its metrics.jsonl
    only (a long run's log is megabytes); "" when it has not finished."""
    try:
        with open(Path(folder) / METRICS_FILE, "rb") as fh:
            fh.seek(max(fh.seek(0, 2) - TAIL_BYTES, 0))
            lines = fh.read().splitlines()
    except OSError:
        return ""
    for raw in reversed(lines):
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("event") in ("finished", "started"):
            return str(line.get("reason", "")) if line["event"] == "finished" else ""
    return ""


def resumable(run: RunSummary) -> bool:
    """Interrupted or stopped runs, and finished ones that ended at a limit (resumed with a new one)."""
    if run.can_resume:
        return True
    return (run.status == "finished" and (Path(run.path) / RESUME_FILE).is_file()
            and finish_reason(run.path) in LIMIT_REASONS)


RESUME_TIP = "Continue an interrupted or stopped run, or one that reached its limit"


class RunHistory(QWidget):
    open_requested = Signal(str)  # run folder: replay (and watch, if it is still running)
    overlay_requested = Signal(str)
    resume_requested = Signal(str)
    export_failed = Signal(str)

    def __init__(self, extra_folders: list[str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.extra_folders = list(extra_folders or [])
        self.runs: list[RunSummary] = []
        self.live: str | None = None  # the run training in this app
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Run", "Started", "Model", "Steps", f"Best {metrics.HEADLINE.label}", "Status"])
        self.tree.setRootIsDecorated(False)
        self.tree.setColumnWidth(0, 180)
        self.tree.itemDoubleClicked.connect(lambda *_: self._emit(self.open_requested))
        self.tree.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.open_button = QPushButton("Open", toolTip="Replay the run's curves (and follow it if it is running)")
        self.overlay_button = QPushButton("Overlay", toolTip="Draw this run dashed over the one shown")
        self.resume_button = QPushButton("Resume", toolTip=RESUME_TIP)
        self.export_button = QPushButton("Export CSV…")
        self.add_button = QPushButton("Add folder…", toolTip="List runs from another folder (e.g. one made by s2s train)")
        self.refresh_button = QPushButton("Refresh")
        self.open_button.clicked.connect(lambda: self._emit(self.open_requested))
        self.overlay_button.clicked.connect(lambda: self._emit(self.overlay_requested))
        self.resume_button.clicked.connect(lambda: self._emit(self.resume_requested))
        self.export_button.clicked.connect(self._export)
        self.add_button.clicked.connect(self._add_folder)
        self.refresh_button.clicked.connect(self.refresh)
        buttons = QHBoxLayout()
        for b in (self.open_button, self.overlay_button, self.resume_button, self.export_button):
            buttons.addWidget(b)
        more = QHBoxLayout()
        more.addWidget(self.add_button)
        more.addWidget(self.refresh_button)
        more.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tree, 1)
        layout.addLayout(buttons)
        layout.addLayout(more)
        self.refresh()

    def refresh(self) -> None:
        """Read the run folders again (each run's metrics.jsonl: not for every tick of a live run)."""
        self.runs = list_runs(paths.runs_dir(), *self.extra_folders)
        self._render()

    def _render(self) -> None:
        current = self.selected()
        self.tree.clear()
        for run in self.runs:
            best = run.best.get(metrics.HEADLINE.name)
            item = QTreeWidgetItem([
                run.name, datetime.datetime.fromtimestamp(run.started).strftime("%Y-%m-%d %H:%M"),
                f"{run.arch} {run.src_lang}→{run.tgt_lang}", f"{run.steps:,}",
                f"{best:.2f}" if isinstance(best, (int, float)) else "", "running" if self._is_live(run) else run.status,
            ])
            item.setData(0, Qt.ItemDataRole.UserRole, run.path)
            item.setToolTip(0, run.path)
            if run.best:
                item.setToolTip(4, "Best validation: " + metrics.format_scores(run.best))
            self.tree.addTopLevelItem(item)
            if run.path == current:
                self.tree.setCurrentItem(item)
        self._update_buttons()

    def selected(self) -> str | None:
        item = self.tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item else None

    def select(self, folder: str) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if os.path.realpath(item.data(0, Qt.ItemDataRole.UserRole)) == os.path.realpath(folder):
                self.tree.setCurrentItem(item)

    def summary(self, folder: str) -> RunSummary | None:
        return next((r for r in self.runs if r.path == folder), None)

    def set_live(self, folder: str | None) -> None:
        """The run training in this app (None: none): listed as running, and Resume is off meanwhile."""
        if folder != self.live:
            self.live = folder
            self._render()

    def _is_live(self, run: RunSummary) -> bool:
        return self.live is not None and os.path.realpath(run.path) == os.path.realpath(self.live)

    def status_of(self, folder: str) -> str:
        """The Status column of a listed run."""
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if os.path.realpath(item.data(0, Qt.ItemDataRole.UserRole)) == os.path.realpath(folder):
                return item.text(5)
        return ""

    def _update_buttons(self) -> None:
        run = self.summary(self.selected()) if self.selected() else None
        for b in (self.open_button, self.overlay_button, self.export_button):
            b.setEnabled(run is not None)
        training = self.live is not None
        self.resume_button.setEnabled(bool(run and not training and resumable(run)))
        self.resume_button.setToolTip("A run is training: stop it before resuming another" if training else RESUME_TIP)

    def _emit(self, signal) -> None:
        if self.selected():
            signal.emit(self.selected())

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A run folder, or a folder of runs", str(Path.home()))
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str) -> None:
        if folder not in self.extra_folders:
            self.extra_folders.append(folder)
        self.refresh()
        self.select(folder)

    def _export(self) -> None:
        folder = self.selected()
        if not folder:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export curves", str(Path(folder) / "curves.csv"), "CSV (*.csv)")
        if path:
            self.export_csv(folder, path)

    def export_csv(self, folder: str, path: str) -> None:
        try:
            Path(path).write_text(curves_csv(read_metrics(Path(folder) / METRICS_FILE)), encoding="utf-8")
        except OSError as exc:
            self.export_failed.emit(f"Could not export the curves to {path}: {exc}")
