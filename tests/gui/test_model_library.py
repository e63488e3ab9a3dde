"""File › Model library…: every model the app knows with its languages, architecture, size, scores and
origin; unreadable files listed with their reason; choose by language pair; remove, restore, add,
delete (own imported copies only) and reveal. The fake engine opens the models (no torch)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtGui import QDesktopServices

from s2s_desktop import library, paths
from s2s_desktop.gui.model_library import COLUMNS
from s2s_desktop.settings import load_settings
from tests.gui.conftest import ENGINE_TIMEOUT
from tests.gui.fake_engine import write_fake_s2s

BEST = {"step": 300, "loss": 1.9, "ppl": 6.7, "bleu": 24.5, "chrf": 48.25}


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Two built-in models, one trained here, one imported copy, and an unreadable file opened once."""
    builtin = tmp_path / "resources" / "models"
    monkeypatch.setattr(library, "resources_dir", lambda: builtin.parent)
    bad = tmp_path / "elsewhere" / "broken.s2s"
    bad.parent.mkdir()
    bad.write_bytes(b"\x80\x04\x95 a pickle" * 10)
    return {
        "en-de": write_fake_s2s(builtin / "en-de-tatoeba.s2s", "en", "de", training={"best": BEST, "steps": 300}),
        "de-en": write_fake_s2s(builtin / "de-en-tatoeba.s2s", "de", "en"),
        "trained": write_fake_s2s(paths.runs_dir() / "run-7" / "best.s2s", "en", "de", arch="rnn",
                                  training={"best": BEST, "steps": 300, "train_seconds": 120, "device": "cpu"}),
        "imported": write_fake_s2s(paths.models_dir() / "opus-mt-en-fr.s2s", "en", "fr", provenance={
            "imported_from": "Hugging Face Marian", "repository": "Helsinki-NLP/opus-mt-en-fr", "license": "apache-2.0"}),
        "bad": bad,
    }


def open_library(window):
    window.library_action.trigger()
    dialog = window.library.dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def rows(dialog) -> dict[str, dict[str, str]]:
    tree = dialog.tree
    return {tree.topLevelItem(i).text(0): {c: tree.topLevelItem(i).text(k) for k, c in enumerate(COLUMNS)}
            for i in range(tree.topLevelItemCount())}


def select(dialog, name: str) -> None:
    tree = dialog.tree
    tree.setCurrentItem(next(tree.topLevelItem(i) for i in range(tree.topLevelItemCount())
                             if tree.topLevelItem(i).text(0).startswith(name)))


def test_the_library_lists_every_place_with_what_each_file_says(make_window, models) -> None:
    window = make_window()
    window.settings.recent_models = [str(models["bad"])]
    listed = rows(open_library(window))
    assert set(listed) == {"en-de-tatoeba.s2s", "de-en-tatoeba.s2s", "run-7/best.s2s", "opus-mt-en-fr.s2s",
                           "broken.s2s"}
    trained = listed["run-7/best.s2s"]
    assert trained["Languages"] == "en → de" and trained["Architecture"].startswith("rnn")
    assert trained["Best validation"] == "BLEU 24.50, chrF 48.25"
    assert trained["Origin"] == "trained here, 300 steps, 2 min on cpu"
    assert listed["en-de-tatoeba.s2s"]["Origin"].startswith("built in, 300 steps")
    assert "Helsinki-NLP/opus-mt-en-fr" in listed["opus-mt-en-fr.s2s"]["Origin"]
    assert listed["opus-mt-en-fr.s2s"]["Size"].endswith("MB")
    broken = listed["broken.s2s"]
    assert broken["Languages"] == "unreadable" and "pickle" in broken["Origin"]
    dialog = window.library.dialog
    select(dialog, "broken.s2s")
    assert not dialog.open_button.isEnabled() and dialog.remove_button.isEnabled()
    assert "1 unreadable" in dialog.summary.text()


def test_choose_by_language_pair_and_open_on_the_engine(qtbot, make_window, models) -> None:
    window = make_window()
    dialog = open_library(window)
    pairs = [dialog.pair_box.itemText(i) for i in range(dialog.pair_box.count())]
    assert pairs == ["All language pairs", "de → en", "en → de", "en → fr"]
    dialog.select_pair("en", "de")
    assert list(rows(dialog)) == ["en-de-tatoeba.s2s", "run-7/best.s2s"]  # the built-in is chosen first
    assert dialog.tree.topLevelItem(0).font(0).bold() and not dialog.tree.topLevelItem(1).font(0).bold()
    select(dialog, "run-7")
    with qtbot.waitSignal(window.client.model_opened, timeout=ENGINE_TIMEOUT):
        dialog.open_button.click()
    assert window.model_info.path == str(models["trained"])
    qtbot.waitUntil(lambda: "run-7/best.s2s (open)" in rows(dialog))
    assert list(rows(dialog))[0] == "run-7/best.s2s (open)"  # opened last: now the one for en → de


def test_remove_restore_and_add_keep_the_files_and_the_settings(make_window, models, tmp_path) -> None:
    window = make_window()
    dialog = open_library(window)
    select(dialog, "de-en-tatoeba.s2s")
    dialog.remove_button.click()
    assert "de-en-tatoeba.s2s" not in rows(dialog) and models["de-en"].is_file()
    assert load_settings()[0].library_removed == [str(models["de-en"])]  # saved at once
    assert "1 removed" in dialog.summary.text() and dialog.restore_button.isEnabled()
    dialog.restore_button.click()
    assert "de-en-tatoeba.s2s" in rows(dialog) and load_settings()[0].library_removed == []
    mine = write_fake_s2s(tmp_path / "mine" / "nl-en.s2s", "nl", "en")
    dialog.add_path(str(mine))
    assert rows(dialog)["nl-en.s2s"]["Origin"] == "added to the library"
    assert load_settings()[0].library_added == [str(mine)]


def test_only_an_imported_copy_can_be_deleted_from_disk(make_window, models, monkeypatch) -> None:
    window = make_window()
    dialog = open_library(window)
    select(dialog, "run-7")
    assert not dialog.delete_button.isEnabled() and "only" in dialog.delete_button.toolTip().lower()
    select(dialog, "opus-mt-en-fr")
    assert dialog.delete_button.isEnabled()
    asked = []
    monkeypatch.setattr(dialog, "confirm_delete", lambda entry: asked.append(entry.path) or True)
    dialog.delete_button.click()
    assert asked == [str(models["imported"])] and not models["imported"].exists()
    assert "opus-mt-en-fr.s2s" not in rows(dialog) and models["trained"].is_file()


def test_reveal_opens_the_folder_in_the_file_manager(make_window, models, monkeypatch) -> None:
    window = make_window()
    dialog = open_library(window)
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    select(dialog, "run-7")
    dialog.reveal_button.click()
    assert [os.path.realpath(p) for p in opened] == [os.path.realpath(models["trained"].parent)]


def test_the_dialog_never_imports_torch() -> None:
    """The library reads headers only: listing it imports neither torch nor sentencepiece."""
    import subprocess
    import sys

    code = ("import sys; from PySide6.QtWidgets import QApplication; app = QApplication([]); "
            "from s2s_desktop.gui.model_library import LibraryDialog; from s2s_desktop.settings import Settings; "
            "LibraryDialog(Settings()); print('torch' in sys.modules, 'sentencepiece' in sys.modules)")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         check=True).stdout.split()
    assert out == ["False", "False"]
