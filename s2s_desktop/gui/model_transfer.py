"""Models in and out of the app: File > Import model… (a Hugging Face Marian / OPUS-MT folder -> one
.s2s file, then opened) and File > Export… (the open model -> a CTranslate2 model folder or an Argos
Translate package).

Both run on the engine thread (`EngineClient.import_model` / `export_model`), never on the UI
thread; a window-modal dialog shows the steps as they are reported, and the outcome arrives as a
message. One transfer at a time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop import paths
from s2s_desktop.engine.api import ModelConversion, ModelInfo

if TYPE_CHECKING:
    from s2s_desktop.gui.engine_client import EngineClient

MARIAN_FILES = ("config.json", "vocab.json", "source.spm")  # what makes a folder worth offering to import
MODEL_FILTER = "s2s-desktop models (*.s2s)"
FORMATS = {  # format -> (label, what the path is, default suffix)
    "ctranslate2": ("CTranslate2 model folder (for CTranslate2 and LibreTranslate)", "folder", "-ctranslate2"),
    "argos": ("Argos Translate package (.argosmodel)", "file", ".argosmodel"),
}


def is_marian_folder(path: str | os.PathLike) -> bool:
    """A folder that looks like a Hugging Face Marian model (the import checks the rest)."""
    folder = Path(path)
    return folder.is_dir() and (folder / "config.json").is_file() and any(
        (folder / name).is_file() for name in MARIAN_FILES[1:])


def imported_name(folder: str | os.PathLike) -> str:
    """The suggested file name for an imported folder: its name (a Hugging Face cache snapshot's
    folder is a hash: then the repository folder above it, models--Helsinki-NLP--opus-mt-en-de)."""
    folder = Path(folder).resolve()
    name = folder.name
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        name = folder.parent.parent.name.removeprefix("models--").split("--")[-1]
    return f"{name}.s2s"


def default_export_path(model_path: str, to: str) -> str:
    """Next to the model when that folder is writable (not an installed built-in model), else home."""
    model = Path(model_path)
    where = model.parent if os.access(model.parent, os.W_OK) else Path.home()
    return str(where / f"{model.stem}{FORMATS[to][2]}")


class ProgressDialog(QDialog):
    """What an import or export is doing; window-modal (the engine thread is busy with it)."""

    def __init__(self, title: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.label = QLabel(text, wordWrap=True)
        self.bar = QProgressBar(minimum=0, maximum=0)  # busy until the first step is reported
        self.step = QLabel("Starting…")
        layout = QVBoxLayout(self)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.step)
        self.resize(480, self.sizeHint().height())

    def update_progress(self, done: int, total: int, what: str) -> None:
        """Steps done of `total`; a step that has not started reporting (done 0) shows as busy."""
        self.bar.setMaximum(0 if done == 0 else max(total, 1))
        self.bar.setValue(done)
        self.step.setText(f"{what} (step {min(done + 1, total)} of {total})" if done < total else what)

    def reject(self) -> None:  # Esc cannot stop the engine's work: the dialog stays until it ends
        pass


class ExportDialog(QDialog):
    """Choose the format and where to write it."""

    def __init__(self, info: ModelInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        self.setWindowTitle("Export the model")
        self.group = QButtonGroup(self)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Export <b>{os.path.basename(info.path)}</b> for another engine:"))
        self.radios: dict[str, QRadioButton] = {}
        for fmt, (label, _, _) in FORMATS.items():
            radio = QRadioButton(label)
            self.group.addButton(radio)
            self.radios[fmt] = radio
            layout.addWidget(radio)
            radio.toggled.connect(lambda on, f=fmt: on and self.path.setText(default_export_path(info.path, f)))
        row = QHBoxLayout()
        self.path = QLineEdit()
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        layout.addLayout(row)
        if info.target_language:
            layout.addWidget(QLabel(f"Sources get the target-language token >>{info.target_language}<<."))
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.radios["ctranslate2"].setChecked(True)
        self.resize(560, self.sizeHint().height())

    @property
    def format(self) -> str:
        return next(fmt for fmt, radio in self.radios.items() if radio.isChecked())

    def _browse(self) -> None:
        if FORMATS[self.format][1] == "folder":
            parent = QFileDialog.getExistingDirectory(self, "Folder to write the CTranslate2 model in",
                                                      str(Path(self.path.text()).parent))
            if parent:
                self.path.setText(str(Path(parent) / Path(self.path.text()).name))
        else:
            path, _ = QFileDialog.getSaveFileName(self, "Save the Argos Translate package as", self.path.text(),
                                                  "Argos Translate packages (*.argosmodel)")
            if path:
                self.path.setText(path if path.endswith(".argosmodel") else path + ".argosmodel")


class ModelTransfer(QObject):
    """The import and export flows of the window."""

    message = Signal(str, str)  # text, level
    imported = Signal(str)  # the .s2s written: the window opens it

    def __init__(self, client: EngineClient, parent: QWidget) -> None:
        super().__init__(parent)
        self.client = client
        self.dialog: ProgressDialog | None = None
        self.kind = ""  # "import" or "export" while one runs
        self.subject = ""
        client.converted.connect(self._done)
        client.conversion_progressed.connect(self._progress)

    @property
    def busy(self) -> bool:
        return self.dialog is not None

    # -- import ------------------------------------------------------------------------------------
    def ask_import(self, folder: str | None = None) -> None:
        window = self.parent()
        if self.busy:
            self.message.emit("An import or export is already running; wait for it to finish.", "warning")
            return
        if folder is None:
            folder = QFileDialog.getExistingDirectory(window, "Import a Hugging Face Marian (OPUS-MT) model folder",
                                                      str(Path.home()))
            if not folder:
                return
        models = paths.models_dir()
        try:
            models.mkdir(parents=True, exist_ok=True)
        except OSError:
            models = Path.home()
        out, _ = QFileDialog.getSaveFileName(window, "Save the imported model as", str(models / imported_name(folder)),
                                             MODEL_FILTER)
        if out:
            self.start_import(folder, out if out.endswith(".s2s") else out + ".s2s")

    def start_import(self, folder: str, out: str) -> None:
        self.kind, self.subject = "import", folder
        self.dialog = ProgressDialog("Importing a model", f"{folder}\n→ {out}", self.parent())
        self.client.import_model(folder, out)
        self.dialog.show()

    # -- export ------------------------------------------------------------------------------------
    def ask_export(self, info: ModelInfo | None) -> None:
        if info is None:
            return
        if self.busy:
            self.message.emit("An import or export is already running; wait for it to finish.", "warning")
            return
        dialog = ExportDialog(info, self.parent())
        if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.path.text().strip():
            return
        out = dialog.path.text().strip()
        if os.path.exists(out) and not self.confirm_replace(out):
            return
        self.start_export(info, dialog.format, out)

    def confirm_replace(self, path: str) -> bool:
        answer = QMessageBox.question(self.parent(), "Replace it?", f"{path} already exists. Replace it?",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def start_export(self, info: ModelInfo, to: str, out: str) -> None:
        self.kind, self.subject = "export", info.path
        self.dialog = ProgressDialog("Exporting the model", f"{info.path}\n→ {out} ({FORMATS[to][0]})", self.parent())
        self.client.export_model(info.path, to, out, info.target_language)
        self.dialog.show()

    # -- outcome -----------------------------------------------------------------------------------
    def _progress(self, done: int, total: int, what: str) -> None:
        if self.dialog is not None:
            self.dialog.update_progress(done, total, what)

    def _done(self, result: ModelConversion) -> None:
        kind = self.kind
        self._close()
        notes = "".join(f" Note: {n}" for n in result.notices)
        if kind == "import":
            self.message.emit(f"Imported {os.path.basename(self.subject)} into {result.path} "
                              f"in {result.seconds:.1f} s.{notes}", "info")
            self.imported.emit(result.path)
        else:
            self.message.emit(f"Exported to {result.path} in {result.seconds:.1f} s.{notes}", "info")

    def fail(self, message: str) -> None:
        kind, subject = self.kind, self.subject
        self._close()
        verb = "import" if kind == "import" else "export"
        self.message.emit(f"Could not {verb} {os.path.basename(subject) or 'the model'}: {message}", "error")

    def _close(self) -> None:
        if self.dialog is not None:
            self.dialog.done(0)
            self.dialog.deleteLater()
            self.dialog = None
        self.kind = ""
