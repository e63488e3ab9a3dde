"""Issue 15 item 4 in the app: imported models show their provenance; File > Import model… and a dropped
Marian folder import (on the engine thread, with a progress dialog) and open the result; a multilingual
model gets a target-language choice; File > Export… writes both formats with progress, off the UI
thread; a 6+6-layer x 8-head model's 48 maps stay readable in the head grid."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog

from s2s_desktop import paths
from s2s_desktop.gui import head_grid
from s2s_desktop.gui.model_transfer import ExportDialog, imported_name, is_marian_folder
from tests.gui.conftest import ENGINE_TIMEOUT, open_model, translate_and_wait
from tests.gui.fake_engine import FakeEngine, write_fake_marian_folder, write_fake_model

PROVENANCE = {"imported_from": "Hugging Face Marian", "repository": "Helsinki-NLP/opus-mt-en-de",
              "license": "cc-by-4.0", "license_text": "Creative Commons Attribution 4.0\nInternational",
              "notices": ["Weights read from pytorch_model.bin with torch.load(weights_only=True)."]}


def test_the_model_panel_shows_where_an_imported_model_came_from(qtbot, make_window, tmp_path):
    window = make_window()
    open_model(qtbot, window, write_fake_model(tmp_path / "opus.s2s", provenance=PROVENANCE))
    rows = window.info_view.rows
    assert rows["Imported"] == "imported from Hugging Face Marian"
    assert rows["Repository"] == "Helsinki-NLP/opus-mt-en-de"
    assert rows["Licence"] == "cc-by-4.0"
    assert "weights_only=True" in rows["Import notes"]
    open_model(qtbot, window, write_fake_model(tmp_path / "ours.s2s"))  # a model trained here: no such rows
    assert not {"Imported", "Repository", "Licence"} & set(window.info_view.rows)


def test_file_import_model_runs_on_the_engine_and_opens_the_result(qtbot, make_window, tmp_path, monkeypatch):
    engine = FakeEngine()
    window = make_window(engine=engine)
    folder = write_fake_marian_folder(tmp_path / "opus-mt-en-de")
    asked = {}

    def save_as(parent, title, start, filter_):
        asked["start"] = start
        return str(tmp_path / "imported"), filter_  # no suffix typed: .s2s is added

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as)
    threads = []
    real_import = engine.import_model
    monkeypatch.setattr(engine, "import_model",
                        lambda *a: threads.append(threading.current_thread()) or real_import(*a))
    with qtbot.waitSignal(window.client.model_opened, timeout=ENGINE_TIMEOUT):
        window.import_action.trigger()
        assert window.transfer.dialog is not None and window.transfer.dialog.isVisible()  # busy while it runs
    assert Path(asked["start"]) == paths.models_dir() / "opus-mt-en-de.s2s"  # the models folder by default
    assert window.model_info.path == str(tmp_path / "imported.s2s")
    assert threads and threads[0] is not threading.main_thread()
    assert window.transfer.dialog is None and "Imported opus-mt-en-de" in window.message_bar.text()
    assert window.info_view.rows["Repository"] == "Helsinki-NLP/opus-mt-en-de"


def test_dropping_a_marian_folder_imports_it(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window()
    folder = write_fake_marian_folder(tmp_path / "opus-mt-en-fr", repository="Helsinki-NLP/opus-mt-en-fr")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "fr.s2s"), ""))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.client.model_opened, timeout=ENGINE_TIMEOUT):
        window.dropEvent(event)
    assert window.model_info.path == str(tmp_path / "fr.s2s")
    assert window.model_info.provenance["repository"] == "Helsinki-NLP/opus-mt-en-fr"


def test_a_folder_that_cannot_be_imported_says_which_file(qtbot, make_window, tmp_path, monkeypatch):
    window = make_window()
    folder = tmp_path / "not-marian"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "t5"}', encoding="utf-8")
    (folder / "vocab.json").write_text("{}", encoding="utf-8")
    assert is_marian_folder(folder)
    with qtbot.waitSignal(window.client.failed, timeout=ENGINE_TIMEOUT):
        window.transfer.start_import(str(folder), str(tmp_path / "x.s2s"))
    assert window.transfer.dialog is None
    assert "Could not import not-marian" in window.message_bar.text() and "config.json" in window.message_bar.text()


def test_a_multilingual_model_gets_a_target_language_choice(qtbot, make_window, tmp_path):
    window = make_window()
    open_model(qtbot, window, write_fake_model(tmp_path / "romance.s2s", target_languages=("fra", "spa", "ita")))
    panel = window.panel
    assert panel.target_box.isVisibleTo(window) and panel.target_label.isVisibleTo(window)
    assert [panel.target_box.itemText(i) for i in range(panel.target_box.count())] == ["fra", "spa", "ita"]
    translate_and_wait(qtbot, window, "one two")
    with qtbot.waitSignal(window.client.info_changed, timeout=ENGINE_TIMEOUT):
        panel.target_box.setCurrentIndex(1)
    assert window.model_info.target_language == "spa"
    assert "now: spa" in window.info_view.rows["Target languages"]
    open_model(qtbot, window, write_fake_model(tmp_path / "plain.s2s"))
    assert not panel.target_box.isVisibleTo(window)


def test_file_export_writes_both_formats_with_progress_off_the_ui_thread(qtbot, make_window, tmp_path, monkeypatch):
    engine = FakeEngine()
    window = make_window(engine=engine)
    assert not window.export_action.isEnabled()  # nothing to export yet
    model = write_fake_model(tmp_path / "model.s2s", provenance=PROVENANCE)
    open_model(qtbot, window, model)
    assert window.export_action.isEnabled()
    dialog = ExportDialog(window.model_info, window)
    qtbot.addWidget(dialog)
    assert dialog.format == "ctranslate2" and dialog.path.text() == str(tmp_path / "model-ctranslate2")
    dialog.radios["argos"].setChecked(True)
    assert dialog.path.text() == str(tmp_path / "model.argosmodel")
    threads, steps = [], []
    real_export = engine.export_model
    monkeypatch.setattr(engine, "export_model",
                        lambda *a: threads.append(threading.current_thread()) or real_export(*a))
    window.client.conversion_progressed.connect(lambda done, total, what: steps.append((done, total)))
    for to, out in (("ctranslate2", tmp_path / "ct2"), ("argos", tmp_path / "model.argosmodel")):
        with qtbot.waitSignal(window.client.converted, timeout=ENGINE_TIMEOUT):
            window.transfer.start_export(window.model_info, to, str(out))
            assert window.transfer.dialog.bar is not None
        assert out.exists() and f"Exported to {out}" in window.message_bar.text()
    assert [e[1] for e in engine.exported] == ["ctranslate2", "argos"]
    assert all(t is not threading.main_thread() for t in threads) and len(threads) == 2
    assert steps[-1] == (3, 3) and len(steps) == 8  # the bar moved through the fake's 4 steps, twice


def test_the_head_grid_of_a_6x6_model_with_8_heads_stays_readable(qtbot, make_window, tmp_path):
    window = make_window()
    window.resize(1100, 680)
    open_model(qtbot, window, write_fake_model(tmp_path / "opus.s2s", layers=6, heads=8))
    translate_and_wait(qtbot, window, "one two three four five six seven eight nine ten")
    grid = window.panel.inspector.grid
    qtbot.waitUntil(lambda: grid.shape == (6, 8))
    thumb = grid.canvas.thumb
    rows, cols = grid.canvas.matrix_shape
    assert thumb.width() >= head_grid.MIN_THUMB
    assert thumb.height() == pytest.approx(thumb.width() * rows / cols, abs=1)  # true aspect: square cells
    canvas = grid.canvas.size()
    # Everything that does not fit scrolls (never squeezed below the minimum).
    assert canvas.height() <= grid.viewport().height() or grid.verticalScrollBar().maximum() > 0
    assert canvas.width() <= grid.viewport().width() or grid.horizontalScrollBar().maximum() > 0
    # Clicking the last thumbnail picks layer 6, head 8, and the map shows it.
    grid.mark(5, 7)  # scrolls it into view, as picking it from the boxes does
    with qtbot.waitSignal(grid.head_picked, timeout=2000) as picked:
        qtbot.mouseClick(grid.canvas, Qt.MouseButton.LeftButton, pos=grid.cell_center(5, 7))
    assert picked.args == [5, 7]
    insp = window.panel.inspector
    assert (insp.layer, insp.head) == (5, 7) and insp.layer_box.currentText() == "layer 6"


def test_thumbnails_keep_the_matrix_aspect_and_scroll_below_the_minimum() -> None:
    size = head_grid.thumbnail_size(600, 2000, rows=10, cols=20, layers=6, heads=8, label_width=30, label_height=18)
    assert size.height() * 2 == pytest.approx(size.width(), abs=1)
    tiny = head_grid.thumbnail_size(200, 100, rows=10, cols=10, layers=6, heads=8, label_width=30, label_height=18)
    assert tiny.width() == head_grid.MIN_THUMB  # scroll, never shrink further


def test_imported_names_come_from_the_folder_or_the_hugging_face_cache(tmp_path) -> None:
    assert imported_name(tmp_path / "opus-mt-en-de") == "opus-mt-en-de.s2s"
    snapshot = tmp_path / "models--Helsinki-NLP--opus-mt-en-ROMANCE" / "snapshots" / "0123abc"
    snapshot.mkdir(parents=True)
    assert imported_name(snapshot) == "opus-mt-en-ROMANCE.s2s"
