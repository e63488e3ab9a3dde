"""A startup check for a reference-counting bug in the PySide6-Essentials 6.12.0 wheels on Python 3.11.

In that release every call of a void Qt method from Python (`label.setText(...)`, `painter.drawLine(...)`)
returns None without taking a reference to it. On Python 3.12+ None is immortal and nothing happens; on
3.11 each call lowers its reference count by one, and after some tens of thousands of calls (a few
minutes of live plots) the interpreter aborts with "Fatal Python error: none_dealloc". Measured here:
6.12.0 loses 1,000 references to None in 1,000 `setObjectName` calls; 6.11.3 loses none, to None or to
True (per `emit`). pyproject.toml excludes 6.12.0 on Python < 3.12; this check catches an environment
that has a leaking release anyway (an old lock file, `--no-deps`) and refuses to start with a message
that names it, instead of dying minutes later. It patches nothing.
"""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QObject, Signal

PROBES = 64


class _Probe(QObject):
    fired = Signal()


def _lost(obj: object, action) -> int:
    before = sys.getrefcount(obj)
    for _ in range(PROBES):
        action()
    return before - sys.getrefcount(obj)


def exit_now(status: int) -> None:
    """Leave without the interpreter's finalization: on a leaking release the probe's own lost references
    can bring True to zero there ("Fatal Python error: bool_dealloc")."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def leaks() -> dict[str, int]:
    """References to None and True lost by 64 void calls and 64 emits (0 and 0 when Qt is sound)."""
    probe = _Probe()
    return {
        "None": _lost(None, lambda: probe.setObjectName("probe")),
        "True": _lost(True, probe.fired.emit),
    }


def problem(lost: dict[str, int] | None = None) -> str | None:
    """The one-line message to print (and exit 2) when this PySide6 leaks references, else None."""
    lost = leaks() if lost is None else lost
    bad = {name: n for name, n in lost.items() if n >= PROBES // 2}
    if not bad:
        return None
    import PySide6

    version = PySide6.__version__
    what = " and ".join(f"{n} references to {name}" for name, n in bad.items())
    return (f"s2s-desktop: error: PySide6 {version} on Python {sys.version_info.major}.{sys.version_info.minor} "
            f"loses {what} in {PROBES} Qt calls, and the app would abort after a few minutes of use "
            f"(\"Fatal Python error: none_dealloc\"); install another release: "
            f"pip install 'PySide6-Essentials!={version}'")
