#!/usr/bin/env python3
"""The fuzz properties of tests/fuzz with a large budget: rounds of random seeds until time is up.

    python bench/fuzz.py --minutes 10 [--examples 500]

Each round runs `pytest tests/fuzz` with S2S_FUZZ_EXAMPLES examples per property (CI runs 30, with a
fixed seed). Prints one row per reader: inputs tried and their outcomes — named error or success (the
property holds), other exception, crash, hang, over-memory (each a failure; the falsifying input of a
failed round is printed). Readers run in a child process capped at 4 GiB of address space.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("ok", "named", "other", "crash", "hang", "memory")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--examples", type=int, default=500, help="examples per property per round")
    args = ap.parse_args()
    tally = Path(tempfile.mkdtemp(prefix="s2s-fuzz-")) / "tally.json"
    env = {**os.environ, "S2S_FUZZ_EXAMPLES": str(args.examples), "S2S_FUZZ_TALLY": str(tally)}
    stop, rounds, failed = time.monotonic() + args.minutes * 60, 0, 0
    while time.monotonic() < stop:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/fuzz"],
                              cwd=ROOT, env=env, capture_output=True, text=True)
        rounds += 1
        if proc.returncode != 0:
            failed += 1
            print(f"round {rounds} failed:\n" + "\n".join(
                line[:300] for line in proc.stdout.splitlines() if line.startswith("E ") or "Falsifying" in line))
    rows = json.loads(tally.read_text()) if tally.exists() else {}
    print(f"{rounds} rounds of {args.examples} examples per property in {args.minutes:g} min; {failed} failed")
    print(f"{'reader':<18} {'inputs':>7} " + " ".join(f"{k:>6}" for k in KINDS))
    for name, row in sorted(rows.items()):
        print(f"{name:<18} {sum(row.values()):>7} " + " ".join(f"{row.get(k, 0):>6}" for k in KINDS))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
