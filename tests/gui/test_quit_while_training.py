"""Quitting during a training run (issue 17 item 6): the window says at once that the run is being saved,
stays responsive while it saves, offers to skip the last validation, and closes when the run has ended.
The run is simulated (the client's state and signals); test_main_window.py quits during a real child run."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer


def _training(window, monkeypatch):
    """The window believes a run is training; stop requests are recorded instead of sent to a child."""
    panel = window.training
    stops = []
    monkeypatch.setattr(panel.client, "stop", lambda now=False: stops.append(now))
    panel.client.running = True
    panel._set_running(True)
    window.confirm_stop_training = lambda: True
    return panel, stops


def _run_ends(panel) -> None:
    panel.client.running = False
    panel.client.done.emit()


def test_quitting_shows_the_save_at_once_and_closes_when_the_run_has_ended(qtbot, make_window, monkeypatch):
    window = make_window()
    panel, stops = _training(window, monkeypatch)
    started = time.monotonic()
    window.close()
    assert time.monotonic() - started < 0.5  # close() never waits for the save
    note = panel.quit_note
    assert note is not None and note.isVisible() and window.isVisible()
    assert "Saving the training run before quitting" in note.message.text() and stops == [False]
    ticks = []
    timer = QTimer(interval=10, timeout=lambda: ticks.append(1))
    timer.start()
    qtbot.wait(200)  # the run is still saving: the event loop runs (repaints, timers), nothing blocks
    timer.stop()
    assert len(ticks) >= 5 and window.isVisible() and note.isVisible()
    _run_ends(panel)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert not note.isVisible()


def test_the_note_skips_the_validation_as_a_second_stop_does(qtbot, make_window, monkeypatch):
    window = make_window()
    panel, stops = _training(window, monkeypatch)
    window.close()
    note = panel.quit_note
    assert note.skip_button.isEnabled()
    note.skip_button.click()
    assert stops == [False, True]  # stop, then stop now
    assert not note.skip_button.isEnabled() and "without validating" in note.message.text()
    assert "stopping now" in panel.title.text()
    note.reject()  # Escape: the note stays until the run has saved
    assert note.isVisible()
    _run_ends(panel)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)


def test_a_run_already_stopping_is_not_stopped_twice_by_quitting(qtbot, make_window, monkeypatch):
    window = make_window()
    panel, stops = _training(window, monkeypatch)
    panel.stop()  # the user pressed Stop, then quits while it validates
    window.close()
    assert stops == [False]  # quitting did not turn it into "stop now"
    assert panel.quit_note.isVisible() and panel.quit_note.skip_button.isEnabled()
    _run_ends(panel)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)


def test_a_run_already_saving_without_validation_is_said_so(qtbot, make_window, monkeypatch):
    window = make_window()
    panel, stops = _training(window, monkeypatch)
    panel.stop()
    panel.stop()  # Stop, then Stop now
    window.close()
    note = panel.quit_note
    assert stops == [False, True] and not note.skip_button.isEnabled()
    assert "without validating" in note.message.text()
    _run_ends(panel)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
