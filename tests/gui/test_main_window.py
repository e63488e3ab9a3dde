"""The main window with its engine thread (the fake engine, unless marked real_engine): typing, stale
results, bad files, restarts, devices, errors, closing."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from s2s_desktop import paths
from tests.gui.conftest import ENGINE_TIMEOUT, fake_translation, open_model, translate_and_wait
from tests.gui.fake_engine import FakeEngine

_engine_translation = fake_translation


def test_empty_state_until_a_model_is_opened(make_window):
    window = make_window()
    assert window.pages.currentWidget() is window.empty
    assert "No model open" in window.empty.title.text()
    assert not window.translate_file_action.isEnabled()


def test_typing_produces_the_engines_translation(qtbot, make_window, fake_model_file):
    window = make_window()
    info = open_model(qtbot, window, fake_model_file)
    assert window.pages.currentWidget() is window.panel
    assert info.src_lang == "en" and info.parameters > 0
    qtbot.keyClicks(window.panel.source, "one two three four")
    with qtbot.waitSignal(window.client.translated, timeout=ENGINE_TIMEOUT):
        pass
    expected = _engine_translation(fake_model_file, "one two three four", window.panel.options())
    qtbot.waitUntil(lambda: window.panel.output.toPlainText() == expected, timeout=ENGINE_TIMEOUT)
    assert expected.split()[0] == "four"  # the model really reverses
    assert "ms" in window.perf_label.text() and "words/s" in window.perf_label.text()
    # The n-best list holds as many hypotheses as asked for, best first.
    assert window.panel.nbest_list.topLevelItemCount() == window.panel.nbest.value()
    assert window.panel.nbest_list.topLevelItem(0).text(3) == expected


def test_fast_typing_shows_only_the_newest_result(qtbot, make_window, fake_model_file):
    window = make_window()
    open_model(qtbot, window, fake_model_file)
    shown = []
    window.client.translated.connect(lambda result, secs: shown.append(result.source))
    window.panel.as_you_type.setChecked(False)
    texts = [" ".join(["one", "two", "three", "four", "five"][: k % 5 + 1]) + f" {'six ' * (k % 3)}" for k in range(12)]
    for text in texts:  # as fast as a user can fire requests: no event processing in between
        window.client.translate(text, window.panel.options())
    qtbot.waitUntil(lambda: bool(shown), timeout=ENGINE_TIMEOUT)
    qtbot.wait(300)  # anything stale still in flight would arrive now
    assert shown == [texts[-1]]
    # Typing character by character through the debounce sends one request, for the final text.
    window.panel.as_you_type.setChecked(True)
    shown.clear()
    qtbot.keyClicks(window.panel.source, "two nine one")
    qtbot.waitUntil(lambda: bool(shown), timeout=ENGINE_TIMEOUT)
    qtbot.wait(400)
    assert shown == ["two nine one"]


def test_a_bad_model_file_is_reported_and_the_previous_model_keeps_working(qtbot, make_window, fake_model_file,
                                                                           tmp_path):
    window = make_window()
    open_model(qtbot, window, fake_model_file)
    bad = tmp_path / "broken.s2s"
    bad.write_bytes(b"\x80\x04\x95 this is a pickle, not a model" * 10)
    with qtbot.waitSignal(window.client.failed, timeout=ENGINE_TIMEOUT):
        window.open_model(str(bad))
    message = window.message_bar.text()
    assert "broken.s2s" in message and "still in use" in message
    assert window.model_info.path == str(fake_model_file)
    result = translate_and_wait(qtbot, window, "three two")
    assert result.text == _engine_translation(fake_model_file, "three two", window.panel.options())


def test_recent_models_and_settings_survive_a_restart(qtbot, make_window, fake_model_file, other_fake_model_file):
    window = make_window()
    open_model(qtbot, window, other_fake_model_file)
    open_model(qtbot, window, fake_model_file)
    window.panel.beam.setValue(3)
    window.panel.as_you_type.setChecked(False)
    height = min(window.minimumSizeHint().height() + 23, 790)  # the offscreen screen is 800 x 800
    window.resize(window.width(), height)
    window.close()
    assert not window.client._thread.isRunning()  # closing joined the engine thread

    saved = json.loads(paths.settings_file().read_text())
    assert saved["schema_version"] == 1
    again = make_window(expect_model=True)  # the last model reopens by itself
    assert again.model_info.path == str(fake_model_file)
    assert [a.toolTip() for a in again.recent_menu.actions()] == [str(fake_model_file), str(other_fake_model_file)]
    assert again.panel.beam.value() == 3 and not again.panel.as_you_type.isChecked()
    assert again.height() == height


def test_corrupt_settings_fall_back_to_defaults_with_a_warning(make_window):
    paths.settings_file().parent.mkdir(parents=True, exist_ok=True)
    paths.settings_file().write_text("{not json", encoding="utf-8")
    window = make_window()
    assert window.message_bar.level == "warning" and "defaults" in window.message_bar.text()
    assert window.panel.beam.value() == 5
    assert paths.settings_file().with_name("settings.json.bad").exists()  # the user's file is kept


@pytest.mark.real_engine
def test_device_list_matches_torch(make_window):
    import torch

    window = make_window(real_engine=True)
    expected = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    assert [window.device_combo.itemData(i) for i in range(window.device_combo.count())] == expected
    assert window.device_combo.isEnabled()


def test_translate_a_file_with_progress(qtbot, make_window, fake_model_file, tmp_path, monkeypatch):
    window = make_window()
    open_model(qtbot, window, fake_model_file)
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text("one two\n\nthree four five\n" * 40, encoding="utf-8")
    monkeypatch.setattr(window, "ask_file_paths", lambda: (str(src), str(dst)))
    progress = []
    window.client.file_progressed.connect(lambda done, total: progress.append((done, total)))
    with qtbot.waitSignal(window.client.file_finished, timeout=ENGINE_TIMEOUT):
        window.translate_file_action.trigger()
    lines = dst.read_text(encoding="utf-8").split("\n")[:-1]
    assert len(lines) == 120 and lines[1] == "" and lines[0] == lines[3]
    assert progress[-1] == (120, 120) and len(progress) >= 2
    assert "Translated 120 lines" in window.message_bar.text()


def test_dropping_a_model_file_opens_it(qtbot, make_window, fake_model_file):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    window = make_window()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(fake_model_file))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.client.model_opened, timeout=ENGINE_TIMEOUT):
        window.dropEvent(event)
    assert window.model_info.path == str(fake_model_file)


def test_closing_while_training_asks_first_and_stopping_saves(qtbot, make_window, tmp_path, monkeypatch):
    from tests.gui.test_training_panel import fill_form

    corpus = tmp_path / "pairs.tsv"
    corpus.write_text("".join(f"one two {w}\t{w} two one\n" for w in ("three", "four", "five", "six") * 50))
    window = make_window()
    form = window.training.form
    fill_form(form, corpus, steps=100_000, name="closing")
    steps = []
    window.training.client.event.connect(lambda e: steps.append(e) if e.kind == "step" else None)
    form.start_button.click()
    qtbot.waitUntil(lambda: bool(steps), timeout=ENGINE_TIMEOUT)
    asked = []
    monkeypatch.setattr(window, "confirm_stop_training", lambda: asked.append(1) or False)
    window.close()
    assert asked and window.isVisible() and window.training.client.running  # "No" keeps training
    monkeypatch.setattr(window, "confirm_stop_training", lambda: True)
    window.close()  # returns at once: the window closes when the run has saved its model
    assert "Stopping training" in window.state_label.text() and window.training.quit_note.isVisible()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=ENGINE_TIMEOUT)
    assert not window.isVisible() and not window.training.client.running
    run_dir = window.training.run_dir
    from s2s_desktop.engine.training.run_folder import read_metrics

    assert read_metrics(f"{run_dir}/metrics.jsonl")[-1].reason == "stopped"


def test_an_engine_that_cannot_start_is_reported(qtbot):
    from s2s_desktop.gui.main_window import MainWindow

    window = MainWindow(engine=FakeEngine(fail_load="no usable device"))
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.client.failed, timeout=ENGINE_TIMEOUT) as failed:
        window.start_engine(bundled=False)
    failure = failed.args[0]
    assert failure.kind.name == "LOAD_ENGINE" and "no usable device" in failure.message
    assert "Traceback" in failure.details  # a bug, not the user's input: the log gets the traceback
    assert window.message_bar.text().startswith("The translation engine could not start")
    window.close()


def test_decode_options_cross_as_one_dataclass_and_persist(qtbot, make_window, fake_model_file):
    from s2s_desktop.engine.api import DecodeOptions
    from s2s_desktop.settings import load_settings

    window = make_window()
    open_model(qtbot, window, fake_model_file)
    window.panel.beam.setValue(2)
    window.panel.nbest.setValue(2)
    window.panel.max_ratio.setValue(2.5)
    sent = []
    window.panel.translate_requested.connect(lambda text, options: sent.append(options))
    translate_and_wait(qtbot, window, "one two")
    assert sent[-1] == DecodeOptions(beam=2, nbest=2, max_len_a=2.5)  # the other fields keep their defaults
    window.close()
    assert load_settings()[0].decode == DecodeOptions(beam=2, nbest=2, max_len_a=2.5)
