#!/usr/bin/env python3
"""How decoding cost grows with the work: source length, then output length for a fixed source.

    python bench/bench_length.py [--model MODEL.s2s] [--precision auto] [--threads 2] [--beam 5] [--repeats 3]

1. Sources of 10, 50, 100, 200 and 400 SentencePiece pieces (test_2016_flickr sentences joined and cut
   to that many pieces; a built-in text when the data is absent), one at a time (single-sentence latency,
   median of --repeats) and 16 at a time (sentences/s), with the model's own length limits.
2. One 50-piece source with its output forced to 25, 50, 100, 200 and 400 pieces (EOS banned before
   the length, the limit at it): milliseconds per output piece should stay about flat, that is total
   cost no worse than linear in the output length (each step copies the self-attention cache once,
   reordered and extended, and attends over the positions so far: linear per step, so quadratic in
   total, but a small share of a step at these lengths).

Beam 5, no attention recorded, protection and the repetition guard off (they would change the length).
Run it alone on an idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
BUNDLED = ROOT / "resources" / "models" / "en-de-tatoeba.s2s"
DATA = ROOT.parent / "shared" / "data" / "multi30k" / "raw" / "test_2016_flickr.en.gz"
FALLBACK = ("A man in a blue shirt is standing on a ladder cleaning windows. Two dogs are running through a field. "
            "A little girl climbs into a wooden playhouse. A woman is playing the guitar on a stage. ") * 40


def source_of(tok, text: str, pieces: int, offset: int = 0) -> str:
    """About `pieces` pieces of `text` starting at piece `offset`, as text."""
    return tok.decode(tok.encode(text)[offset : offset + pieces])


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=BUNDLED)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from s2s_desktop.engine.api import DecodeOptions
    from s2s_desktop.engine.data.corpus import read_lines
    from s2s_desktop.engine.decoding.service import Translator

    text = " ".join(read_lines(DATA)) if DATA.is_file() else FALLBACK
    tr = Translator.open(str(args.model), "cpu", threads=args.threads, precision=args.precision)
    tok = tr.loaded.src_tok
    opts = DecodeOptions(beam=args.beam, alternatives=0, repeat_ngram=0, protect=False, max_source_tokens=400)
    tr.translate([source_of(tok, text, 20)], opts, attention=False)  # warm-up
    print(f"model {args.model.name}, precision {tr.precision}, {args.threads} threads, beam {args.beam}, "
          f"data {'test_2016_flickr.en' if DATA.is_file() else 'built-in text'}\n")
    print("| source pieces | output pieces (mean) | latency, 1 sentence (ms) | sentences/s, 16 at a time "
          "| ms per output piece (1 sentence) |")
    print("|---|---|---|---|---|")
    for n in (10, 50, 100, 200, 400):
        one = source_of(tok, text, n)
        many = [source_of(tok, text, n, offset=n * (i + 1)) for i in range(16)]
        out = tr.translate([one], opts, attention=False)
        latency = timed(lambda one=one: tr.translate([one], opts, attention=False), args.repeats)
        start = time.perf_counter()
        outs = tr.translate(many, opts, attention=False)
        rate = len(many) / (time.perf_counter() - start)
        mean_out = statistics.mean(len(t.best.tokens) for t in outs)
        per_piece = 1000 * latency / max(len(out[0].best.tokens), 1)
        print(f"| {len(tok.encode(one))} | {mean_out:.0f} | {1000 * latency:.0f} | {rate:.2f} | {per_piece:.2f} |",
              flush=True)

    print("\n| output pieces (forced), 50-piece source | latency (ms) | ms per output piece |")
    print("|---|---|---|")
    src = source_of(tok, text, 50)
    for length in (25, 50, 100, 200, 400):
        forced = replace(opts, min_len=length, max_len_a=0.0, max_len_b=length)
        out = tr.translate([src], forced, attention=False)
        latency = timed(lambda forced=forced: tr.translate([src], forced, attention=False), args.repeats)
        pieces = len(out[0].best.tokens)
        print(f"| {pieces} | {1000 * latency:.0f} | {1000 * latency / pieces:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
