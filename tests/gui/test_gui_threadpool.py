"""The window paints without Qt's GUI thread pool (s2s_desktop/gui/__init__.py): on 2 cores its hand-offs
made showing the Train tab 3.5x slower in wall time than painting on the UI thread alone."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PAINT = textwrap.dedent("""
    import glob, os, sys
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    if sys.argv[1] == "app":
        import s2s_desktop.gui  # noqa: F401 - what every window module's import runs first
    image = QImage(1400, 900, QImage.Format.Format_ARGB32_Premultiplied)
    gradient = QLinearGradient(QPointF(0, 0), QPointF(1400, 900))
    gradient.setColorAt(0, QColor("#336"))
    gradient.setColorAt(1, QColor("#fc6"))
    painter = QPainter(image)  # a large gradient fill: where Qt hands scanlines to its pool
    painter.fillRect(image.rect(), gradient)
    painter.end()
    names = [open(f).read().strip() for f in glob.glob(f"/proc/{os.getpid()}/task/*/comm")]
    print(sum(n == "Thread (pooled)" for n in names))
""")


def pooled_threads(mode: str, **env: str) -> int:
    environ = {k: v for k, v in os.environ.items() if k not in ("QT_NO_GUI_THREADPOOL", "S2S_GUI_THREADPOOL")}
    environ.update(QT_QPA_PLATFORM="offscreen", **env)
    out = subprocess.run([sys.executable, "-c", PAINT, mode], capture_output=True, text=True, timeout=120,
                         env=environ, check=True)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="thread names are read from /proc")
def test_the_window_paints_without_qts_gui_thread_pool():
    if pooled_threads("plain") == 0:
        pytest.skip("this Qt build paints without a thread pool anyway")
    assert pooled_threads("app") == 0
    assert pooled_threads("app", S2S_GUI_THREADPOOL="1") > 0  # the documented way to keep it
