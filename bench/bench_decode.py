#!/usr/bin/env python3
"""Decoding speed and quality on Multi30k test_2016_flickr, next to Joey NMT in the same run, plus the
single-sentence latency of the interactive path.

    python bench/bench_decode.py --model RUN/best.s2s --peers-venv /tmp/peers \
        --joey-run /tmp/bench_train/peer-joey_rnn [--data ../shared/data/multi30k/raw]

Ours is timed in-process after loading (the figure a running app sees) and also as a whole
`s2s evaluate` process (start-up included, like the peers' wall time). Joey NMT is decoded with
../shared/bench/peers/decode.sh on a model trained by bench_train.py; its own "Generation took" line
gives its decoding-only time. Latency: a 12-word sentence, beam 5, attention and alternatives
included, 200 runs after 20 warm-up runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE.parent.parent / "shared" / "bench" / "peers"
SENTENCE_12 = "A man in a blue shirt is standing on a ladder cleaning windows."


def ours(model: Path, src: list[str], refs: list[str], beams: list[int]) -> list[dict]:
    from s2s_desktop.engine.api import DecodeOptions
    from s2s_desktop.engine.decoding.service import Translator
    from s2s_desktop.engine.metrics import score

    translator = Translator.open(str(model), "cpu", threads=2)
    translator.translate(src[:50], DecodeOptions(beam=5))  # warm-up
    rows = []
    for beam in beams:
        opts = DecodeOptions(beam=beam, alternatives=0)  # as `s2s evaluate` and file translation run
        start = time.perf_counter()
        out = translator.translate(src, opts)
        seconds = time.perf_counter() - start
        hyps = [t.text for t in out]
        pieces = sum(len(t.best.tokens) for t in out)
        cased = score(hyps, refs, names=["bleu", "chrf"])
        lower = score(hyps, refs, lowercase=True, names=["bleu"])
        rows.append({"system": "s2s-desktop", "beam": beam, "seconds": round(seconds, 2),
                     "sents_per_s": round(len(src) / seconds, 1), "pieces_per_s": round(pieces / seconds, 1),
                     "bleu": round(cased["bleu"].value, 2), "bleu_lc": round(lower["bleu"].value, 2),
                     "chrf": round(cased["chrf"].value, 2)})
    return rows


def ours_wall(model: Path, data: Path, beam: int) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "s2s_desktop", "evaluate", "--model", str(model), "--src",
                    str(data / "test_2016_flickr.en.gz"), "--ref", str(data / "test_2016_flickr.de.gz"),
                    "--beam", str(beam), "--device", "cpu", "--threads", "2", "--json"],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def latency(model: Path, runs: int = 200) -> dict:
    from s2s_desktop.engine.api import DecodeOptions
    from s2s_desktop.engine.decoding.service import Translator

    translator = Translator.open(str(model), "cpu", threads=2)
    opts = DecodeOptions(beam=5, nbest=5)
    for _ in range(20):
        translator.translate([SENTENCE_12], opts)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        (t,) = translator.translate([SENTENCE_12], opts)
        times.append((time.perf_counter() - start) * 1000)
        assert t.best.attention.size and len(t.best.alt_tokens)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(0.95 * runs) - 1], 2),
            "max_ms": round(times[-1], 2), "words": len(SENTENCE_12.split()), "output": t.text}


def joey(run: Path, venv_root: Path, data_dir: Path, beam: int, work: Path) -> dict:
    env = dict(os.environ, DATA_DIR=str(data_dir), PEERS_VENV=str(venv_root / "venv-joey"), THREADS="2")
    prefix = work / f"joey.beam{beam}"
    subprocess.run([str(PEERS / "decode.sh"), "joey", str(run), str(beam), str(prefix)], check=True, env=env)
    wall = float(Path(f"{prefix}.wall").read_text())
    log = Path(f"{prefix}.log").read_text(errors="replace")
    gen = re.findall(r"Generation took ([\d.]+)", log)
    out = subprocess.run([str(venv_root / "venv-common" / "bin" / "python"), str(PEERS / "score.py"),
                          f"{prefix}.hyp", str(data_dir / "spm.de.model"), str(data_dir / "test.raw.de"),
                          "--seconds", str(wall)], check=True, capture_output=True, text=True)
    scored = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip().startswith("{") else {}
    gen_s = float(gen[-1]) if gen else None
    return {"system": "joey", "beam": beam, "wall_s": round(wall, 2), "sents_per_s_wall": round(1000 / wall, 1),
            "generation_s": gen_s, "sents_per_s_gen": round(1000 / gen_s, 1) if gen_s else None,
            "bleu": scored.get("bleu")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data" / "multi30k" / "raw")
    ap.add_argument("--peers-venv", type=Path)
    ap.add_argument("--joey-run", type=Path)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_decode"))
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    from s2s_desktop.engine.data.corpus import read_lines

    src = read_lines(a.data / "test_2016_flickr.en.gz")
    refs = read_lines(a.data / "test_2016_flickr.de.gz")
    results = {"ours": ours(a.model, src, refs, [1, 5])}
    results["ours_wall_s"] = {b: round(ours_wall(a.model, a.data, b), 2) for b in (1, 5)}
    results["latency"] = latency(a.model)
    if a.peers_venv and a.joey_run:
        data_dir = a.joey_run.parent / "peer-data"
        results["joey"] = [joey(a.joey_run, a.peers_venv, data_dir, b, a.work) for b in (1, 5)]
    print(json.dumps(results, indent=1))
    for row in results["ours"]:
        line = (f"ours beam {row['beam']}: {row['sents_per_s']} sents/s in-process "
                f"({1000 / results['ours_wall_s'][row['beam']]:.1f} with process start), BLEU {row['bleu']} "
                f"(lc {row['bleu_lc']})")
        for j in results.get("joey", []):
            if j["beam"] == row["beam"]:
                line += (f"; Joey {j['sents_per_s_wall']} wall / {j['sents_per_s_gen']} gen-only -> ratio "
                         f"{row['sents_per_s'] / j['sents_per_s_gen']:.2f}x (gen-only), "
                         f"{1000 / results['ours_wall_s'][row['beam']] / j['sents_per_s_wall']:.2f}x (wall)")
        print(line)
    lat = results["latency"]
    print(f"latency, 12 words, beam 5: p50 {lat['p50_ms']} ms, p95 {lat['p95_ms']} ms, max {lat['max_ms']} ms")
    (a.work / "results.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
