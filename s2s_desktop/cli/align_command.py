"""`s2s align`: word alignments of sentence pairs by a model, in Pharaoh format, scored against gold links."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from s2s_desktop.cli.common import model_or_bundled, raise_usage


def add_align_parser(sub) -> None:
    from s2s_desktop.engine.alignment import METHODS

    al = sub.add_parser(
        "align", help="word alignments of sentence pairs (Pharaoh format), with AER against gold links",
        description="Align the words of each line of --src with the words of the same line of --tgt "
                    "(whitespace-separated, as in the gold file), reading the model along --tgt. Writes one "
                    "line of links 'i-j' (source word i, target word j, from 0) per pair. With --gold "
                    "(i-j sure, i?j or i-jp possible), prints the alignment error rate, precision and recall.")
    al.add_argument("--model", metavar="FILE", help="a .s2s model file (default: the built-in model)")
    al.add_argument("--src", required=True, metavar="FILE", help="source sentences, one per line")
    al.add_argument("--tgt", required=True, metavar="FILE", help="their translations, aligned with --src")
    al.add_argument("--gold", metavar="FILE", help="gold links, one line per pair: print AER, precision, recall")
    al.add_argument("--method", default=None, choices=[*METHODS, "all"],
                    help="argmax (default): attention at the step that predicts the word; shifted: one step "
                         "later, when it is the decoder's input; attribution: input x gradient; all: score "
                         "every method (needs --gold)")
    al.add_argument("--layer", default=None, metavar="N",
                    help="decoder layer whose mean over heads is read, from 1, or 'mean' for all layers "
                         "(default: the second-to-last)")
    al.add_argument("--output", metavar="FILE", help="write the links here (default: standard output)")
    al.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    al.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    al.add_argument("--threads", type=int, default=None, help="CPU threads for torch")


def _layer(value: str | None) -> int | None:
    if value is None:
        return None
    if value == "mean":
        return -1
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise_usage(f"--layer {value!r}: give a layer number from 1, or 'mean'")
    return n - 1


def cmd_align(args) -> int:
    from s2s_desktop.engine import alignment
    from s2s_desktop.engine.data.corpus import read_lines
    from s2s_desktop.engine.decoding.service import Translator

    chosen = args.method
    if args.method == "all" and (not args.gold or args.output):
        raise_usage("--method all scores every method: give --gold, and no --output")
    layer = _layer(args.layer)
    src, tgt = read_lines(args.src), read_lines(args.tgt)
    if len(src) != len(tgt):
        raise_usage(f"{args.src} has {len(src)} lines but {args.tgt} has {len(tgt)}; they must be aligned")
    gold = alignment.read_gold(args.gold) if args.gold else None
    if gold is not None:
        if len(gold) != len(src):
            raise_usage(f"{args.gold} has {len(gold)} lines but {args.src} has {len(src)}; they must be aligned")
        alignment.check_gold_fits(gold, src, tgt, args.gold)
    translator = Translator.open(model_or_bundled(args), args.device, args.threads, "fp32")
    methods = list(alignment.METHODS) if chosen == "all" else [chosen or alignment.default_method(translator)]
    results = {}
    for method in methods:
        start = time.perf_counter()
        links = alignment.align(translator, src, tgt, method, layer)
        seconds = time.perf_counter() - start
        results[method] = (links, seconds)
    if args.method != "all":
        text = "".join(alignment.pharaoh(x) + "\n" for x in results[methods[0]][0])
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    if gold is None:
        return 0
    report = {m: {**alignment.score(links, gold).to_dict(), "seconds": round(s, 2)} for m, (links, s) in results.items()}
    out = sys.stdout if args.output or args.method == "all" else sys.stderr  # never mixed into the links
    if args.json:
        print(json.dumps(report if args.method == "all" else report[methods[0]]), file=out)
    else:
        for m, r in report.items():
            print(f"{m:12s} AER {r['aer']:.3f}  precision {r['precision']:.3f}  recall {r['recall']:.3f}  "
                  f"({r['links']} links, {r['sure']} sure, {len(src)} pairs, {r['seconds']:.1f} s)", file=out)
    return 0
