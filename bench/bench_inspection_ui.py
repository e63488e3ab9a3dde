"""The inspector's views beyond attention in the real window (offscreen), on the built-in model and a
40-piece sentence: how long each takes from the user's click to its answer on screen, and the UI
heartbeat meanwhile (a 10 ms QTimer on the UI thread; goal: no gap over 50 ms).

Views: input x gradient, integrated gradients (32 steps: the selected token's row first, then the
whole map), attention rollout, the contrast of the selected token with its runner-up, the beam tree,
the word-alignment export (computed on the UI thread from the attention), and, with --compare, the
Compare tab's second model. Run it alone on an idle machine.

    python bench/bench_inspection_ui.py [--compare OTHER.s2s] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ui_heartbeat import Heartbeat  # noqa: E402 - found through sys.path above

CLICK_S = 0.12  # gaps ending this soon after the click are the click's own UI work


def forty_piece_sentence() -> str:
    """bench_alignment's 40-piece sentence, chosen in a child process: torch run on this (the UI) thread
    would give libgomp a second thread team, and then every region of the engine's pays a futex
    wake-up (see engine/torch_thread.py): the views measured 1.6-2.2x slower."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from bench_alignment import sentence_of; "
            "from s2s_desktop.assets import bundled_model; from s2s_desktop.engine.decoding.service import "
            "Translator; print(sentence_of(40, Translator.open(str(bundled_model()), 'cpu').loaded.src_tok))")
    return subprocess.check_output([sys.executable, "-c", code, str(Path(__file__).resolve().parent)],
                                   text=True).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", help="a second en->de model for the Compare tab")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-heartbeat", action="store_true",
                        help="time the views without the heartbeat and the stall sampler (they take the CPU too)")
    parser.add_argument("--switch-ms", type=float, help="the interpreter's GIL switch interval (default: the app's)")
    args = parser.parse_args()
    if args.switch_ms:
        from s2s_desktop.gui import worker

        worker.UI_SWITCH_INTERVAL_S = args.switch_ms / 1000  # (the app lowers the interval to its own)
        sys.setswitchinterval(args.switch_ms / 1000)
    os.environ["S2S_DESKTOP_HOME"] = tempfile.mkdtemp(prefix="s2s-bench-")

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from s2s_desktop.gui.attention_math import CROSS, INPUT_X_GRADIENT, INTEGRATED_GRADIENTS, ROLLOUT
    from s2s_desktop.gui.main_window import MainWindow

    _app = QApplication(sys.argv[:1])  # kept alive for the whole run
    window = MainWindow()
    window.show()

    answers = []  # the engine's answers wake the waiting loop (polling every 5 ms woke the UI thread 200
    # times a second, each time taking a core from the engine's two threads: the views ran 1.4-3x slower)

    def wait_until(condition, timeout_s: float = 300) -> None:
        end = time.perf_counter() + timeout_s
        while not condition() and time.perf_counter() < end:
            loop = QEventLoop()
            answers[:] = [loop]
            QTimer.singleShot(250, loop.quit)
            loop.exec()
        if not condition():
            raise SystemExit("timed out")

    def wake(*_args) -> None:
        for loop in answers:
            QTimer.singleShot(0, loop.quit)  # after the other slots of the answer have run

    def pump(ms: int) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    c = window.client
    for signal in (c.model_opened, c.translated, c.explained, c.contrasted, c.tree_ready, c.compared, c.failed):
        signal.connect(wake)
    window.start_engine()
    wait_until(lambda: window.model_info is not None)
    panel, insp = window.panel, window.panel.inspector
    translated = []
    window.client.translated.connect(lambda *a: translated.append(1))
    source = forty_piece_sentence()
    panel.source.setPlainText(source)
    wait_until(lambda: translated)
    pump(500)
    t = panel.result.sentences[0]
    beat = Heartbeat(QTimer)
    results: dict[str, dict] = {}
    current = ["start"]
    from soak_app import StallSampler

    stalls = StallSampler(beat, time.perf_counter, lambda: current[0]) if not args.no_heartbeat else None
    collections: list[tuple[str, str, int, float]] = []  # (view, thread, generation, ms) over 10 ms, any thread
    started: dict[int, float] = {}

    def on_gc(phase: str, info: dict) -> None:
        ident = threading.get_ident()
        if phase == "start":
            started[ident] = time.perf_counter()
        elif ident in started:
            ms = (time.perf_counter() - started.pop(ident)) * 1000
            if ms > 10:
                collections.append((current[0], threading.current_thread().name, info["generation"], round(ms, 1)))

    gc.callbacks.append(on_gc)

    def measure(name: str, start, done, reset=None) -> None:
        times, click, running = [], [], []
        current[0] = name
        for _ in range(args.repeats):
            if reset is not None:
                reset()
            pump(300)
            if not args.no_heartbeat:
                beat.start()
            t0 = time.perf_counter()
            start()
            wait_until(done)
            times.append(time.perf_counter() - t0)
            pump(100)
            gaps = list(beat.gaps) if not args.no_heartbeat else []
            if not args.no_heartbeat:
                beat.stop()
            # a gap ending in the first CLICK_S is the click's own work (the switch, its repaint); the
            # others came while the engine computed and the answer was drawn
            ends = itertools.accumulate(gaps)
            for gap, end in zip(gaps, ends):
                (click if end / 1000 < CLICK_S else running).append(gap)
        results[name] = {"seconds": round(statistics.median(times), 3),
                         "heartbeat_max_ms": round(max(click + running, default=0.0), 1),
                         "at_the_click_max_ms": round(max(click, default=0.0), 1),
                         "while_running_max_ms": round(max(running, default=0.0), 1),
                         "gaps_over_50ms": sum(g > 50 for g in click + running)}
        print(name, json.dumps(results[name]), flush=True)

    def explained(kind, whole=True):
        def done():
            e = insp.explanations.get((*insp._key(), kind))
            return e is not None and (e.complete or not whole)
        return done

    def fresh(kind):
        def reset():
            insp.set_kind(CROSS)
            wait_until(lambda: not insp._asked)  # the previous map finished (the engine is idle again)
            insp.explanations.clear()
            insp.select_row(len(t.best.tokens) // 2)
        return reset

    for kind in (INPUT_X_GRADIENT, ROLLOUT):
        measure(kind, lambda k=kind: insp.set_kind(k), explained(kind), fresh(kind))
    measure("integrated_gradients_selected_row", lambda: insp.set_kind(INTEGRATED_GRADIENTS),
            explained(INTEGRATED_GRADIENTS, whole=False), fresh(INTEGRATED_GRADIENTS))
    wait_until(explained(INTEGRATED_GRADIENTS))
    measure("integrated_gradients_whole_map", lambda: insp.set_kind(INTEGRATED_GRADIENTS),
            explained(INTEGRATED_GRADIENTS), fresh(INTEGRATED_GRADIENTS))

    got = []
    window.client.contrasted.connect(lambda *a: got.append(1))

    def ask_contrast():
        got.clear()
        chosen = insp.details.chosen
        row = next(i for i in range(insp.alternatives.count())
                   if insp.alternatives.item(i).data(0x0100)[1] != chosen)
        insp.alternatives.setCurrentRow(row)
        insp.why_button.click()

    measure("contrast_with_runner_up", ask_contrast, lambda: bool(got) and insp.contrast is not None,
            lambda: (insp.set_kind(CROSS), insp.select_row(len(t.best.tokens) // 2)))

    def tree_reset():
        panel.tabs.setCurrentIndex(0)
        panel.tree_view.forget(panel.tree_view.model_name)

    measure("beam_tree", lambda: panel.tabs.setCurrentWidget(panel.tree_view),
            lambda: panel.tree_view.shown_tree() is not None, tree_reset)
    panel.tabs.setCurrentIndex(0)
    out = Path(tempfile.mkdtemp()) / "align.txt"
    measure("alignment_export", lambda: insp.export_alignment(str(out)), out.exists, lambda: out.unlink(missing_ok=True))
    if args.compare:
        view = panel.compare_view

        def compare_reset():
            panel.tabs.setCurrentIndex(0)
            view.second.clear()
            view.add_file(args.compare)

        measure("compare_second_model", lambda: panel.tabs.setCurrentWidget(view),
                lambda: view._pair() is not None, compare_reset)
    summary = {"samples": []}
    if stalls is not None:
        stalls.stop()
        summary = stalls.summary()
    print(json.dumps({"source_pieces": len(t.source_tokens) - 1, "target_pieces": len(t.best.tokens) - 1,
                      "views": results, "collections_over_10ms": collections,
                      "stalls": {k: v for k, v in summary.items() if k != "samples"},
                      "stall_samples": [x for x in summary["samples"] if x["activity"] != "start"][:20]}, indent=1))
    window.close()


if __name__ == "__main__":
    main()
