"""Help › About: version, where the app keeps its files, the licenses of what it is built on, and the
credit that the bundled model's training data (CC-BY 2.0) requires."""

from __future__ import annotations

import html
from importlib import metadata

from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop import __version__, paths
from s2s_desktop.assets import DATA_CREDIT, app_icon, bundled_model
from s2s_desktop.engine.api import ModelInfo
from s2s_desktop.gui.model_info import corpus_names

# (distribution, what it is, license): the components a user runs when they run s2s-desktop
COMPONENTS = (
    ("PySide6-Essentials", "Qt for Python, and Qt itself", "LGPL-3.0-only"),
    ("torch", "PyTorch", "BSD-3-Clause"),
    ("sentencepiece", "SentencePiece subword tokenizer", "Apache-2.0"),
    ("pyqtgraph", "plots and heatmaps", "MIT"),
    ("numpy", "NumPy", "BSD-3-Clause"),
    ("safetensors", "model file format", "Apache-2.0"),
    ("sacrebleu", "BLEU and chrF", "Apache-2.0"),
    ("platformdirs", "where settings and runs go", "MIT"),
)

TATOEBA_CREDIT = (
    "The built-in English → German model was trained with this app on sentence pairs from the "
    "Tatoeba Project, credit: <b>tatoeba.org and www.manythings.org/anki</b>, licensed "
    '<a href="https://creativecommons.org/licenses/by/2.0/">CC BY 2.0</a> '
    '(<a href="https://tatoeba.org/eng/terms_of_use">terms</a>). The model itself is distributed under the '
    "same terms."
)


def installed_version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not found"


def about_html(model_info: ModelInfo | None = None) -> str:
    rows = "".join(f"<tr><td>{html.escape(what)}</td><td>{html.escape(dist)} {html.escape(installed_version(dist))}</td>"
                   f"<td>{html.escape(lic)}</td></tr>" for dist, what, lic in COMPONENTS)
    parts = [
        "<h3>Data credits</h3>",
        (f"<p>{TATOEBA_CREDIT}</p>" if bundled_model() is not None else
         f"<p>This installation has no built-in model (it would credit {html.escape(DATA_CREDIT)}).</p>"),
    ]
    if model_info:
        parts.append(f"<p>Open model: <code>{html.escape(model_info.path)}</code> "
                     f"({html.escape(model_info.src_lang)} → {html.escape(model_info.tgt_lang)}).")
        corpus = (model_info.training or {}).get("corpus")
        if corpus:
            parts.append(f" Trained on: {html.escape(corpus_names(corpus))}.")  # older files hold a full path
        parts.append("</p>")
    parts += [
        "<h3>Licenses</h3>",
        "<p>s2s-desktop is free software under the MIT license. It is built on:</p>",
        ("<table cellspacing='0' cellpadding='3'><tr><th align='left'>component</th><th align='left'>version</th>"
         f"<th align='left'>license</th></tr>{rows}</table>"),
        "<h3>Files</h3>",
        (f"<p>Settings: <code>{html.escape(str(paths.config_dir()))}</code><br>"
         f"Training runs: <code>{html.escape(str(paths.runs_dir()))}</code><br>"
         f"Logs: <code>{html.escape(str(paths.log_dir()))}</code></p>"),
    ]
    return "".join(parts)


class AboutDialog(QDialog):
    def __init__(self, model_info: ModelInfo | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About s2s-desktop")
        self.resize(620, 560)
        header = QHBoxLayout()
        icon_path = app_icon()
        if icon_path is not None:
            icon = QLabel()
            icon.setPixmap(QIcon(str(icon_path)).pixmap(64, 64))
            header.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        self.title = QLabel(f"<h2>s2s-desktop {html.escape(__version__)}</h2>"
                       "<p>Train, run and look inside neural sequence-to-sequence translation models.</p>",
                       wordWrap=True)
        header.addWidget(self.title, 1)
        self.body = QTextBrowser(openExternalLinks=True)
        self.body.setHtml(about_html(model_info))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.body, 1)
        layout.addWidget(buttons)
