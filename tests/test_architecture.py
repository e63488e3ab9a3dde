"""Layering rules, checked in fresh interpreters: the engine and the CLI never import Qt, and
`engine.api` (shared with the GUI thread) never imports torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )


def test_engine_and_cli_do_not_import_qt() -> None:
    proc = run_python(
        """
        import sys
        import s2s_desktop.engine.training.loop
        import s2s_desktop.engine.decoding.service
        import s2s_desktop.cli
        assert "torch" in sys.modules  # the imports really happened
        leaked = sorted(m for m in ("PySide6", "pyqtgraph") if m in sys.modules)
        print("LEAKED", leaked)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "LEAKED []" in proc.stdout


def test_api_does_not_import_torch() -> None:
    proc = run_python(
        """
        import sys
        import s2s_desktop.engine.api
        assert "s2s_desktop.engine.api" in sys.modules
        print("TORCH", "torch" in sys.modules)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "TORCH False" in proc.stdout


def test_gui_imports_torch_only_on_the_engine_thread() -> None:
    """The window is built and shown without torch; the worker thread imports it afterwards."""
    proc = run_python(
        """
        import os, sys, threading
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        import builtins
        importer = {}
        real_import = builtins.__import__
        def spy(name, *args, **kwargs):
            if name == "torch" and "torch" not in sys.modules:
                importer["thread"] = threading.current_thread().name
            return real_import(name, *args, **kwargs)
        builtins.__import__ = spy
        import s2s_desktop.app, s2s_desktop.gui.main_window
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        window = s2s_desktop.gui.main_window.MainWindow()
        window.show()
        app.processEvents()
        print("BEFORE", "torch" in sys.modules)
        loaded = []
        window.client.engine_loaded.connect(lambda info: (loaded.append(info), app.quit()))
        window.start_engine()
        app.exec()
        print("AFTER", "torch" in sys.modules, importer.get("thread") != threading.main_thread().name)
        window.close()
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "BEFORE False" in proc.stdout
    assert "AFTER True True" in proc.stdout


def test_import_contracts_hold() -> None:
    """The contracts of .importlinter (engine without Qt, front ends apart, the GUI's engine modules
    torch-free); `lint-imports` is the dev extra's import-linter."""
    import shutil
    from pathlib import Path

    exe = shutil.which("lint-imports")
    if exe is None:
        import pytest

        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([exe], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "0 broken" in proc.stdout
