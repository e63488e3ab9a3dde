#!/usr/bin/env python3
"""Training throughput of one process next to N processes (torchrun, DDP) on the same global batch.

    python bench/bench_distributed.py --data ../shared/data/multi30k/raw [--nproc 2] [--steps 120]
        [--arch rnn|transformer] [--work /tmp/bench_distributed]

Both runs train from scratch on Multi30k en->de for --steps updates with the same global batches (one
process with N x B tokens and N threads; N processes with B tokens and one thread each), so they also
end with the same loss. Throughput is target tokens per second of training between the first and
the last step report (start-up excluded, no validation in between), from each run's metrics.jsonl.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

# The model of bench_train.py (RNN) and of the Transformer recipe in docs/benchmarks.md.
MODELS = {
    "rnn": (["--arch", "rnn", "--emb-size", "256", "--encoder-hidden", "256", "--decoder-hidden", "512",
             "--vocab-size", "8000", "--dropout", "0.2"], 3000),
    "transformer": (["--arch", "transformer", "--preset", "tiny", "--joint-vocab", "--share-embeddings",
                     "--tie-output", "--sp-model-type", "bpe", "--vocab-size", "10000", "--dropout", "0.3",
                     "--lr", "5e-3", "--schedule", "inverse-sqrt", "--warmup-steps", "1000", "--adam-beta2", "0.98"], 4096),
}


def train_command(data: Path, out: Path, model_args: list[str], steps: int, batch: int, device: str = "cpu") -> list[str]:
    """`s2s train` on Multi30k for `steps` updates, no validation inside (gpu_check.py uses it too);
    `batch` comes last, so it wins over any --batch-tokens in `model_args`."""
    return [sys.executable, "-m", "s2s_desktop", "train",
            "--train-src", str(data / "train.en.gz"), "--train-tgt", str(data / "train.de.gz"),
            "--valid-src", str(data / "val.en.gz"), "--valid-tgt", str(data / "val.de.gz"),
            "--src-lang", "en", "--tgt-lang", "de", "--out", str(out), "--max-steps", str(steps),
            "--valid-every", "1000000", "--valid-sample", "50", "--log-every", "20", "--device", device,
            "--quiet", *model_args, "--batch-tokens", str(batch)]


def step_throughput(out: Path) -> dict:
    """Target tokens/s between the first and the last step report of out/metrics.jsonl (the first,
    start-up and warm-up, left out)."""
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    steps = [e for e in events if e.get("event") == "step"]
    if len(steps) < 2:
        raise RuntimeError(f"{out}/metrics.jsonl has {len(steps)} step reports; need 2")
    first, last = steps[0], steps[-1]
    return {
        "steps": f"{first['step']}-{last['step']}",
        "tokens_per_sec": round((last["tokens_seen"] - first["tokens_seen"]) / (last["elapsed"] - first["elapsed"])),
        "final_loss": round(last["loss"], 4),
    }


def run(data: Path, out: Path, model_args: list[str], steps: int, batch: int, nproc: int) -> dict:
    subprocess.run(["rm", "-rf", str(out)], check=True)
    cmd = train_command(data, out, model_args, steps, batch)
    cmd += ["--threads", "1", "--nproc-per-node", str(nproc)] if nproc > 1 else ["--threads", "2"]
    print("$", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return {"processes": nproc, "batch_per_process": batch, "global_batch": batch * nproc, **step_throughput(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/multi30k/raw")
    parser.add_argument("--arch", choices=sorted(MODELS), default="rnn")
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_distributed"))
    args = parser.parse_args()
    model_args, global_batch = MODELS[args.arch]
    args.work.mkdir(parents=True, exist_ok=True)
    rows = [run(args.data, args.work / f"{args.arch}-{n}p", model_args, args.steps, global_batch // n, n)
            for n in (1, args.nproc)]
    for row in rows:
        print(json.dumps(row))
    print(f"{args.arch}: {args.nproc} processes / 1 process = {rows[1]['tokens_per_sec'] / rows[0]['tokens_per_sec']:.2f}")


if __name__ == "__main__":
    main()
