#!/usr/bin/env python3
"""Training throughput and peak memory of the engine next to Joey NMT (and OpenNMT-py) in one run.

All systems train the same RNN size on Multi30k en->de on this machine, one after the other (never
two at once), each for a fixed wall time, and the ratios are printed. Usage:

    python bench/bench_train.py --data ../shared/data/multi30k/raw --peers-venv /tmp/peers \
        [--seconds 180] [--peer-seconds 300] [--peers joey,onmt] [--work /tmp/bench_train]

`--peers-venv` is the folder made by ../shared/bench/peers/install.sh. Throughput is target tokens
(EOS included) per second of training, validation excluded, as every toolkit logs it; our first log
interval (start-up) is left out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE.parent.parent / "shared" / "bench" / "peers"

# The benchmark model: emb 256, bi-GRU 256 per direction, decoder 512, SentencePiece 8000 per side.
MODEL_ARGS = ["--emb-size", "256", "--encoder-hidden", "256", "--decoder-hidden", "512", "--cell", "gru",
              "--vocab-size", "8000", "--dropout", "0.2"]


def peak_rss_gib(time_file: Path) -> float:
    text = time_file.read_text()
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return round(kb / 2**20, 2)


def run_ours(data: Path, work: Path, name: str, seconds: float, extra: list[str],
             base_args: list[str] = MODEL_ARGS) -> dict:
    out = work / name
    subprocess.run(["rm", "-rf", str(out)], check=True)
    cmd = [
        "/usr/bin/time", "-v", "-o", str(work / f"{name}.time"),
        sys.executable, "-m", "s2s_desktop", "train",
        "--train-src", str(data / "train.en.gz"), "--train-tgt", str(data / "train.de.gz"),
        "--valid-src", str(data / "val.en.gz"), "--valid-tgt", str(data / "val.de.gz"),
        "--src-lang", "en", "--tgt-lang", "de", "--arch", "rnn", "--out", str(out),
        "--max-minutes", str(seconds / 60), "--valid-every", "1000000", "--valid-sample", "50",
        "--log-every", "20", "--device", "cpu", "--threads", "2", "--quiet", *base_args, *extra,
    ]
    print("$", " ".join(cmd[4:]), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [e for e in events if e["event"] == "step"]
    started = next(e for e in events if e["event"] == "started")
    rates = [e["tokens_per_sec"] for e in steps[1:]]  # the first interval includes start-up
    return {
        "system": f"s2s-desktop {name}",
        "params": started["num_params"],
        "steps": steps[-1]["step"] if steps else 0,
        "tgt_tok_per_s": round(statistics.mean(rates), 1),
        "peak_rss_gib": peak_rss_gib(work / f"{name}.time"),
        "batch_tokens": started["train"]["batch_tokens"],
    }


def onmt_interval_rates(run: Path) -> list[float]:
    """OpenNMT-py's logged target tokens/s per report interval, the first (start-up, bucketing) left out,
    as ours leave out their first interval."""
    log = (run / "train.log").read_text(encoding="utf-8", errors="replace")
    return [float(m) for m in re.findall(r"Step \d+/\s*\d+;.*?\d+/\s*(\d+) tok/s;", log)][1:]


def run_peer(toolkit: str, template: str | Path, data_dir: Path, venv_root: Path, work: Path, seconds: int,
             valid_steps: int = 100) -> dict:
    """`template`: a config name in ../shared/bench/peers/configs or the path of a template file."""
    path = Path(template) if str(template).endswith(".tmpl") else PEERS / "configs" / f"{template}.yaml.tmpl"
    name = path.name.removesuffix(".yaml.tmpl")
    run = work / f"peer-{name}"
    subprocess.run(["rm", "-rf", str(run)], check=True)
    venv = venv_root / ("venv-joey" if toolkit == "joey" else "venv-onmt213")
    env = dict(os.environ, DATA_DIR=str(data_dir), PEERS_VENV=str(venv), THREADS="2")
    # validation every 100 steps by default saves the model that bench_decode.py decodes
    cmd = [str(PEERS / "train.sh"), toolkit, str(path), str(seconds), str(run), str(valid_steps)]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)
    out = subprocess.run([str(venv_root / "venv-common" / "bin" / "python"), str(PEERS / "parse_train.py"),
                          toolkit, str(run)], check=True, capture_output=True, text=True)
    res = json.loads(out.stdout)
    rates = onmt_interval_rates(run) if toolkit == "onmt" else []
    return {"system": name, "steps": res["steps"],
            "tgt_tok_per_s": round(statistics.mean(rates), 1) if rates else res["tgt_tok_per_s"],
            "peak_rss_gib": res["peak_rss_gib"], "batch_tokens": _batch(run / "config.yaml")}


def _batch(config: Path) -> str:
    """'4096 tokens' or '64 sents', from the rendered config."""
    text = config.read_text()
    size = re.search(r"^batch_size:\s*(\d+)", text, re.M)
    kind = re.search(r"^batch_type:\s*(\w+)", text, re.M)
    return f"{size.group(1) if size else '?'} {kind.group(1) if kind else 'sents'}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data" / "multi30k" / "raw")
    ap.add_argument("--peers-venv", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_train"))
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--peer-seconds", type=int, default=300)
    ap.add_argument("--peers", default="joey,onmt")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    data_dir = a.work / "peer-data"
    if not (data_dir / "test.sp.en").exists():
        subprocess.run([str(a.peers_venv / "venv-common" / "bin" / "python"), str(PEERS / "preprocess.py"),
                        str(a.data), str(data_dir)], check=True)
    results = [
        run_ours(a.data, a.work, "luong", a.seconds, ["--attention", "luong-general"]),
        run_ours(a.data, a.work, "bahdanau", a.seconds, ["--attention", "bahdanau"]),
        # Joey's batches are 64 sentences (about 1,000 target tokens): the same small batches for us
        run_ours(a.data, a.work, "luong-batch1000", a.seconds, ["--attention", "luong-general",
                                                                "--batch-tokens", "1000"]),
    ]
    peers = {"joey": ("joey", "joey_rnn"), "onmt": ("onmt", "onmt_rnn")}
    for name in [p for p in a.peers.split(",") if p]:
        toolkit, template = peers[name]
        results.append(run_peer(toolkit, template, data_dir, a.peers_venv, a.work, a.peer_seconds))
    by_name = {r["system"]: r for r in results}
    print(f"\n{'system':32} {'steps':>6} {'tgt tok/s':>10} {'peak RSS GiB':>13} {'batch':>14}")
    for r in results:
        print(f"{r['system']:32} {r['steps']:>6} {r['tgt_tok_per_s']:>10,.0f} {r['peak_rss_gib']:>13} "
              f"{r['batch_tokens']!s:>14}")
    for peer in ("joey_rnn", "onmt_rnn"):
        if peer in by_name:
            base = by_name[peer]["tgt_tok_per_s"]
            ratios = ", ".join(f"{r['system'].split()[-1]} {r['tgt_tok_per_s'] / base:.2f}x"
                               for r in results if r["system"].startswith("s2s"))
            print(f"ratio vs {peer}: {ratios}")
    (a.work / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\nresults in {a.work / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
