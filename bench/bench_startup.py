"""Start-up of the desktop app: process start -> first paint, and -> first translation with the last
model (the model reopens from the settings, as after a restart).

Each run is a fresh process with `--trace-startup` (offscreen Qt, a fresh app home); times are
wall-clock from just before the process is spawned. Prints JSON with per-run times and medians.

    python bench/bench_startup.py --model runs/m30k/best.s2s --runs 7
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


def run_once(model: str | None, text: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "S2S_DESKTOP_HOME": home, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
        if model:
            settings = Path(home, "config", "settings.json")
            settings.parent.mkdir(parents=True)
            settings.write_text(json.dumps({"schema_version": 1, "last_model": os.path.abspath(model)}))
        cmd = [sys.executable, "-m", "s2s_desktop.app", "--trace-startup"] + (["--text", text] if text else [])
        start = time.time()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        times: dict[str, float] = {}
        want = "first_translation" if text else "first_paint"
        for line in proc.stdout:
            if line.startswith("{"):
                event = json.loads(line)
                times[event["milestone"]] = event["time"] - start
                if event["milestone"] == want:
                    break
        if text:
            proc.wait(timeout=60)
        else:
            proc.terminate()
            proc.wait(timeout=60)
        return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model file reopened as the last model (for the first-translation time)")
    parser.add_argument("--text", default="A man in a blue shirt is standing on a ladder.")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    run_once(None, None)  # warm the OS file cache once; not counted
    paint = [run_once(None, None)["first_paint"] for _ in range(args.runs)]
    out = {"first_paint_s": paint, "first_paint_median_s": statistics.median(paint)}
    if args.model:
        runs = [run_once(args.model, args.text) for _ in range(args.runs)]
        for key in ("first_paint", "engine_loaded", "model_opened", "first_translation"):
            out[f"{key}_with_model_median_s"] = statistics.median(r[key] for r in runs)
        out["first_translation_s"] = [r["first_translation"] for r in runs]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
