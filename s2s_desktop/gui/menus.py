"""The main window's menu bar and toolbar, in one place: what each action is called, its shortcut and
the window method it calls."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QToolBar

from s2s_desktop.gui.device_box import DeviceBox
from s2s_desktop.gui.serve_switch import attach as attach_serve_switch

if TYPE_CHECKING:
    from s2s_desktop.gui.main_window import MainWindow


def distinct_labels(paths: list[str]) -> list[str]:
    """Menu labels for model paths that tell them apart: the file name, with as many of its folders
    as it takes when names repeat (two runs' best.s2s: "run-a/best.s2s", "run-b/best.s2s")."""
    parts = [Path(p).parts for p in paths]
    depth = [1] * len(paths)
    while True:
        labels = ["/".join(pp[-d:]) for pp, d in zip(parts, depth)]
        clashes = {label for label in labels if labels.count(label) > 1}
        grow = [i for i, label in enumerate(labels) if label in clashes and depth[i] < len(parts[i])]
        if not grow:
            return labels
        for i in grow:
            depth[i] += 1


def build_menus(w: MainWindow) -> None:
    """Adds the menus and the toolbar; sets w.open_action, w.recent_menu, w.import_action, w.export_action,
    w.translate_file_action, w.library_action, w.swap_action, w.serve_action, w.device_combo."""
    file_menu = w.menuBar().addMenu("&File")
    w.open_action = QAction("&Open model…", w, shortcut=QKeySequence.StandardKey.Open)
    w.open_action.triggered.connect(w.ask_open_model)
    file_menu.addAction(w.open_action)
    w.recent_menu = file_menu.addMenu("Open &recent")
    w.library_action = QAction("Model &library…", w, shortcut=QKeySequence("Ctrl+L"),
                               statusTip="The models the app knows: built-in, trained here, imported, opened")
    w.library_action.triggered.connect(lambda: w.library.show_dialog())
    file_menu.addAction(w.library_action)
    w.import_action = QAction("&Import model…", w, statusTip="Import a Hugging Face Marian (OPUS-MT) model folder "
                              "as a .s2s model file (or drop the folder on the window)")
    w.import_action.triggered.connect(lambda: w.transfer.ask_import())
    file_menu.addAction(w.import_action)
    w.export_action = QAction("&Export…", w, enabled=False,
                              statusTip="Export the open model to CTranslate2 or Argos Translate")
    w.export_action.triggered.connect(lambda: w.transfer.ask_export(w.model_info))
    file_menu.addAction(w.export_action)
    file_menu.addSeparator()
    w.translate_file_action = QAction("&Translate a text file…", w, enabled=False)
    w.translate_file_action.triggered.connect(w.ask_translate_file)
    file_menu.addAction(w.translate_file_action)
    w.serve_action = attach_serve_switch(w, file_menu)  # File > Serve on localhost (s2s serve in a child)
    file_menu.addSeparator()
    quit_action = QAction("&Quit", w, shortcut=QKeySequence.StandardKey.Quit)
    quit_action.triggered.connect(w.close)
    file_menu.addAction(quit_action)

    edit_menu = w.menuBar().addMenu("&Edit")
    copy_action = QAction("&Copy translation", w, shortcut=QKeySequence("Ctrl+Shift+C"))
    copy_action.triggered.connect(w.panel.copy_output)
    edit_menu.addAction(copy_action)
    w.swap_action = QAction("&Swap languages", w, shortcut=QKeySequence("Ctrl+Shift+S"),
                            statusTip="Translate the other way with the library's model for it; the translation "
                            "becomes the source")
    w.swap_action.triggered.connect(lambda: w.library.swap())
    edit_menu.addAction(w.swap_action)

    view_menu = w.menuBar().addMenu("&View")
    w.model_panel_action = QAction("&Model panel", w, checkable=True, checked=not w.info_panel.isHidden(),
                                   statusTip="Show or hide the description of the open model beside the translation")
    w.model_panel_action.toggled.connect(w.info_panel.setVisible)
    view_menu.addAction(w.model_panel_action)

    help_menu = w.menuBar().addMenu("&Help")
    about = QAction("&About s2s-desktop", w)
    about.triggered.connect(w.show_about)
    help_menu.addAction(about)

    toolbar = QToolBar("Engine", w)
    toolbar.setObjectName("engine-toolbar")
    toolbar.setMovable(False)
    toolbar.addAction(w.open_action)
    toolbar.addSeparator()
    toolbar.addWidget(QLabel(" Device: "))
    w.device_combo = DeviceBox()
    w.device_combo.chosen.connect(w._on_device_chosen)
    toolbar.addWidget(w.device_combo)
    w.addToolBar(toolbar)
