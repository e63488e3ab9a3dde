"""GUI fixtures: a main window whose engine thread has started (offscreen, isolated app home)."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

ENGINE_TIMEOUT = 60_000  # ms: the first torch import on a busy 2-core CI machine can take a while


@pytest.fixture
def make_window(qtbot):
    """make_window(expect_model=False, bundled=False) -> a shown MainWindow with its engine loaded (and,
    with expect_model, the last or the built-in model opened). Tests get no built-in model unless they
    ask for it (bundled=True), as on a first run. Windows are closed (thread joined) after the test."""
    from s2s_desktop.gui.main_window import MainWindow

    windows = []

    def make(expect_model: bool = False, bundled: bool = False):
        window = MainWindow()
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


def open_model(qtbot, window, path) -> dict:
    with qtbot.waitSignal(window.client.model_opened, timeout=ENGINE_TIMEOUT) as blocker:
        window.open_model(str(path))
    return blocker.args[0]


def translate_and_wait(qtbot, window, text: str):
    """Set the source text as a user would (as-you-type fires) and wait for its translation."""
    with qtbot.waitSignal(window.client.translated, timeout=ENGINE_TIMEOUT,
                          check_params_cb=lambda result, secs: result.source == text) as blocker:
        window.panel.source.setPlainText(text)
    return blocker.args[0]
