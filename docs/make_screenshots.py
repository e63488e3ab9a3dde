"""Regenerate the screenshots in docs/screenshots/ (offscreen Qt; needs model files).

    python docs/make_screenshots.py --model runs/m30k/best.s2s --transformer runs/m30k-tf/avg5.s2s \
        --corpus ../shared/data/multi30k/raw
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
SENTENCE = "A man in a blue shirt is standing on a ladder and cleaning windows."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="an RNN model")
    parser.add_argument("--transformer", help="a Transformer model (inspector screenshots)")
    parser.add_argument("--corpus", help="Multi30k raw folder (training screenshots)")
    args = parser.parse_args()
    os.environ["S2S_DESKTOP_HOME"] = tempfile.mkdtemp(prefix="s2s-shots-")

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from s2s_desktop.gui.main_window import MainWindow

    app = QApplication(sys.argv)
    OUT.mkdir(exist_ok=True)
    window = MainWindow()
    window.resize(1280, 860)
    window.show()

    def wait_for(signal, ms: int = 120_000) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def shot(name: str) -> None:
        app.processEvents()
        window.grab().save(str(OUT / name))

    window.start_engine(open_last=False)
    wait_for(window.client.engine_loaded)
    shot("empty-state.png")

    panel, insp = window.panel, window.panel.inspector
    window.open_model(args.model)
    wait_for(window.client.model_opened)
    panel.source.setPlainText(TEXT)
    wait_for(window.client.translated)
    panel.tabs.setCurrentIndex(1)
    shot("main-window.png")
    panel.tabs.setCurrentIndex(0)
    insp.select_row(4)
    shot("inspector-rnn.png")

    if args.transformer:
        window.open_model(args.transformer)
        wait_for(window.client.model_opened)
        panel.source.setPlainText(SENTENCE)
        while panel.result is None or panel.result.source != SENTENCE:  # skip the old text's result
            wait_for(window.client.translated)
        insp.set_layer_head(2, 1)
        insp.select_row(3)
        shot("inspector-transformer.png")
        # What if: take the second alternative at position 3, then look at the same position again.
        insp.alternatives.setCurrentRow(1)
        insp.use_button.click()
        wait_for(window.client.redecoded)
        insp.select_row(3)
        shot("inspector-what-if.png")
    if args.corpus:
        train_screenshots(window, wait_for, shot, Path(args.corpus))
    window.close()
    print("written to", OUT)


def train_screenshots(window, wait_for, shot, data: Path) -> None:
    """The Train tab: the form, then a short Multi30k run watched mid-way and at a validation."""
    from PySide6.QtCore import QEventLoop, QTimer

    panel, form = window.training, window.training.form
    window.tabs.setCurrentWidget(panel)
    form.pair_mode.setChecked(True)
    form.train_src.setText(str(data / "train.en.gz"))
    form.train_tgt.setText(str(data / "train.de.gz"))
    form.valid_src.setText(str(data / "val.en.gz"))
    form.valid_tgt.setText(str(data / "val.de.gz"))
    form.arch.setCurrentIndex(1)
    form.preset.setCurrentText("tiny")
    form.run_name.setText("multi30k-rnn-tiny")
    form.advanced.setChecked(True)
    form.limit_kind.setCurrentText("minutes")
    form.limit.setValue(3)
    form.valid_every.setValue(100)
    form.check_button.click()
    wait_for(panel.client.corpus_checked)
    shot("train-form.png")
    from s2s_desktop.engine.api import SampleTranslations

    evals = []
    panel.client.event.connect(lambda e: evals.append(e) if isinstance(e, SampleTranslations) else None)
    form.start_button.click()
    loop = QEventLoop()
    timer = QTimer(interval=200)
    timer.timeout.connect(lambda: len(evals) >= 3 and loop.quit())
    timer.start()
    loop.exec()
    panel.sample_table.selectRow(1)
    shot("train-live.png")
    panel.stop()
    wait_for(panel.client.done)


if __name__ == "__main__":
    main()
