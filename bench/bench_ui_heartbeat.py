"""UI responsiveness while the engine works: a 10 ms QTimer heartbeat on the UI thread records the
gaps between its ticks while (a) a 20-line paragraph is translated over and over, and (b) a user
types (as-you-type translation on, pauses between words longer than the debounce, so translations
run while the next word is typed). Target: no gap above 50 ms.

    python bench/bench_ui_heartbeat.py --model runs/m30k/best.s2s [--seconds 15]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "multi30k" / "raw" / "test_2016_flickr.en.gz"
FALLBACK = "A man in a blue shirt is standing on a ladder and cleaning the windows of a tall building."


def paragraph(lines: int = 20) -> str:
    if DATA.exists():
        with gzip.open(DATA, "rt", encoding="utf-8") as fh:
            return "".join(next(fh) for _ in range(lines)).rstrip("\n")
    return "\n".join([FALLBACK] * lines)


class Heartbeat:
    def __init__(self, timer_cls) -> None:
        self.gaps: list[float] = []
        self.last = None
        self.timer = timer_cls(interval=10)
        self.timer.timeout.connect(self.tick)

    def tick(self) -> None:
        now = time.perf_counter()
        if self.last is not None:
            self.gaps.append((now - self.last) * 1000)
        self.last = now

    def start(self) -> None:
        self.gaps.clear()
        self.last = None
        self.timer.start()

    def stop(self) -> dict[str, float]:
        self.timer.stop()
        g = sorted(self.gaps)
        return {"ticks": len(g), "max_ms": round(g[-1], 1), "p99_ms": round(g[int(0.99 * (len(g) - 1))], 1),
                "p50_ms": round(g[len(g) // 2], 1), "over_50ms": sum(x > 50 for x in g)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from s2s_desktop.gui.main_window import MainWindow

    _app = QApplication(sys.argv)  # kept alive for the whole run
    window = MainWindow()
    window.show()

    def wait_for(signal, timeout_s: float = 120) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()

    window.start_engine(open_last=False)
    window.open_model(args.model)
    wait_for(window.client.model_opened)
    beat = Heartbeat(QTimer)
    results: dict[str, object] = {"model": args.model}

    # (a) a 20-line paragraph, translated again as soon as each result arrives.
    text = paragraph()
    window.panel.as_you_type.setChecked(False)
    window.panel.source.setPlainText(text)
    done, latencies = [0], []
    deadline = time.perf_counter() + args.seconds

    def again(_result=None, seconds: float = 0.0) -> None:
        if _result is not None:
            done[0] += 1
            latencies.append(seconds)
        if time.perf_counter() < deadline:
            window.panel.request_translation()
        else:
            loop.quit()

    loop = QEventLoop()
    window.client.translated.connect(again)
    beat.start()
    again()
    loop.exec()
    results["paragraph"] = {**beat.stop(), "translations": done[0],
                            "mean_latency_ms": round(1000 * sum(latencies) / max(len(latencies), 1), 1)}
    window.client.translated.disconnect(again)

    # (b) typing: 90 ms per character, 400 ms pause after each word (the debounce is 300 ms).
    window.panel.source.clear()
    window.panel.as_you_type.setChecked(True)
    shown = [0]
    window.client.translated.connect(lambda *_: shown.__setitem__(0, shown[0] + 1))
    chars = list((text.replace("\n", " ") + " ") * 3)
    deadline = time.perf_counter() + args.seconds
    loop = QEventLoop()

    def type_next() -> None:
        if not chars or time.perf_counter() >= deadline:
            loop.quit()
            return
        ch = chars.pop(0)
        window.panel.source.insertPlainText(ch)
        QTimer.singleShot(400 if ch == " " else 90, type_next)

    beat.start()
    type_next()
    loop.exec()
    results["typing"] = {**beat.stop(), "translations_shown": shown[0],
                         "characters": len(window.panel.source.toPlainText())}
    window.close()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
