"""The first run: the built-in model opens by itself with a sample sentence translated and its
attention shown; About credits the model's data; `--smoke-test` (what the packaged bundle is checked
with) translates and exits. These run the real engine (the built-in model is a real model file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from s2s_desktop.assets import DATA_CREDIT, SAMPLE_SENTENCE, bundled_model
from tests.gui.conftest import ENGINE_TIMEOUT

pytestmark = pytest.mark.skipif(bundled_model() is None, reason="this checkout has no built-in model")


@pytest.mark.real_engine
def test_first_run_opens_the_built_in_model_and_translates_a_sample(qtbot, make_window):
    window = make_window(bundled=True, real_engine=True)
    with qtbot.waitSignal(window.client.translated, timeout=ENGINE_TIMEOUT) as done:
        pass
    assert window.model_info.path == str(bundled_model())
    assert window.panel.source.toPlainText() == SAMPLE_SENTENCE
    assert done.args[0].text.strip() and window.panel.output.toPlainText().strip()
    heatmap = window.panel.inspector.heatmap
    qtbot.waitUntil(lambda: heatmap.matrix.size > 0, timeout=ENGINE_TIMEOUT)
    assert heatmap.isVisible()
    assert window.settings.last_model == str(bundled_model())  # the next start reopens it like any model
    assert DATA_CREDIT in window.info_view.rows["Data credit"]  # the credit sits next to the model


@pytest.mark.real_engine
def test_a_vanished_last_model_falls_back_to_the_built_in_one(qtbot, make_window, tmp_path):
    from s2s_desktop.settings import load_settings, save_settings

    settings, _ = load_settings()
    settings.last_model = str(tmp_path / "deleted.s2s")
    save_settings(settings)
    window = make_window(expect_model=True, bundled=True, real_engine=True)
    assert window.model_info.path == str(bundled_model())
    assert "deleted.s2s" in window.message_bar.text() and "built-in" in window.message_bar.text()
    assert window.panel.source.toPlainText() == ""  # not a first run: no sample sentence is imposed


def test_about_names_version_licenses_and_the_data_credit(qtbot):
    from s2s_desktop import __version__
    from s2s_desktop.engine.api import ModelInfo
    from s2s_desktop.gui.about_dialog import AboutDialog

    dialog = AboutDialog(ModelInfo(path=str(bundled_model()), src_lang="en", tgt_lang="de"))
    qtbot.addWidget(dialog)
    text = dialog.body.toPlainText()
    assert DATA_CREDIT in text and "CC BY 2.0" in text
    assert "LGPL-3.0" in text and "MIT" in text and "torch" in text
    assert __version__ in dialog.title.text()


@pytest.mark.slow
@pytest.mark.real_engine
def test_smoke_test_flag_translates_and_exits(tmp_path):
    shot = tmp_path / "window.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", S2S_DESKTOP_HOME=str(tmp_path / "home"))
    proc = subprocess.run([sys.executable, "-m", "s2s_desktop.app", "--smoke-test", "--text", "I love you.",
                           "--screenshot", str(shot)], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["smoke_test"] == "ok" and report["translation"].strip()
    assert report["model"] == str(bundled_model()) and report["source"] == "I love you."
    assert shot.stat().st_size > 10_000  # a real window, not a blank image


@pytest.mark.real_engine
def test_the_empty_state_offers_the_built_in_model(qtbot, make_window):
    window = make_window(real_engine=True)  # not a first run: nothing opens by itself
    assert window.pages.currentWidget() is window.empty and window.empty.bundled_button.isVisible()
    with qtbot.waitSignal(window.client.translated, timeout=ENGINE_TIMEOUT):
        window.empty.bundled_button.click()
    assert window.model_info.path == str(bundled_model()) and window.panel.output.toPlainText().strip()
