"""File › Model library… and the translate panel's swap (⇄): the models the app knows, and the model for
the other direction.

`LibraryDialog` lists `s2s_desktop.library`'s entries (built-in, trained here, imported, opened, added)
with their languages, architecture, size, best validation scores and origin, filters them by language
pair, and opens, adds, takes off the list, deletes (the app's own imported copies only) or reveals a
file. `ModelLibrary` owns the dialog and the swap for the main window: everything it reads is a file
header (no torch); models open on the engine thread through `MainWindow.open_model`, as any other.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QFont
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop import library
from s2s_desktop.engine.api import ModelInfo
from s2s_desktop.engine.models.registry import describe_model
from s2s_desktop.gui.worker import Failure, FailureKind
from s2s_desktop.library import LibraryEntry

if TYPE_CHECKING:
    from s2s_desktop.gui.main_window import MainWindow

COLUMNS = ("Model", "Languages", "Architecture", "Size", "Best validation", "Origin")
UNREADABLE_RGB = (170, 40, 40)
ALL_PAIRS = "All language pairs"
SWAP_KEYS = "Ctrl+Shift+S"


def architecture(entry: LibraryEntry) -> tuple[str, str]:
    """(short, full): "transformer, 7.6 M parameters" for the table and describe_model's line for the tooltip."""
    h = entry.header
    if h is None:
        return "", ""
    try:
        full = describe_model(h.model)
    except Exception as exc:  # a hand-edited or newer config dict: say so, never fail the list  # noqa: BLE001
        full = f"(the file's model configuration cannot be read: {exc})"
    return f"{h.arch}, {h.parameters / 1e6:.1f} M parameters", full


def size_text(entry: LibraryEntry) -> str:
    h = entry.header
    return f"{h.file_size / 1e6:.1f} MB" + (", float16" if h.storage == "float16" else "") if h else ""


