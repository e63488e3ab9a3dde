#!/usr/bin/env python3
"""The same-weights speed anchor: one model decoded by our engine and by CTranslate2 on its export.

    python bench/bench_sameweights.py [--model MODEL.s2s] [--data ../shared/data/multi30k/raw]
        [--beam 5] [--threads 2] [--work /tmp/bench_sameweights] [--json OUT.json]

The model (default: the bundled en-de-tatoeba.s2s; any exportable Transformer, imported Marian models
included) is exported with `s2s export --to ctranslate2` (float32 weights) and both engines decode
test_2016_flickr.en (1,000 sentences; a built-in set of 240 when the data is absent) with the same
beam, length penalty and length limits, in one process, in fp32 and in int8 on both sides: ours
`Translator.open(..., precision="fp32" / "int8")` (int8: every linear layer, per-row activation
scales, see lowp.py and transformer_infer.py; ours also in bf16), no attention recorded (as CTranslate2),
CTranslate2 compute_type "float32" / "int8" on the same export (int8 weights, its own kernels).
Text in, text out on both sides (tokenisation and detokenisation included), load excluded, after a
warm-up pass over the whole set; each engine is timed at a few batch sizes and its best is reported (ours: --batch-tokens
of Translator.translate, --threads torch threads; CTranslate2: sentences per translate_batch call,
one worker with --threads or 1 intra-op threads, or --threads workers (inter_threads) of 1 thread
each, whichever is fastest, through
formats/ctranslate2_run.py, which asks CTranslate2 for what our search ranks, so that the outputs
are comparable). Printed: sentences/s and output pieces/s of each, the ratio ours / CTranslate2, and
the share of sentences with identical output ids. Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
BUNDLED = ROOT / "resources" / "models" / "en-de-tatoeba.s2s"
DATA = ROOT.parent / "shared" / "data" / "multi30k" / "raw"
OURS_BATCH_TOKENS = (1000, 2000, 4000, 8000, 16000, 32000)
CT2_BATCH_SIZES = (8, 16, 32, 64, 128, 256)
FALLBACK = [
    "A man in a blue shirt is standing on a ladder cleaning windows.", "Two dogs are running through a field.",
    "A little girl climbs into a wooden playhouse.", "A woman is playing the guitar on a stage.",
    "Several people are waiting at a bus stop in the rain.", "A boy jumps into a swimming pool.",
    "Three men are working on a road at night.", "A child in a red coat plays in the snow.",
    "An old man is reading a newspaper on a bench.", "A group of friends are eating dinner together.",
    "A cyclist rides down a steep hill.", "Two women are talking in front of a shop.",
]


def sentences(data: Path) -> tuple[list[str], str]:
    from s2s_desktop.engine.data.corpus import read_lines

    path = data / "test_2016_flickr.en.gz"
    if path.is_file():
        return read_lines(path), "test_2016_flickr.en"
    return FALLBACK * 20, f"built-in ({len(FALLBACK)} sentences x 20; {path} is absent)"


def time_ours(model: Path, texts: list[str], opts, precision: str, threads: int) -> dict:
    from s2s_desktop.engine.api import EOS_ID
    from s2s_desktop.engine.decoding.service import Translator

    translator = Translator.open(str(model), "cpu", threads=threads, precision=precision)
    tok = translator.loaded.tgt_tok
    translator.translate(texts, opts, attention=False)  # warm-up: one whole pass (per-shape caches, allocator)
    best = None
    for batch_tokens in OURS_BATCH_TOKENS:
        start = time.perf_counter()
        out = translator.translate(texts, opts, batch_tokens=batch_tokens, attention=False)
        seconds = time.perf_counter() - start
        if best is None or seconds < best["seconds"]:
            ids = [[EOS_ID if p == "</s>" else tok.piece_to_id(p) for p in t.best.tokens] for t in out]
            best = {"seconds": seconds, "batch": f"{batch_tokens} tokens", "ids": ids}
        print(f"  ours {precision} batch_tokens {batch_tokens}: {len(texts) / seconds:.1f} sentences/s", flush=True)
    return best


def time_ct2(model_dir: Path, loaded, texts: list[str], opts, compute_type: str, threads: int) -> dict:
    """Best of the batch sizes and of three ways to use the cores: one worker with `threads` intra-op
    threads, one worker with 1 (on small machines CTranslate2's thread synchronisation can cost more than
    the second core brings), and `threads` workers (inter_threads) of 1 thread each, which decode
    different batches side by side."""
    from s2s_desktop.engine.formats.ctranslate2_run import Ct2Translator

    best = None
    layouts = sorted({(1, threads), (1, 1), (threads, 1)}, key=lambda w: (w[0], -w[1]))  # (workers, threads)
    for workers, intra in layouts:
        ct2 = Ct2Translator(model_dir, loaded, compute_type, intra, workers)
        ct2.translate(texts, opts)  # warm-up: one whole pass, as ours
        label = f"{workers} worker(s) x {intra} thread(s)"
        for batch_size in CT2_BATCH_SIZES:
            start = time.perf_counter()
            ids = ct2.translate_ids(ct2.encode(texts, opts), opts, batch_size)
            _ = [loaded.tgt_tok.decode(x) for x in ids]  # text out, as ours
            seconds = time.perf_counter() - start
            if best is None or seconds < best["seconds"]:
                best = {"seconds": seconds, "batch": f"{batch_size} sentences, {label}", "ids": ids}
            print(f"  CTranslate2 {compute_type} {label} batch {batch_size}: {len(texts) / seconds:.1f} "
                  "sentences/s", flush=True)
        del ct2
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=BUNDLED)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="torch threads; CTranslate2 intra-op threads (or 1)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_sameweights"))
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    import ctranslate2

    from s2s_desktop.engine.api import DecodeOptions
    from s2s_desktop.engine.formats.checkpoint import load_model
    from s2s_desktop.engine.formats.ctranslate2_export import export_ctranslate2

    texts, source = sentences(args.data)
    loaded = load_model(args.model)
    export = export_ctranslate2(loaded, args.work / "ct2", force=True)
    cfg = loaded.config
    print(f"model {args.model} ({cfg.arch}, {cfg.transformer.encoder_layers}+{cfg.transformer.decoder_layers} layers, "
          f"d_model {cfg.emb_size}, {loaded.model.num_parameters():,} parameters), exported in {export.seconds:.1f}s")
    print(f"data: {source}, {len(texts)} sentences; beam {args.beam}; {args.threads} threads each; "
          f"torch {__import__('torch').__version__}, ctranslate2 {ctranslate2.__version__}; "
          f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    opts = DecodeOptions(beam=args.beam, alternatives=0, repeat_ngram=0, protect=False)  # as CTranslate2: no guard, no masking
    rows = []
    fp32_ids = {}
    ct2_runs: dict[str, dict] = {}
    for ours_precision, ct2_type in (("fp32", "float32"), ("int8", "int8"), ("bf16", "int8")):
        ours = time_ours(args.model, texts, opts, ours_precision, args.threads)
        if ct2_type not in ct2_runs:  # (our bf16 is set against CTranslate2's int8, its fastest here)
            ct2_runs[ct2_type] = time_ct2(args.work / "ct2", loaded, texts, opts, ct2_type, args.threads)
        theirs = ct2_runs[ct2_type]
        fp32_ids.setdefault("ours", ours["ids"])
        fp32_ids.setdefault("ct2", theirs["ids"])
        same = sum(a == b for a, b in zip(ours["ids"], theirs["ids"]))
        row = {"precision": ours_precision, "ct2_compute_type": ct2_type,
               "ours_sents_per_s": len(texts) / ours["seconds"], "ours_batch": ours["batch"],
               "ours_pieces_per_s": sum(map(len, ours["ids"])) / ours["seconds"],
               "ct2_sents_per_s": len(texts) / theirs["seconds"], "ct2_batch": theirs["batch"],
               "ct2_pieces_per_s": sum(map(len, theirs["ids"])) / theirs["seconds"],
               "identical": same / len(texts),
               "ours_same_as_fp32": sum(a == b for a, b in zip(ours["ids"], fp32_ids["ours"])) / len(texts),
               "ct2_same_as_fp32": sum(a == b for a, b in zip(theirs["ids"], fp32_ids["ct2"])) / len(texts)}
        row["ratio"] = row["ours_sents_per_s"] / row["ct2_sents_per_s"]
        rows.append(row)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}\n")
    print("| precision (ours / CTranslate2) | ours sentences/s | CTranslate2 sentences/s | ours / CTranslate2 "
          "| identical outputs | ours pieces/s | CTranslate2 pieces/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['precision']} / {r['ct2_compute_type']} | {r['ours_sents_per_s']:.1f} ({r['ours_batch']}) "
              f"| {r['ct2_sents_per_s']:.1f} ({r['ct2_batch']}) | **{r['ratio']:.2f}x** | {100 * r['identical']:.1f}% "
              f"| {r['ours_pieces_per_s']:.0f} | {r['ct2_pieces_per_s']:.0f} |")
    int8 = rows[1]
    print(f"\nint8 against fp32 on the same side: ours {100 * int8['ours_same_as_fp32']:.1f}% identical, "
          f"CTranslate2 {100 * int8['ct2_same_as_fp32']:.1f}%; bf16 against our fp32: "
          f"{100 * rows[2]['ours_same_as_fp32']:.1f}%")
    ours_best = max(rows, key=lambda r: r["ours_sents_per_s"])
    ct2_best = max(rows, key=lambda r: r["ct2_sents_per_s"])
    print(f"best against best: ours {ours_best['precision']} {ours_best['ours_sents_per_s']:.1f} / CTranslate2 "
          f"{ct2_best['ct2_compute_type']} {ct2_best['ct2_sents_per_s']:.1f} sentences/s = "
          f"**{ours_best['ours_sents_per_s'] / ct2_best['ct2_sents_per_s']:.2f}x**; our int8 / our fp32 = "
          f"{int8['ours_sents_per_s'] / rows[0]['ours_sents_per_s']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"model": str(args.model), "data": source, "beam": args.beam,
                                         "threads": args.threads, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
