"""Regenerate the window-size screenshots that make_train_screenshots.py does not make (offscreen Qt; the
built-in model for the inspector, a tiny word-reversal run for the quit note; about a minute on two cores).

    python docs/make_size_screenshots.py

inspector-WxH.png (1100x680, 1366x768, 1920x1080): the built-in model's attention for one sentence,
layer 3 head 2, the row of "_ging" selected; train-1100x680-quitting.png: the window closed during a run,
with the note that says the run is being saved (the note is a dialog of its own: drawn over the window).
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
OUT = Path(__file__).resolve().parent / "screenshots"
SIZES = ((1100, 680), (1366, 768), (1920, 1080))
SENTENCE = "The old man went to the market to buy some fresh bread."
WORDS = "one two three four five six seven eight nine ten".split()


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="s2s-shots-"))
    os.environ["S2S_DESKTOP_HOME"] = str(home)
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtGui import QColor, QPainter
    from PySide6.QtWidgets import QApplication

    from s2s_desktop.engine.api import EvalReport
    from s2s_desktop.gui.main_window import MainWindow

    app = QApplication(sys.argv)  # noqa: F841 - kept alive for the whole run
    OUT.mkdir(exist_ok=True)

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_for(condition, seconds: float = 600) -> None:
        end = time.monotonic() + seconds
        while not condition() and time.monotonic() < end:
            wait(100)

    window = MainWindow()
    window.resize(*SIZES[0])
    window.show()
    window.start_engine(bundled=True)
    wait_for(lambda: window.model_info is not None, 300)
    panel, insp = window.panel, window.panel.inspector
    panel.source.setPlainText(SENTENCE)
    wait_for(lambda: insp.translation is not None and insp.translation.source == SENTENCE)
    wait(1500)  # the head grid's thumbnails
    insp.set_layer_head(2, 1)
    insp.select_row(3)
    for w, h in SIZES:
        window.resize(w, h)
        wait(600)
        window.grab().save(str(OUT / f"inspector-{w}x{h}.png"))

    rng = random.Random(3)
    corpus = home / "reverse.tsv"
    lines = ([rng.choice(WORDS) for _ in range(rng.randint(2, 5))] for _ in range(600))
    corpus.write_text("".join(f"{' '.join(w)}\t{' '.join(reversed(w))}\n" for w in lines), encoding="utf-8")
    window.resize(*SIZES[0])
    training, form = window.training, window.training.form
    window.tabs.setCurrentWidget(training)
    form.train_tsv.setText(str(corpus))
    form.src_lang.setText("en")
    form.tgt_lang.setText("rev")
    form.arch.setCurrentIndex(1)
    form.preset.setCurrentText("tiny")
    form.run_name.setText("reverse-rnn")
    form.advanced.setChecked(True)
    form.vocab.setValue(100)
    form.limit_kind.setCurrentText("steps")
    form.limit.setValue(400)
    form.batch.setValue(600)
    form.lr.setValue(0.005)
    form.valid_every.setValue(40)
    evals: list[EvalReport] = []
    training.client.event.connect(lambda e: evals.append(e) if isinstance(e, EvalReport) else None)
    form.start_button.click()
    wait_for(lambda: len(evals) >= 3)
    window.confirm_stop_training = lambda: True
    window.close()  # the note shows at once; the window closes when the run has saved
    wait(30)
    note = training.quit_note
    image = window.grab().toImage()
    painter = QPainter(image)
    painter.fillRect(image.rect(), QColor(0, 0, 0, 60))  # the window behind a window-modal dialog
    painter.drawImage((image.width() - note.width()) // 2, (image.height() - note.height()) // 3, note.grab().toImage())
    painter.end()
    image.save(str(OUT / f"train-{SIZES[0][0]}x{SIZES[0][1]}-quitting.png"))
    wait_for(lambda: not window.isVisible(), 300)
    print("written to", OUT)


if __name__ == "__main__":
    main()
