"""Regenerate the screenshots of the inspector's views beyond attention (issue 21) with the built-in model:
the attributions (input x gradient, integrated gradients, rollout), the contrast ("why not it?"), the
beam tree (the tab and its exported drawing) and, given a second English -> German model, the Compare tab.

    python docs/make_inspection_screenshots.py [--compare OTHER.s2s] [--size 1100x680 --out DIR]

The committed compare.png sets the built-in model beside a 120-step fine-tune of itself at a high
learning rate (a checkpoint that differs in a few words), made with
    s2s train --train FT.tsv --src-lang en --tgt-lang de --init-from resources/models/en-de-tatoeba.s2s \
        --max-steps 120 --lr 0.002 --valid-every 60 --out /tmp/ft/run
FT.tsv: 20,000 Tatoeba pairs (every 7th line of ../shared/data/tatoeba-deu-eng/deu.txt.gz); the
last.s2s of that run.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
OUT = Path(__file__).resolve().parent / "screenshots"
TEXT = "I would like to learn German because my grandmother lives in Berlin."


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--compare", help="a second en->de model for the Compare tab (e.g. a fine-tuned checkpoint)")
    ap.add_argument("--size", default="1280x860", help="window size, WxH (the default window is 1100x680)")
    ap.add_argument("--out", type=Path, default=OUT, help="where the PNGs go")
    args = ap.parse_args()
    out = args.out
    os.environ["S2S_DESKTOP_HOME"] = tempfile.mkdtemp(prefix="s2s-shots-")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from s2s_desktop.gui.attention_math import INPUT_X_GRADIENT, INTEGRATED_GRADIENTS, ROLLOUT
    from s2s_desktop.gui.beam_tree_export import export_tree
    from s2s_desktop.gui.main_window import MainWindow

    app = QApplication(sys.argv[:1])  # noqa: F841 - kept alive while the window is shown
    out.mkdir(parents=True, exist_ok=True)
    window = MainWindow()
    window.resize(*map(int, args.size.split("x")))
    window.show()

    def wait_for(signal, ms: int = 120_000) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def pump(ms: int = 300) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def shot(name: str) -> None:
        pump()
        window.grab().save(str(out / name))
        print(out / name)

    window.start_engine()
    wait_for(window.client.model_opened)
    panel, insp = window.panel, window.panel.inspector
    panel.source.setPlainText(TEXT)
    wait_for(window.client.translated)
    pump(500)
    for kind, name in ((INPUT_X_GRADIENT, "inspector-input-x-gradient.png"),
                       (INTEGRATED_GRADIENTS, "inspector-integrated-gradients.png"), (ROLLOUT, "inspector-rollout.png")):
        insp.set_kind(kind)
        wait_for(window.client.explained)
        pump(300)
        while insp.view is None or not insp.explanations[(*insp._key(), kind)].complete:
            wait_for(window.client.explained)
        pump(300)
        insp.select_row(min(3, insp.view.matrix.shape[0] - 1))
        shot(name)
    # why this and not that: the runner-up at the selected position
    chosen = insp.details.chosen
    for i in range(insp.alternatives.count()):
        if insp.alternatives.item(i).data(0x0100)[1] != chosen:
            insp.alternatives.setCurrentRow(i)
            break
    insp.why_button.click()
    wait_for(window.client.contrasted)
    shot("inspector-contrast.png")
    panel.tabs.setCurrentWidget(panel.tree_view)
    wait_for(window.client.tree_ready)
    shot("beam-tree.png")
    export_tree(str(out / "beam-tree-export.png"), panel.tree_view.shown_tree(), panel.tree_view.model_name)
    print(out / "beam-tree-export.png")
    if args.compare:
        panel.source.setPlainText(f"{TEXT} The museum is closed on Mondays. Do you know where the station is?")
        wait_for(window.client.translated)
        panel.compare_view.add_file(args.compare)
        panel.tabs.setCurrentWidget(panel.compare_view)
        wait_for(window.client.compared)
        shot("compare.png")
    window.close()


if __name__ == "__main__":
    main()
