"""Before Qt loads its X11 platform plugin: are the system libraries it needs there?

Qt's xcb plugin links a dozen X11 helper libraries that a minimal Linux install lacks (libxcb-cursor0
most often). Without them Qt prints a long message and aborts with a core dump. We look for each
library first and, when some are missing, say in one line which packages to install.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable

# soname -> (Debian/Ubuntu package, Fedora package); the libraries Qt 6's libqxcb.so and
# libQt6XcbQpa link directly, beyond libxcb itself
XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
}


def _loadable(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def uses_xcb(environ: dict[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether Qt will load the xcb plugin: on Linux, when asked for it, or when no Wayland session is
    there to be preferred (Qt tries Wayland first when WAYLAND_DISPLAY is set)."""
    env = os.environ if environ is None else environ
    if (platform or sys.platform) != "linux":
        return False
    wanted = env.get("QT_QPA_PLATFORM", "").strip()
    if wanted:
        return any(name.strip().startswith("xcb") for name in wanted.split(";"))
    return not env.get("WAYLAND_DISPLAY")


def missing_libraries(loadable: Callable[[str], bool] | None = None) -> list[str]:
    loadable = loadable or _loadable
    return [soname for soname in XCB_LIBRARIES if not loadable(soname)]


def missing_message(missing: list[str]) -> str:
    debian = " ".join(dict.fromkeys(XCB_LIBRARIES[s][0] for s in missing))
    fedora = " ".join(dict.fromkeys(XCB_LIBRARIES[s][1] for s in missing))
    return (f"s2s-desktop: error: Qt's X11 platform needs {', '.join(missing)}, which this system lacks; "
            f"install them with `sudo apt install {debian}` (Debian/Ubuntu) or `sudo dnf install {fedora}` (Fedora)")


def check_platform(loadable: Callable[[str], bool] | None = None, environ: dict[str, str] | None = None,
                   platform: str | None = None) -> str | None:
    """The one-line message to print (and exit 2) when Qt would abort for missing libraries, else None."""
    if not uses_xcb(environ, platform):
        return None
    missing = missing_libraries(loadable)
    return missing_message(missing) if missing else None
