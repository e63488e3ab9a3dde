"""The table of compared runs (the one shown and the one overlaid): their settings and final scores side
by side, the rows that differ in bold, as TensorBoard's hyper-parameter table does."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from s2s_desktop.engine import metrics
from s2s_desktop.engine.models.registry import describe_model
from s2s_desktop.engine.training.run_folder import CONFIG_FILE, RunSummary, summarize_run
from s2s_desktop.errors import S2SError
from s2s_desktop.gui.durations import format_eta

# (label, section, key) of the settings always shown; any other setting that differs follows them.
SETTINGS = (("Languages", "train", "languages"), ("Corpus", "train", "corpus"), ("Vocabulary", "train", "vocab_size"),
            ("Batch (target tokens)", "train", "batch_tokens"), ("Learning rate", "train", "lr"),
            ("LR schedule", "train", "schedule"), ("Warmup steps", "train", "warmup_steps"),
            ("Dropout", "model", "dropout"), ("Label smoothing", "train", "label_smoothing"),
            ("Best model by", "train", "early_stopping"))
# Settings that say where or how long, not what was learned (or that every run has its own of).
NOT_COMPARED = {"out_dir", "train_tsv", "train_src", "train_tgt", "valid_tsv", "valid_src", "valid_tgt", "src_lang",
                "tgt_lang", "device", "threads", "src_vocab_size", "tgt_vocab_size"}


@dataclass(frozen=True)
class ComparedRun:
    name: str
    config: dict[str, Any]  # config.json: {"model": ..., "train": ...}
    summary: RunSummary | None


def load_run(folder: str | Path) -> ComparedRun:
    folder = Path(folder)
    try:
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    return ComparedRun(folder.name, config if isinstance(config, dict) else {}, summarize_run(folder))


def _setting(run: ComparedRun, section: str, key: str) -> Any:
    train, model = run.config.get("train", {}), run.config.get("model", {})
    if key == "languages":
        return f"{train.get('src_lang', '?')} → {train.get('tgt_lang', '?')}"
    if key == "corpus":
        files = [train.get(k) for k in ("train_tsv", "train_src", "train_tgt") if train.get(k)]
        return " + ".join(Path(f).name for f in files) or "?"
    return (model if section == "model" else train).get(key, "")


def _text(value: Any) -> str:
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.4g}" if abs(value) < 0.01 else f"{value:.2f}"
    return "" if value is None else str(value)


def compare_rows(runs: list[ComparedRun]) -> list[tuple[str, list[str]]]:
    """(row label, one text per run): the model, the settings, then the results."""
    rows: list[tuple[str, list[str]]] = []

    def model_line(run: ComparedRun) -> str:
        try:
            return describe_model(run.config.get("model", {}))
        except (S2SError, TypeError, ValueError):
            return str(run.config.get("model", {}).get("arch", "?"))

    rows.append(("Model", [model_line(r) for r in runs]))
    for label, section, key in SETTINGS:
        rows.append((label, [_text(_setting(r, section, key)) for r in runs]))
    shown = {key for _, _, key in SETTINGS} | NOT_COMPARED
    for section in ("model", "train"):
        keys = sorted({k for r in runs for k in r.config.get(section, {})} - shown)
        for key in keys:
            values = [_text(r.config.get(section, {}).get(key)) for r in runs]
            if len(set(values)) > 1:
                rows.append((key.replace("_", " "), values))
    summaries = [r.summary for r in runs]
    rows.append(("Status", [s.status if s else "?" for s in summaries]))
    rows.append(("Steps", [f"{s.steps:,}" if s else "" for s in summaries]))
    rows.append(("Training time", [format_eta(s.elapsed) if s else "" for s in summaries]))
    rows.append(("Best at step", [_text(s.best.get("step")) if s else "" for s in summaries]))
    score_keys = ["loss", "ppl", *(m for m in metrics.METRICS if any(s and m in s.best for s in summaries))]
    for key in score_keys:
        label = {"loss": "Validation loss", "ppl": "Perplexity"}.get(key) or f"Best {metrics.label(key)}"
        rows.append((label, [_text(s.best.get(key)) if s else "" for s in summaries]))
    return rows


class RunCompare(QTableWidget):
    """One column per run, one row per setting or score; rows whose values differ are bold."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 0, parent)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setWordWrap(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.runs: list[ComparedRun] = []

    def set_runs(self, runs: list[ComparedRun]) -> None:
        self.runs = runs
        rows = compare_rows(runs) if runs else []
        self.clear()
        self.setColumnCount(len(runs))
        self.setRowCount(len(rows))
        self.setHorizontalHeaderLabels([r.name + (" (dashed)" if i else "") for i, r in enumerate(runs)])
        self.setVerticalHeaderLabels([label for label, _ in rows])
        bold = QFont(self.font())
        bold.setBold(True)
        for row, (_label, values) in enumerate(rows):
            differs = len(runs) > 1 and len(set(values)) > 1
            for col, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                if differs:
                    item.setFont(bold)
                self.setItem(row, col, item)

    def value(self, label: str, column: int) -> str:
        """The text of row `label` in `column` (for tests and the CSV-minded)."""
        for row in range(self.rowCount()):
            if self.verticalHeaderItem(row).text() == label:
                return self.item(row, column).text()
        raise KeyError(label)
