"""The model info view: what the open model is, how it was trained, and where it runs."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from s2s_desktop.assets import DATA_CREDIT, bundled_model
from s2s_desktop.engine import metrics
from s2s_desktop.engine.api import ModelInfo
from s2s_desktop.engine.models.registry import describe_model


def describe(info: ModelInfo) -> list[tuple[str, str]]:
    """(field, value) rows for the model info from `Translator.info()`."""
    tr = info.training or {}
    rows = [
        ("File", os.path.basename(info.path)),
        ("Size", f"{info.file_size / 1e6:.1f} MB ({info.storage or 'float32'})"),
        ("Languages", f"{info.src_lang} → {info.tgt_lang}"),
        ("Architecture", describe_model(info.model)),
        ("Parameters", f"{info.parameters:,}"),
        ("Vocabulary", f"{info.src_vocab:,} / {info.tgt_vocab:,}{' (joint)' if info.joint_vocab else ''}"),
    ]
    if tr:
        corpus = str(tr.get("corpus", "?"))
        rows.append(("Training data", " + ".join(os.path.basename(part) for part in corpus.split(" + "))))
        minutes = tr.get("train_seconds", 0) / 60
        trained = f"{tr.get('steps', '?')} steps, {tr.get('epochs', '?')} epochs, {minutes:.1f} min on {tr.get('device', '?')}"
        rows.append(("Training", trained))
        best = tr.get("best") or {}
        if best:
            rows.append(("Best validation", metrics.format_scores(best)))
    if _is_bundled(info.path):  # CC-BY 2.0 asks for the credit wherever the model is used
        rows.append(("Data credit", f"Tatoeba: {DATA_CREDIT} (CC BY 2.0)"))
    rows.append(("Device", f"{info.device or '?'} ({info.precision or '?'} decoding)"))
    return rows


def _is_bundled(path: str) -> bool:
    bundled = bundled_model()
    return bundled is not None and os.path.realpath(path) == os.path.realpath(bundled)


class ModelInfoView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = QFormLayout(self)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.rows: dict[str, str] = {}
        self.show_info(None)

    def show_info(self, info: ModelInfo | None) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.rows = dict(describe(info)) if info else {}
        if not info:
            self.form.addRow(QLabel("No model open."))
            return
        for key, value in self.rows.items():
            label = QLabel(value, wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
            if key == "File":
                label.setToolTip(info.path)
            elif key == "Training data":
                label.setToolTip(str((info.training or {}).get("corpus", "")))
            self.form.addRow(f"{key}:", label)
