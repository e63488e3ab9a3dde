"""The app's check for the system libraries Qt's X11 plugin needs (a missing one aborted Qt with a core dump)."""

from __future__ import annotations

import subprocess
import sys

from s2s_desktop import platform_check
from s2s_desktop.platform_check import check_platform, uses_xcb


def test_missing_libraries_are_named_with_their_packages() -> None:
    message = check_platform(lambda soname: soname != "libxcb-cursor.so.0", environ={}, platform="linux")
    assert message is not None
    assert "libxcb-cursor.so.0" in message
    assert "apt install libxcb-cursor0" in message and "dnf install xcb-util-cursor" in message
    assert "\n" not in message


def test_nothing_is_said_when_everything_loads_or_xcb_is_not_used() -> None:
    assert check_platform(lambda soname: True, environ={}, platform="linux") is None
    nothing = lambda soname: False  # noqa: E731
    assert check_platform(nothing, environ={"QT_QPA_PLATFORM": "offscreen"}, platform="linux") is None
    assert check_platform(nothing, environ={"WAYLAND_DISPLAY": "wayland-0"}, platform="linux") is None
    assert check_platform(nothing, environ={}, platform="darwin") is None
    assert uses_xcb({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux")


def test_the_app_exits_2_with_one_line_before_qt_loads() -> None:
    """The real entry point, with the loader told that libxcb-cursor is missing: one line, exit 2, no Qt."""
    code = (
        "import sys, os; os.environ['QT_QPA_PLATFORM'] = 'xcb'; os.environ.pop('WAYLAND_DISPLAY', None)\n"
        "import s2s_desktop.platform_check as pc\n"
        "pc._loadable = lambda s, real=pc._loadable: s != 'libxcb-cursor.so.0' and real(s)\n"
        "import s2s_desktop.app\n"
        "status = s2s_desktop.app.main(['s2s-desktop'])\n"
        "print('QT', 'PySide6.QtWidgets' in sys.modules, 'STATUS', status)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "QT False STATUS 2" in proc.stdout, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "libxcb-cursor0" in lines[0], proc.stderr
    assert platform_check.XCB_LIBRARIES["libxcb-cursor.so.0"][0] == "libxcb-cursor0"
