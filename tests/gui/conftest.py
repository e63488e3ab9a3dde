"""GUI fixtures: a main window whose engine thread has started (offscreen, isolated app home).

Windows translate with the fake engine (tests/gui/fake_engine.py: no torch, instant, words reversed)
unless a test asks for the real one (`make_window(real_engine=True)`): the tests marked
`real_engine` below are the end-to-end ones (the built-in model on a first run, the device list,
and, in tests/test_architecture.py, torch imported only on the engine thread).
"""

from __future__ import annotations

import pytest

from tests.gui.fake_engine import FakeEngine, FakeTranslator, write_fake_model

pytest.importorskip("pytestqt")

ENGINE_TIMEOUT = 60_000  # ms: the first torch import on a busy 2-core CI machine can take a while


@pytest.fixture
def make_window(qtbot):
    """make_window(expect_model=False, bundled=False, real_engine=False, engine=None) -> a shown MainWindow
    with its engine loaded (and, with expect_model, the last or the built-in model opened). Tests get no
    built-in model unless they ask for it (bundled=True, which needs real_engine), as on a first run.
    Windows are closed (thread ended) after the test."""
    from s2s_desktop.gui.main_window import MainWindow

    windows = []

    def make(expect_model: bool = False, bundled: bool = False, real_engine: bool = False, engine=None):
        window = MainWindow(engine=None if real_engine else engine or FakeEngine())
        qtbot.addWidget(window)
        window.show()
        signal = window.client.model_opened if expect_model else window.client.engine_loaded
        with qtbot.waitSignal(signal, timeout=ENGINE_TIMEOUT):
            window.start_engine(bundled=bundled)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.confirm_stop_training = lambda: True  # a failed test must not leave a modal question open
        window.close()


@pytest.fixture
def fake_model_file(tmp_path):
    """A model file the fake engine opens (en -> rev: it reverses the words)."""
    return write_fake_model(tmp_path / "reverse.s2s")


@pytest.fixture
def other_fake_model_file(tmp_path):
    return write_fake_model(tmp_path / "other.s2s", tgt_lang="de")


@pytest.fixture
def fake_transformer_file(tmp_path):
    """A fake model whose attention has 2 layers x 2 heads, each different."""
    return write_fake_model(tmp_path / "transformer.s2s", layers=2, heads=2)


def fake_translation(path, text: str, options):
    """What the fake engine translates `text` to: the reference the window's output is compared with."""
    return FakeTranslator.open(str(path)).translate_paragraph(text, options).text


def open_model(qtbot, window, path):
    """Open `path` in the window and wait; returns its ModelInfo."""
    with qtbot.waitSignal(window.client.model_opened, timeout=ENGINE_TIMEOUT) as blocker:
        window.open_model(str(path))
    return blocker.args[0]


def translate_and_wait(qtbot, window, text: str):
    """Set the source text as a user would (as-you-type fires) and wait for its translation."""
    with qtbot.waitSignal(window.client.translated, timeout=ENGINE_TIMEOUT,
                          check_params_cb=lambda result, secs: result.source == text) as blocker:
        window.panel.source.setPlainText(text)
    return blocker.args[0]
