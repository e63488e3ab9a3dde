"""Regenerate the screenshots in docs/screenshots/ (offscreen Qt; needs a model file).

    python docs/make_screenshots.py --model runs/m30k/best.s2s
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
OUT = Path(__file__).resolve().parent / "screenshots"
TEXT = ("A man in a blue shirt is standing on a ladder and cleaning windows.\n"
        "Two young girls are playing in the snow near a red house. Their dog is watching them.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    os.environ["S2S_DESKTOP_HOME"] = tempfile.mkdtemp(prefix="s2s-shots-")

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from s2s_desktop.gui.main_window import MainWindow

    app = QApplication(sys.argv)
    OUT.mkdir(exist_ok=True)
    window = MainWindow()
    window.resize(1280, 760)
    window.show()

    def wait_for(signal, ms: int = 120_000) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    window.start_engine(open_last=False)
    wait_for(window.client.engine_loaded)
    app.processEvents()
    window.grab().save(str(OUT / "empty-state.png"))

    window.open_model(args.model)
    wait_for(window.client.model_opened)
    window.panel.source.setPlainText(TEXT)
    wait_for(window.client.translated)
    app.processEvents()
    window.grab().save(str(OUT / "main-window.png"))
    window.close()
    print("written to", OUT)


if __name__ == "__main__":
    main()
