"""The model info view: what the open model is, how it was trained, and where it runs."""

from __future__ import annotations

import html
import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

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
    prov = info.provenance or {}
    if prov:
        rows.append(("Imported", f"imported from {prov.get('imported_from') or 'another format'}"))
        rows.append(("Repository", prov.get("repository") or "(not stated in the folder)"))
        rows.append(("Licence", prov.get("license") or "(not stated: check the model's source before using it)"))
    if info.target_languages:
        rows.append(("Target languages", f"{', '.join(info.target_languages)} (now: {info.target_language or 'none'})"))
    if tr:
        rows.append(("Training data", corpus_names(tr.get("corpus", "?"))))
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


def corpus_names(corpus: object) -> str:
    """The training corpus by file name only: a model file may carry the path it was trained from on
    another machine (the built-in model: a developer's temporary folder), which means nothing here."""
    return " + ".join(os.path.basename(part.strip()) for part in str(corpus).split(" + "))


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
                label.setToolTip(_corpus_tip(str((info.training or {}).get("corpus", ""))))
            elif key == "Licence" and (info.provenance or {}).get("license_text"):
                label.setToolTip("<p>" + html.escape(info.provenance["license_text"][:3000]).replace("\n", "<br>") + "</p>")
                label.setText(f"{value} (hover for the licence text)")
            self.form.addRow(f"{key}:", label)
        notices = (info.provenance or {}).get("notices") or []
        if notices:
            box = QLabel("<br>".join(f"• {html.escape(n)}" for n in notices), wordWrap=True,
                         textFormat=Qt.TextFormat.RichText,
                         textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
            box.setStyleSheet("color: palette(mid);")
            self.form.addRow("Import notes:", box)
            self.rows["Import notes"] = " ".join(notices)


def _corpus_tip(corpus: str) -> str:
    """The full paths only where they exist on this machine (a user's own runs); else nothing."""
    parts = [part.strip() for part in corpus.split(" + ") if part.strip()]
    return "\n".join(parts) if parts and all(os.path.exists(part) for part in parts) else ""


def model_panel(view: ModelInfoView) -> QWidget:
    """The Model panel beside the translation: a title over the view, which scrolls when it is long
    (the scroll area also keeps a new model's rows from re-laying out the whole window)."""
    panel = QWidget(objectName="model-panel")
    layout = QVBoxLayout(panel)
    layout.setContentsMargins(6, 0, 0, 0)
    title = QLabel("<b>Model</b>")
    layout.addWidget(title)
    scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame,
                         horizontalScrollBarPolicy=Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(view)
    layout.addWidget(scroll, 1)
    panel.setMinimumWidth(PANEL_MIN_WIDTH)
    return panel


PANEL_MIN_WIDTH = 270  # the rows' labels and their shortest wrapped values, and a vertical scroll bar
