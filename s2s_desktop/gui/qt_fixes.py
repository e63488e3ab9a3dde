"""A guard against a reference-counting bug in the PySide6 6.12.0 wheels on Python 3.11.

In that release every call of a void Qt method from Python (`label.setText(...)`, `painter.drawLine(...)`)
returns None without taking a reference to it, and `Signal.emit()` does the same with True. On
Python 3.12+ these singletons are immortal and nothing happens; on 3.11 each call lowers their
reference count by one, and after some tens of thousands of calls (a few minutes of live plots) the
interpreter aborts with "Fatal Python error: none_dealloc". `install()` checks whether the running
PySide6 has the bug and, only then, gives None, True and False a reference count so large that no
session can use it up, which is what Python 3.12 does for them.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

_PROBES = 64
_RESERVE = 1 << 40  # references added to each singleton: 35 years at a million leaks a second
installed = False


class _Probe(QObject):
    fired = Signal()


def _lost(obj: object, action) -> int:
    before = sys.getrefcount(obj)
    for _ in range(_PROBES):
        action()
    return before - sys.getrefcount(obj)


def leaks() -> dict[str, int]:
    """References to None and True lost by 64 void calls and 64 emits (0 and 0 when Qt is sound)."""
    probe = _Probe()
    return {
        "None": _lost(None, lambda: probe.setObjectName("probe")),
        "True": _lost(True, probe.fired.emit),
    }


def _refcount_field(obj: object) -> ctypes.c_ssize_t:
    return ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt is the first field of every object


def install() -> bool:
    """Add the reserve when this PySide6 leaks; True when it was (or had already been) added."""
    global installed
    if installed:
        return True
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython" or hasattr(sys, "gettotalrefcount"):
        return False  # immortal singletons (3.12+), or a runtime whose object layout we do not assume
    lost = leaks()
    if max(lost.values()) < _PROBES // 2:
        return False
    for singleton in (None, True, False):
        _refcount_field(singleton).value += _RESERVE
    installed = True
    return True
