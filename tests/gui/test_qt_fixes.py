"""Calling Qt from Python must not use up None or True (PySide6 6.12.0 on Python 3.11 leaks a
reference to None on every void call and to True on every emit; `gui.qt_fixes` guards against it)."""

from __future__ import annotations

import sys

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Signal

from s2s_desktop.gui import qt_fixes


class Emitter(QObject):
    fired = Signal(int, object)


def test_the_guard_is_active_whenever_qt_leaks() -> None:
    lost = qt_fixes.leaks()
    if max(lost.values()) >= 32:
        assert qt_fixes.installed
    if qt_fixes.installed:
        assert sys.getrefcount(None) > 1 << 39 and sys.getrefcount(True) > 1 << 39


def test_a_long_session_of_calls_and_emits_survives(qtbot) -> None:
    """More void calls, emits and repaints than None or True had references before the guard."""
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.show()
    curve = widget.plot(np.zeros(10))
    emitter = Emitter()
    emitter.fired.connect(lambda *_: None)
    for i in range(200_000):
        emitter.fired.emit(i, None)
        emitter.setObjectName("x")
        if i % 4000 == 0:
            curve.setData(np.arange(10) * i)
            qtbot.wait(1)
    assert emitter.objectName() == "x"
