"""The swap (⇄ and Ctrl+Shift+S): the library's model for the other direction opens on the engine, the
translation becomes the source and is translated back; without such a model the swap says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from s2s_desktop import library
from tests.gui.conftest import ENGINE_TIMEOUT, open_model, translate_and_wait
from tests.gui.fake_engine import write_fake_s2s


@pytest.fixture
def builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The installation's built-in models folder (empty: each test puts its models there)."""
    folder = tmp_path / "resources" / "models"
    folder.mkdir(parents=True)
    monkeypatch.setattr(library, "resources_dir", lambda: folder.parent)
    return folder


def test_swap_opens_the_other_direction_and_translates_the_translation_back(qtbot, make_window, builtin) -> None:
    en_de = write_fake_s2s(builtin / "en-de-tatoeba.s2s", "en", "de")
    de_en = write_fake_s2s(builtin / "de-en-tatoeba.s2s", "de", "en")
    window = make_window()
    open_model(qtbot, window, en_de)
    first = translate_and_wait(qtbot, window, "one two three")
    assert first.text == "three two one"  # the fake engine reverses the words
    button = window.panel.swap_button
    assert button.isEnabled() and "de → en" in button.toolTip() and "de-en-tatoeba.s2s" in button.toolTip()
    with qtbot.waitSignal(window.client.translated, timeout=ENGINE_TIMEOUT,
                          check_params_cb=lambda result, secs: result.source == "three two one") as blocker:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert window.model_info.path == str(de_en)
    assert window.panel.source.toPlainText() == "three two one"
    assert blocker.args[0].text == "one two three"
    qtbot.waitUntil(lambda: window.panel.output.toPlainText() == "one two three", timeout=ENGINE_TIMEOUT)
    assert window.panel.source_label.text() == "Source (de)" and window.panel.output_label.text() == "Translation (en)"
    assert "en → de" in button.toolTip()  # and back again


def test_the_shortcut_swaps_too_and_clashes_with_no_other(qtbot, make_window, builtin) -> None:
    en_de = write_fake_s2s(builtin / "en-de.s2s", "en", "de")
    de_en = write_fake_s2s(builtin / "de-en.s2s", "de", "en")
    window = make_window()
    open_model(qtbot, window, en_de)
    keys = window.swap_action.shortcut()
    assert keys == QKeySequence("Ctrl+Shift+S")
    from PySide6.QtGui import QAction

    others = [a for a in window.findChildren(QAction) if a is not window.swap_action and not a.shortcut().isEmpty()]
    assert all(a.shortcut() != keys for a in others)
    with qtbot.waitSignal(window.client.model_opened, timeout=ENGINE_TIMEOUT):
        window.swap_action.trigger()
    assert window.model_info.path == str(de_en)


def test_without_a_model_for_the_other_direction_the_swap_says_so(qtbot, make_window, builtin) -> None:
    en_de = write_fake_s2s(builtin / "en-de.s2s", "en", "de")
    window = make_window()
    assert not window.panel.swap_button.isEnabled()  # no model open yet
    open_model(qtbot, window, en_de)
    translate_and_wait(qtbot, window, "one two")
    button = window.panel.swap_button
    assert not button.isEnabled() and "No de → en model" in button.toolTip()
    window.swap_action.trigger()  # the shortcut still answers: with a message, nothing else changes
    assert "No model in the library translates de → en" in window.message_bar.text()
    assert window.model_info.path == str(en_de) and window.panel.source.toPlainText() == "one two"
    # A model for the other direction added to the library enables it.
    mine = write_fake_s2s(builtin.parent.parent / "mine" / "de-en.s2s", "de", "en")
    window.library.show_dialog()
    window.library.dialog.add_path(str(mine))
    assert button.isEnabled() and "de-en.s2s" in button.toolTip()


def test_a_swap_whose_model_cannot_open_leaves_the_text_as_it_was(qtbot, make_window, builtin) -> None:
    en_de = write_fake_s2s(builtin / "en-de.s2s", "en", "de")
    broken = builtin / "de-en.s2s"
    write_fake_s2s(broken, "de", "en")
    data = broken.read_bytes()
    broken.write_bytes(data.replace(b'"fake_spec"', b'"fake_spex"'))  # a readable header the engine refuses
    window = make_window()
    open_model(qtbot, window, en_de)
    translate_and_wait(qtbot, window, "one two")
    with qtbot.waitSignal(window.client.failed, timeout=ENGINE_TIMEOUT):
        window.panel.swap_button.click()
    assert "Could not open de-en.s2s" in window.message_bar.text()
    assert window.model_info.path == str(en_de) and window.panel.source.toPlainText() == "one two"
    assert window.library.pending is None
