"""The desktop window (PySide6). Nothing here imports torch: the engine runs on a worker thread
(`engine_worker`) that imports it after the window is up."""

from s2s_desktop.gui import qt_fixes

qt_fixes.install()  # before any module of this package emits a signal
