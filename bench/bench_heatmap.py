"""The attention inspector on a long sentence: a 200 x 200 token map.

Measures, in the real translate panel (heatmap, head grid, bar chart, text link) offscreen:
  render  show a new 200-token translation and paint the window (median of N)
  click   a mouse click on a cell -> row selected, bars, alternatives, both texts shaded, repainted
Target: both under 100 ms.

    python bench/bench_heatmap.py [--size 200] [--repeats 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def synthetic(size: int, layers: int, heads: int, seed: int = 0):
    """A translation of `size` source and target pieces with peaked, row-normalised attention."""
    from s2s_desktop.engine.api import Candidate, ParagraphTranslation, Translation

    rng = np.random.default_rng(seed)
    src_words = [f"word{i}" for i in range(size - 1)]
    tgt_words = [f"wort{i}" for i in range(size - 1)]
    logits = rng.normal(size=(layers, heads, size, size)) + 6 * np.eye(size)
    att = np.exp(logits)
    att /= att.sum(-1, keepdims=True)
    cand = Candidate(
        text=" ".join(tgt_words), tokens=tuple("\u2581" + w for w in tgt_words) + ("</s>",),
        token_probs=rng.uniform(0.3, 1.0, size), log_prob=-10.0, score=-0.1, attention=att.astype(np.float32),
        alt_tokens=tuple(tuple(f"\u2581alt{k}" for k in range(5)) for _ in range(size)),
        alt_probs=np.full((size, 5), 0.1),
    )
    source = " ".join(src_words)
    t = Translation(source, tuple("\u2581" + w for w in src_words) + ("</s>",), cand, (cand,))
    return ParagraphTranslation(source, (t,), ("",))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--heads", type=int, default=1)
    args = parser.parse_args()

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from s2s_desktop.gui.translate_panel import TranslatePanel

    app = QApplication(sys.argv)
    panel = TranslatePanel()
    panel.resize(1280, 900)
    panel.show()
    results = [synthetic(args.size, args.layers, args.heads, seed) for seed in range(args.repeats + 2)]
    panel.source.setPlainText(results[0].source)
    app.processEvents()

    render, click = [], []
    insp = panel.inspector
    rng = np.random.default_rng(1)
    for result in results:  # a new translation each time: nothing is cached between them
        start = time.perf_counter()
        panel.show_result(result)
        panel.repaint()
        app.processEvents()
        render.append((time.perf_counter() - start) * 1000)
        row, col = (int(x) for x in rng.integers(0, args.size, 2))
        pos = insp.heatmap.mapFromScene(insp.heatmap.scene_point_of_cell(row, col))
        start = time.perf_counter()
        QTest.mouseClick(insp.heatmap.viewport(), Qt.MouseButton.LeftButton, pos=pos)
        panel.repaint()
        app.processEvents()
        click.append((time.perf_counter() - start) * 1000)
        assert insp.row == row, (insp.row, row)
    panel.close()
    render, click = render[2:], click[2:]  # the first two warm caches up
    print(json.dumps({
        "size": args.size, "layers": args.layers, "heads": args.heads,
        "render_ms_median": round(statistics.median(render), 1), "render_ms_max": round(max(render), 1),
        "click_ms_median": round(statistics.median(click), 1), "click_ms_max": round(max(click), 1),
    }, indent=2))


if __name__ == "__main__":
    main()
