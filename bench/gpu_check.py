#!/usr/bin/env python3
"""The Transformer issue's GPU figures in one prepared run (under 8 minutes on one GPU): see gpu_check.sh.

1. training throughput (target tokens/s, bf16 autocast, fused AdamW) of the small Transformer and of the
   RNN (bench_distributed.py's sizes), a fixed number of updates each, no validation inside;
2. beam-5 decoding of test_2016_flickr with the bundled model: sentences/s on CUDA (fp32 and bf16),
   load excluded, next to the same on the CPU for the first 200 sentences, and how many outputs match;
3. the app's engine on CUDA: `Translator.translate` with attention recorded (what the inspector asks
   for): each attention row a distribution over the source, the text the same as without attention;
4. DDP with one process per GPU (`--nproc-per-node`), only where there are several GPUs.

Every part runs even when an earlier one fails; each prints one `RESULT {json}` line and the run ends
with a summary. `--device cpu --steps 40 --sentences 100` runs the same path on a CPU (a smoke check of the script).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
from bench_distributed import MODELS, step_throughput, train_command  # noqa: E402
from bench_sameweights import sentences  # noqa: E402
from bench_transformer import recipe  # noqa: E402  (the small preset's recipe, measured against OpenNMT-py)

BUNDLED = ROOT / "resources" / "models" / "en-de-tatoeba.s2s"
results: dict[str, object] = {}


def part(name: str):
    def wrap(fn):
        def run(*a, **k):
            start = time.perf_counter()
            try:
                out = fn(*a, **k)
            except Exception as exc:  # noqa: BLE001  (one failing part must not hide the others)
                traceback.print_exc()
                out = {"error": f"{type(exc).__name__}: {exc}"}
            out["seconds"] = round(time.perf_counter() - start, 1)
            results[name] = out
            print("RESULT", json.dumps({name: out}), flush=True)
        return run
    return wrap


def train_cmd(data: Path, out: Path, model_args: list[str], batch: int, steps: int, device: str) -> list[str]:
    return train_command(data, out, model_args, steps, batch, device) + ["--precision", "bf16"]


@part("train")
def train(data: Path, work: Path, steps: int, device: str) -> dict:
    figures = {}
    for name, (args, batch) in {"transformer-small": (recipe("small"), 8192), "rnn": MODELS["rnn"]}.items():
        out = work / f"train-{name}"
        subprocess.run(["rm", "-rf", str(out)], check=True)
        subprocess.run(train_cmd(data, out, args, batch, steps, device), check=True, stdout=subprocess.DEVNULL)
        figures[name] = step_throughput(out)
        figures[name]["batch_tokens"] = batch
    return figures


@part("decode")
def decode(data: Path, device: str, n_sentences: int) -> dict:
    from s2s_desktop.engine.api import DecodeOptions
    from s2s_desktop.engine.decoding.service import Translator

    texts = sentences(data)[0][:n_sentences]
    opts = DecodeOptions(beam=5, alternatives=0, repeat_ngram=0, protect=False)
    figures = {}
    cpu = Translator.open(str(BUNDLED), "cpu", threads=None, precision="fp32")
    cpu_text = [t.text for t in cpu.translate(texts[:200], opts, attention=False)]
    for precision in ("fp32", "bf16"):
        tr = Translator.open(str(BUNDLED), device, threads=None, precision=precision)
        tr.translate(texts[:100], opts, attention=False)  # warm-up
        best = None
        for batch_tokens in (4000, 16000, 64000):
            start = time.perf_counter()
            out = [t.text for t in tr.translate(texts, opts, batch_tokens=batch_tokens, attention=False)]
            seconds = time.perf_counter() - start
            if best is None or seconds < best[0]:
                best = (seconds, batch_tokens, out)
        seconds, batch_tokens, out = best
        figures[precision] = {"sentences_per_sec": round(len(texts) / seconds, 1), "batch_tokens": batch_tokens,
                              "same_as_cpu_fp32": f"{sum(a == b for a, b in zip(out, cpu_text))}/{len(cpu_text)}"}
    return figures


@part("app_engine")
def app_engine(device: str) -> dict:
    import torch

    from s2s_desktop.engine.api import DecodeOptions
    from s2s_desktop.engine.decoding.service import Translator

    tr = Translator.open(str(BUNDLED), device, threads=None, precision="auto")
    text = ["The weather is nice today, and the children are playing in the garden."]
    opts = DecodeOptions(beam=5, nbest=3)
    plain = tr.translate(text, opts, attention=False)[0]
    start = time.perf_counter()
    shown = tr.translate(text, opts, attention=True)[0]
    latency = time.perf_counter() - start
    if shown.text != plain.text:
        raise RuntimeError(f"attention changed the output: {shown.text!r} vs {plain.text!r}")
    attn = torch.as_tensor(shown.best.attention)  # (target, source) or (target, layers, heads, source)
    sums = attn.sum(-1)
    if not torch.allclose(sums, torch.ones_like(sums), atol=1e-3):
        raise RuntimeError(f"attention rows do not sum to 1: {sums.flatten()[:8].tolist()}")
    return {"text": shown.text, "attention_shape": list(attn.shape), "latency_ms_with_attention": round(latency * 1e3, 1)}


@part("ddp")
def ddp(data: Path, work: Path, steps: int, gpus: int) -> dict:
    if gpus < 2:
        return {"skipped": f"{gpus} GPU(s): DDP needs 2 or more"}
    args, batch = MODELS["transformer"]
    out = work / "ddp"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    cmd = train_cmd(data, out, args, batch, steps, "cuda") + ["--nproc-per-node", str(gpus)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return {"processes": gpus, **step_throughput(out)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "multi30k" / "raw")
    ap.add_argument("--work", type=Path, default=Path("/tmp/gpu_check"))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=400, help="training updates per model")
    ap.add_argument("--sentences", type=int, default=1000, help="test_2016_flickr sentences decoded")
    args = ap.parse_args()
    import torch

    gpus = torch.cuda.device_count() if args.device == "cuda" else 0
    print(f"torch {torch.__version__}, device {args.device}, {gpus} GPU(s)"
          + (f": {torch.cuda.get_device_name(0)}" if gpus else ""), flush=True)
    if args.device == "cuda" and not gpus:
        print("no CUDA device: nothing to measure", flush=True)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    train(args.data, args.work, args.steps, args.device)
    decode(args.data, args.device, args.sentences)
    app_engine(args.device)
    ddp(args.data, args.work, args.steps, gpus)
    print("SUMMARY", json.dumps(results, indent=2), flush=True)
    return 1 if any("error" in r for r in results.values() if isinstance(r, dict)) else 0


if __name__ == "__main__":
    sys.exit(main())
