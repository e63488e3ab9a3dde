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
        import s2s_desktop.engine.training
        import s2s_desktop.engine.service
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
