"""Regenerate the Train tab screenshots in docs/screenshots/ at 1100x680, 1366x768 and 1920x1080
(offscreen Qt, a tiny word-reversal corpus made here; about two minutes on two CPU cores).

    python docs/make_train_screenshots.py

train-WxH.png: the form before a run; train-WxH-live.png: a run with its plots filled;
train-WxH-compare.png: a second run overlaid on the first, with the table of both runs.
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
WORDS = "one two three four five six seven eight nine ten".split()


def main() -> None:
    os.environ["S2S_DESKTOP_HOME"] = tempfile.mkdtemp(prefix="s2s-shots-")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from s2s_desktop.engine.api import EvalReport
    from s2s_desktop.gui.main_window import MainWindow

    rng = random.Random(3)
    corpus = Path(tempfile.mkdtemp()) / "reverse.tsv"
    lines = ([rng.choice(WORDS) for _ in range(rng.randint(2, 5))] for _ in range(600))
    corpus.write_text("".join(f"{' '.join(w)}\t{' '.join(reversed(w))}\n" for w in lines), encoding="utf-8")

    app = QApplication(sys.argv)  # noqa: F841 - kept alive for the whole run
    OUT.mkdir(exist_ok=True)
    window = MainWindow()
    window.show()

    def wait(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_for(condition, seconds: float = 600) -> None:
        end = time.monotonic() + seconds
        while not condition() and time.monotonic() < end:
            wait(100)

    def shots(tag: str, sizes=SIZES) -> None:
        for w, h in sizes:
            window.resize(w, h)
            wait(400)
            window.grab().save(str(OUT / f"train-{w}x{h}{tag}.png"))

    window.start_engine(open_last=False, bundled=False)
    wait_for(lambda: "Engine ready" in window.state_label.text(), 120)
    panel, form = window.training, window.training.form
    window.tabs.setCurrentWidget(panel)
    form.train_tsv.setText(str(corpus))
    form.src_lang.setText("en")
    form.tgt_lang.setText("rev")
    form.arch.setCurrentIndex(1)
    form.preset.setCurrentText("tiny")
    form.run_name.setText("reverse rnn/1")  # the note says it becomes reverse_rnn_1
    form.advanced.setChecked(True)
    form.vocab.setValue(100)
    form.limit_kind.setCurrentText("steps")
    form.limit.setValue(400)
    form.batch.setValue(600)
    form.lr.setValue(0.005)
    form.valid_every.setValue(40)
    shots("")

    evals: list[EvalReport] = []
    panel.client.event.connect(lambda e: evals.append(e) if isinstance(e, EvalReport) else None)
    form.start_button.click()
    wait_for(lambda: len(evals) >= 4)
    panel.sample_table.selectRow(1)
    shots("-live")
    wait_for(lambda: not panel.client.running)
    first = panel.run_dir

    form.run_name.setText("reverse-rnn-lr0.002")
    form.lr.setValue(0.002)
    form.limit.setValue(200)
    form.start_button.click()
    wait(500)
    wait_for(lambda: not panel.client.running)
    second = panel.run_dir
    panel.history.refresh()
    panel.open_run(first)
    panel.overlay_run(second)
    shots("-compare", SIZES[1:])
    window.close()
    print("written to", OUT)


if __name__ == "__main__":
    main()