class LibraryDialog(QDialog):
    """The list; it changes the settings it is given and says so with `changed`."""

    open_requested = Signal(str)  # a model file to open
    changed = Signal()  # the settings' library lists changed: save them

    def __init__(self, settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model library")
        self.resize(1060, 400)
        self.settings = settings
        self.entries: list[LibraryEntry] = []
        self.open_path = ""  # the model open in the window
        self.pair_box = QComboBox(toolTip="Show the models for one language pair; the first listed is the one "
                                          "the app (and s2s translate --from --to) picks for it")
        self.pair_box.currentIndexChanged.connect(lambda _: self._fill())
        pair_label = QLabel("Language pair:")
        pair_label.setBuddy(self.pair_box)
        self.tree = QTreeWidget(rootIsDecorated=False, alternatingRowColors=True)
        self.tree.setHeaderLabels(COLUMNS)
        for column, width in enumerate((190, 80, 205, 120, 165)):
            self.tree.setColumnWidth(column, width)
        self.tree.currentItemChanged.connect(lambda *_: self._update_buttons())
        self.tree.itemDoubleClicked.connect(lambda *_: self._open())
        self.open_button = QPushButton("Open", toolTip="Translate with the selected model")
        self.add_button = QPushButton("Add…", toolTip="List a model file that is in none of the places the app looks")
        self.remove_button = QPushButton("Remove from list", toolTip="Take the model off this list; the file stays "
                                         "on disk (opening it again lists it again)")
        self.delete_button = QPushButton("Delete file…")
        self.reveal_button = QPushButton("Show in folder", toolTip="Open the folder holding the file")
        self.restore_button = QPushButton("Restore removed")
        close = QPushButton("Close")
        for button, slot in ((self.open_button, self._open), (self.add_button, self._add),
                             (self.remove_button, self._remove), (self.delete_button, self._delete),
                             (self.reveal_button, self._reveal), (self.restore_button, self._restore),
                             (close, self.close)):
            button.clicked.connect(slot)
        self.open_button.setDefault(True)
        self.summary = QLabel(wordWrap=True)
        self.summary.setStyleSheet("color: palette(mid);")
        top = QHBoxLayout()
        top.addWidget(pair_label)
        top.addWidget(self.pair_box)
        top.addStretch(1)
        buttons = QHBoxLayout()
        for button in (self.open_button, self.add_button, self.remove_button, self.delete_button, self.reveal_button,
                       self.restore_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        self.refresh()

    # -- contents ----------------------------------------------------------------------------------
    def refresh(self, open_path: str | None = None) -> None:
        """Read the library again (the files' headers only)."""
        if open_path is not None:
            self.open_path = open_path
        self.entries = library.scan(self.settings)
        pairs = sorted({pair for e in self.entries for pair in e.pairs})
        current = self.pair_box.currentData()
        self.pair_box.blockSignals(True)
        self.pair_box.clear()
        self.pair_box.addItem(ALL_PAIRS, None)
        for src, tgt in pairs:
            self.pair_box.addItem(f"{src} → {tgt}", f"{src}\t{tgt}")  # (a tuple does not survive QVariant)
        self.pair_box.setCurrentIndex(max(self.pair_box.findData(current), 0))
        self.pair_box.blockSignals(False)
        self._fill()

    def select_pair(self, src: str, tgt: str) -> None:
        index = self.pair_box.findData(f"{src}\t{tgt}")
        if index >= 0:
            self.pair_box.setCurrentIndex(index)

    def pair(self) -> tuple[str, str] | None:
        """The language pair shown, or None for all."""
        data = self.pair_box.currentData()
        return tuple(data.split("\t")) if data else None

    def shown_entries(self) -> list[LibraryEntry]:
        pair = self.pair()
        if pair is None:
            return list(self.entries)
        chosen = library.choose(self.entries, *pair)
        rest = [e for e in self.entries if e.translates(*pair) and e is not chosen]
        return ([chosen] if chosen else []) + rest

    def _fill(self) -> None:
        self.tree.clear()
        pair = self.pair()
        shown = self.shown_entries()
        for i, entry in enumerate(shown):
            self.tree.addTopLevelItem(self._item(entry, preferred=pair is not None and i == 0))
        if shown:
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        unreadable = sum(e.header is None for e in self.entries)
        removed = len(self.settings.library_removed)
        self.summary.setText(
            f"{len(self.entries)} models" + (f", {unreadable} unreadable" if unreadable else "")
            + (f", {removed} removed from the list" if removed else "")
            + (f". For {pair[0]} → {pair[1]} the app uses the first (bold)." if pair and shown else "."))
        self.restore_button.setEnabled(bool(removed))
        self.restore_button.setToolTip(f"List the {removed} removed models again" if removed else "")
        self._update_buttons()

    def _item(self, entry: LibraryEntry, preferred: bool) -> QTreeWidgetItem:
        short, full = architecture(entry)
        is_open = self.open_path and os.path.realpath(entry.path) == os.path.realpath(self.open_path)
        name = entry.name + (" (open)" if is_open else "")
        if entry.header is None:  # the reason, with the file by its name (the path is the row's tooltip)
            values = (name, "unreadable", "", "", "", entry.error.replace(entry.path, os.path.basename(entry.path)))
        else:
            values = (name, entry.pair_label, short, size_text(entry), entry.scores or "—",
                      entry.origin)
        item = QTreeWidgetItem(list(values))
        item.setData(0, Qt.ItemDataRole.UserRole, entry)
        item.setToolTip(0, entry.path)
        item.setToolTip(2, full)
        item.setToolTip(5, entry.error or entry.origin)
        if entry.header is None:
            for column in range(len(COLUMNS)):
                item.setForeground(column, QBrush(QColor(*UNREADABLE_RGB)))
                item.setToolTip(column, entry.error)
        if preferred:
            font = QFont(item.font(0))
            font.setBold(True)
            for column in range(len(COLUMNS)):
                item.setFont(column, font)
        return item

    def current(self) -> LibraryEntry | None:
        item = self.tree.currentItem()
        return item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None

    def _update_buttons(self) -> None:
        entry = self.current()
        self.open_button.setEnabled(entry is not None and entry.header is not None)
        for button in (self.remove_button, self.reveal_button):
            button.setEnabled(entry is not None)
        own = entry is not None and library.is_own_copy(entry.path)
        is_open = entry is not None and bool(self.open_path) and \
            os.path.realpath(entry.path) == os.path.realpath(self.open_path)
        self.delete_button.setEnabled(own and not is_open)
        self.delete_button.setToolTip(
            "Delete this imported copy from disk (the app wrote it; the folder it was imported from is kept)" if own
            and not is_open else "The model is open: open another one first" if own
            else "Only the app's own imported copies can be deleted here; take other models off the list instead")

    # -- actions -----------------------------------------------------------------------------------
    def _open(self) -> None:
        entry = self.current()
        if entry is not None and entry.header is not None:
            self.open_requested.emit(entry.path)

    def _add(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a model file to the library", "",
                                              "s2s-desktop models (*.s2s);;All files (*)")
        if path:
            self.add_path(path)

    def add_path(self, path: str) -> None:
        library.add(self.settings, path)
        self._changed()

    def _remove(self) -> None:
        entry = self.current()
        if entry is not None:
            library.remove(self.settings, entry.path)
            self._changed()

    def _delete(self) -> None:
        entry = self.current()
        if entry is None or not self.confirm_delete(entry):
            return
        try:
            library.delete_own_copy(self.settings, entry.path)
        except (OSError, ValueError) as exc:
            QMessageBox.warning(self, "Model library", f"{entry.path} could not be deleted: {exc}")
        self._changed()

    def confirm_delete(self, entry: LibraryEntry) -> bool:
        answer = QMessageBox.question(self, "Delete the imported copy?",
                                      f"Delete {entry.path} from disk? The app wrote this file when the model was "
                                      "imported; importing the model folder again makes a new one.")
        return answer == QMessageBox.StandardButton.Yes

    def _reveal(self) -> None:
        entry = self.current()
        if entry is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(os.path.abspath(entry.path))))

    def _restore(self) -> None:
        self.settings.library_removed = []
        self._changed()

    def _changed(self) -> None:
        self.changed.emit()
        self.refresh()


