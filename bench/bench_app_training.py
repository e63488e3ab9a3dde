#!/usr/bin/env python3
"""Training inside the app next to the CLI, on the same settings, one after the other:

- target tokens/s of `s2s train` (a separate process) and of the app's Train tab (a real
  TrainingPanel, whose run is a child process, live plots redrawing at 10 Hz, offscreen);
- while the app trains, a 10 ms QTimer heartbeat on the UI thread records its longest gap and p99
  (target: no gap above 50 ms), from the moment Start is pressed (torch is already loaded, as in the
  app, whose engine thread imports it at start-up).

    python bench/bench_app_training.py [--data ../shared/data/multi30k/raw] [--seconds 120]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_ui_heartbeat import Heartbeat  # noqa: E402 - found through sys.path above


def settings(data: Path, out: Path, seconds: float) -> tuple[dict, dict]:
    from s2s_desktop.engine.api import ModelConfig, TrainConfig
    from s2s_desktop.engine.models.presets import preset

    model = ModelConfig(arch="rnn", attention="luong-general", dropout=0.2, **preset("rnn", "small"))
    train = TrainConfig(out_dir=str(out), src_lang="en", tgt_lang="de", train_src=str(data / "train.en.gz"),
                        train_tgt=str(data / "train.de.gz"), valid_src=str(data / "val.en.gz"),
                        valid_tgt=str(data / "val.de.gz"), lr=0.0015, warmup_steps=100, valid_every=200,
                        valid_sample=200, max_minutes=seconds / 60, device="cpu", threads=2)
    return model.to_dict(), train.to_dict()


def rate(metrics: Path) -> float:
    steps = [json.loads(line) for line in metrics.read_text().splitlines() if '"event": "step"' in line]
    return statistics.mean(e["tokens_per_sec"] for e in steps[1:])


def cli_run(model: dict, train: dict) -> float:
    args = ["--train-src", train["train_src"], "--train-tgt", train["train_tgt"], "--valid-src", train["valid_src"],
            "--valid-tgt", train["valid_tgt"], "--src-lang", "en", "--tgt-lang", "de", "--arch", "rnn",
            "--preset", "small", "--attention", "luong-general", "--dropout", "0.2", "--lr", "0.0015",
            "--warmup-steps", "100", "--valid-every", "200", "--valid-sample", "200",
            "--max-minutes", str(train["max_minutes"]), "--device", "cpu", "--threads", "2", "--quiet",
            "--out", train["out_dir"]]
    subprocess.run([sys.executable, "-m", "s2s_desktop", "train", *args], check=True, stdout=subprocess.DEVNULL)
    return rate(Path(train["out_dir"]) / "metrics.jsonl")


def app_run(model: dict, train: dict) -> tuple[float, dict]:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    import s2s_desktop.engine.decoding.service
    import s2s_desktop.engine.training.loop  # noqa: F401
    from s2s_desktop.gui.training_panel import TrainingPanel

    _app = QApplication.instance() or QApplication(sys.argv)  # kept alive for the whole run
    panel = TrainingPanel()
    panel.resize(1400, 900)
    panel.show()
    settle = QEventLoop()  # the tab has been open a moment before the user presses Start
    QTimer.singleShot(500, settle.quit)
    settle.exec()
    beat = Heartbeat(QTimer)
    loop = QEventLoop()
    panel.client.done.connect(loop.quit)
    beat.start()
    panel.start(model, train)
    loop.exec()
    health = beat.stop()
    panel.client.shutdown()
    panel.close()
    return rate(Path(train["out_dir"]) / "metrics.jsonl"), health


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data" / "multi30k" / "raw")
    ap.add_argument("--seconds", type=float, default=120)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="s2s-app-train-"))
    os.environ["S2S_DESKTOP_HOME"] = str(work / "home")
    model, train = settings(a.data, work / "cli", a.seconds)
    cli = cli_run(model, train)
    start = time.perf_counter()
    app, health = app_run(model, {**train, "out_dir": str(work / "app")})
    print(json.dumps({"cli_tok_per_s": round(cli, 1), "app_tok_per_s": round(app, 1), "app_over_cli": round(app / cli, 3),
                      "heartbeat": health, "app_wall_s": round(time.perf_counter() - start, 1)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
