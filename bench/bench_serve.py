#!/usr/bin/env python3
"""`s2s serve` under load: 1 client sending sentences one after another, then 8 and 32 concurrent clients,
each sending single sentences of Multi30k test_2016_flickr (English) to POST /translate on loopback.

    python bench/bench_serve.py [--model FILE] [--clients 1,8,32] [--requests 320] [--max-seconds 60]

For each level: sentences/s, p50 and p99 latency, errors (any status but 200), and the mean number of
sentences per engine call (from /health), with the server's RSS before the first level and after the
last. Loopback only, bounded: at most --requests requests and --max-seconds per level. Goal (issue 18):
32 clients reach at least 4x the sequential throughput with p99 under 1 s on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "multi30k" / "raw" / "test_2016_flickr.en.gz"


def rss_mib(pid: int) -> float:
    """Resident memory of a process (Linux /proc), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def post(url: str, text: str, source: str, target: str) -> int:
    body = json.dumps({"q": text, "source": source, "target": target}).encode()
    req = urllib.request.Request(url + "translate", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            json.loads(resp.read())["translatedText"]
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return -1


def health(url: str) -> dict:
    with urllib.request.urlopen(url + "health", timeout=10) as resp:
        return json.loads(resp.read())


def level(url: str, sentences: list[str], clients: int, requests: int, max_seconds: float, pair) -> dict:
    """`clients` threads, each sending one sentence at a time until `requests` were sent or time is up."""
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    next_index = [0]
    stop_at = time.perf_counter() + max_seconds

    def client():
        while time.perf_counter() < stop_at:
            with lock:
                i = next_index[0]
                if i >= requests:
                    return
                next_index[0] += 1
            start = time.perf_counter()
            status = post(url, sentences[i % len(sentences)], *pair)
            with lock:
                latencies.append(time.perf_counter() - start)
                statuses.append(status)

    before = health(url)["models"]
    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    after = health(url)["models"]
    sents = sum(m["sentences"] for m in after) - sum(m["sentences"] for m in before)
    batches = sum(m["batches"] for m in after) - sum(m["batches"] for m in before)
    ok = sum(1 for s in statuses if s == 200)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    return {"clients": clients, "requests": len(statuses), "seconds": round(seconds, 2),
            "sentences_per_s": round(ok / seconds, 2), "p50_ms": round(statistics.median(latencies) * 1000),
            "p99_ms": round(q[98] * 1000), "errors": len(statuses) - ok,
            "sentences_per_engine_call": round(sents / batches, 2) if batches else 0.0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="the .s2s model to serve (default: the built-in models)")
    ap.add_argument("--data", type=Path, default=DATA, help="source sentences, one per line (.gz or plain)")
    ap.add_argument("--source", default="en")
    ap.add_argument("--target", default="de")
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--requests", type=int, default=320, help="requests per level (default 320)")
    ap.add_argument("--max-seconds", type=float, default=60, help="time limit per level (default 60)")
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the server")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    opener = gzip.open if args.data.suffix == ".gz" else open
    with opener(args.data, "rt", encoding="utf-8") as f:
        sentences = [line.strip() for line in f if line.strip()]
    cmd = [sys.executable, "-m", "s2s_desktop", "serve", "--host", "127.0.0.1", "--port", "0", "--threads",
           str(args.threads), "--beam", str(args.beam), "--queue", "256", "--device", "cpu"]
    if args.model:
        cmd += ["--model", args.model]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = None
        for line in server.stdout:
            if line.startswith("serving on "):
                url = line.split()[2].rstrip("/") + "/"
                break
        if url is None:
            print("the server did not start", file=sys.stderr)
            return 1
        pair = (args.source, args.target)
        for s in sentences[-20:]:  # warm-up (sentences the levels do not start with)
            post(url, s, *pair)
        rss_before = rss_mib(server.pid)
        rows = [level(url, sentences, int(c), args.requests, args.max_seconds, pair) for c in args.clients.split(",")]
        rss_after = rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    base = rows[0]["sentences_per_s"] or float("nan")
    for row in rows:
        row["speedup"] = round(row["sentences_per_s"] / base, 2)
    result = {"rows": rows, "rss_mib_before": round(rss_before, 1), "rss_mib_after": round(rss_after, 1),
              "beam": args.beam, "threads": args.threads, "model": args.model or "built-in"}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"model {result['model']}, beam {args.beam}, {args.threads} torch threads, loopback")
    print(f"{'clients':>7} {'requests':>8} {'sent/s':>7} {'speedup':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
          f"{'sent/call':>9}")
    for r in rows:
        print(f"{r['clients']:>7} {r['requests']:>8} {r['sentences_per_s']:>7} {r['speedup']:>7} {r['p50_ms']:>7} "
              f"{r['p99_ms']:>7} {r['errors']:>6} {r['sentences_per_engine_call']:>9}")
    print(f"server RSS: {result['rss_mib_before']} MiB before, {result['rss_mib_after']} MiB after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