class ModelLibrary(QObject):
    """The main window's library dialog and swap; built with the window, before its menus."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.dialog: LibraryDialog | None = None
        self.pending: tuple[str, str] | None = None  # (model path, source text) of a swap while its model opens
        window.client.model_opened.connect(self._on_model_opened)  # before the window's own handler
        window.client.failed.connect(self._on_failed)
        window.panel.swap_requested.connect(self.swap)
        window.training.run_ended.connect(self.update_swap)  # a new best.s2s may translate the other way
        self.update_swap()

    def show_dialog(self) -> None:
        w = self.window
        if self.dialog is None:
            self.dialog = LibraryDialog(w.settings, w)
            self.dialog.open_requested.connect(w.open_model)
            self.dialog.changed.connect(self._on_changed)
        self.dialog.refresh(w.model_info.path if w.model_info else "")
        self.dialog.show()
        self.dialog.raise_()

    def _on_changed(self) -> None:
        self.window._save_settings()
        self.update_swap()

    # -- swap --------------------------------------------------------------------------------------
    def reverse_model(self, info: ModelInfo | None = None) -> tuple[tuple[str, str] | None, LibraryEntry | None]:
        """((target, source) of the open model, the library's model for that direction or None)."""
        info = info or self.window.model_info
        if info is None:
            return None, None
        pair = (info.target_language or info.tgt_lang, info.src_lang)
        return pair, library.choose(library.scan(self.window.settings), *pair, exclude=info.path)

    def comparable(self, info: ModelInfo) -> list[tuple[str, str]]:
        """(name, path) of the library's models that translate as the open one does, but itself: what the
        Compare tab offers."""
        pair = (info.src_lang, info.target_language or info.tgt_lang)
        entries = library.scan(self.window.settings)
        return [(e.name, e.path) for e in entries
                if e.header is not None and os.path.realpath(e.path) != os.path.realpath(info.path)
                and any(library.same_language(pair[0], s) and library.same_language(pair[1], t) for s, t in e.pairs)]

    def update_swap(self, info: ModelInfo | None = None) -> None:
        button = self.window.panel.swap_button
        pair, entry = self.reverse_model(info if isinstance(info, ModelInfo) else None)
        button.setEnabled(entry is not None)
        if pair is None:
            button.setToolTip(f"Swap the languages ({SWAP_KEYS}): open a model first")
        elif entry is None:
            button.setToolTip(f"No {pair[0]} → {pair[1]} model in the library: train one (Train tab) or import "
                              "one (File › Import model…) to swap")
        else:
            button.setToolTip(f"Swap the languages ({SWAP_KEYS}): translate {pair[0]} → {pair[1]} with "
                              f"{entry.name}; the translation becomes the source")

    def swap(self) -> None:
        """Open the model for the other direction; when it is open, the translation becomes the source."""
        w = self.window
        if w.opening is not None:
            return  # a model is opening: swap from the one that will be open
        pair, entry = self.reverse_model()
        if pair is None:
            w.show_message("Open a model first: swapping needs a model for each direction.", "info")
            return
        if entry is None:
            w.show_message(f"No model in the library translates {pair[0]} → {pair[1]}: train one (Train tab) or "
                           "import one (File › Import model…), then swap again.", "info")
            self.update_swap()
            return
        text = w.panel.output.toPlainText().strip() or w.panel.source.toPlainText()
        self.pending = (os.path.abspath(entry.path), text)
        w.open_model(entry.path)

    def _on_model_opened(self, info: ModelInfo) -> None:
        library.note_opened(self.window.settings, info.path)  # a model taken off the list is back once opened
        pending, self.pending = self.pending, None
        if pending is not None and os.path.realpath(pending[0]) == os.path.realpath(info.path):
            self.window.panel.clear_result()
            self.window.panel.source.setPlainText(pending[1])  # the window translates it once it has the model
        self.update_swap(info)
        if self.dialog is not None and self.dialog.isVisible():  # once the window has put it first in the recent list
            QTimer.singleShot(0, lambda: self.dialog.refresh(info.path))

    def _on_failed(self, failure: Failure) -> None:
        if failure.kind is FailureKind.OPEN_MODEL:
            self.pending = None  # the languages stay as they were
