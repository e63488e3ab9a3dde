"""`s2s translate`, `s2s evaluate`, `s2s average` and `s2s info`: the subcommands that use a model file."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from s2s_desktop.cli.common import clock as _clock
from s2s_desktop.cli.common import model_or_bundled, raise_usage
from s2s_desktop.engine import metrics


def add_model_parsers(sub) -> None:
    tr = sub.add_parser("translate", help="translate text with a model file")
    tr.add_argument("--model", metavar="FILE", help="a .s2s model file (default: the built-in English→German model, "
                    "or with --from/--to the model library's choice)")
    tr.add_argument("--from", dest="src_lang", metavar="LANG",
                    help="source language: the model library (built-in, trained here, imported, opened in the app) "
                         "picks a model for --from/--to when no --model is given")
    tr.add_argument("--to", dest="tgt_lang", metavar="LANG", help="target language (see --from)")
    tr.add_argument("text", nargs="*", help="sentences to translate (default: lines from stdin)")
    _add_decode_options(tr)
    tr.add_argument("--json", action="store_true", help="one JSON object per input line (scores, tokens, attention)")
    tr.add_argument("--input", metavar="FILE", help="translate this file line by line")
    tr.add_argument("--output", metavar="FILE", help="write translations here (with --input; shows progress)")
    tr.add_argument("--prefix", metavar="TEXT", help="force the translation to start with TEXT (what-if)")
    tr.add_argument("--split-sentences", action=argparse.BooleanOptionalAction, default=True,
                    help="split each input line into sentences and translate them one by one, as the app does "
                         "(default; not with --nbest above 1 or --prefix, which take the line whole). A line of "
                         "several sentences fed whole is often cut short or loops")

    names = ", ".join(metrics.METRICS)
    ev = sub.add_parser("evaluate", help=f"corpus scores of a model on a test set ({names})")
    ev.add_argument("--model", metavar="FILE", help="a .s2s model file (default: the built-in model)")
    ev.add_argument("--src", required=True, metavar="FILE", help="source sentences, one per line")
    ev.add_argument("--ref", required=True, metavar="FILE", help="reference translations, aligned with --src")
    _add_decode_options(ev)
    ev.add_argument("--lowercase", action="store_true", help="case-insensitive scores")
    ev.add_argument("--metrics", metavar="NAME,...",
                    help=f"the metrics to compute, comma-separated (default: those of {names} whose library is "
                         "installed)")
    ev.add_argument("--json", action="store_true")
    ev.add_argument("--hyp-out", metavar="FILE", help="also write the translations to FILE")

    avg = sub.add_parser("average", help="average the weights of several saves of one run")
    avg.add_argument("--out", required=True, metavar="FILE", help="the averaged model file to write")
    avg.add_argument("models", nargs="+", metavar="MODEL", help="model files of one run (e.g. step-*.s2s)")
    avg.add_argument("--half", action="store_true",
                     help="store the weights as float16 (half the size); with one MODEL, just convert it")

    info = sub.add_parser("info", help="describe a model file")
    info.add_argument("--model", metavar="FILE", help="a .s2s model file (default: the built-in model)")
    info.add_argument("--json", action="store_true")


def _add_decode_options(p) -> None:
    p.add_argument("--beam", type=int, default=5, help="beam size (1 = greedy; default: 5)")
    p.add_argument("--nbest", type=int, default=1, help="hypotheses returned per input (<= beam)")
    p.add_argument("--length-penalty", type=float, default=1.0, metavar="A", help="GNMT length penalty alpha")
    p.add_argument("--max-len-a", type=float, default=1.5, metavar="A", help="output limit: A * source length + B")
    p.add_argument("--max-len-b", type=int, default=10, metavar="B")
    p.add_argument("--min-len", type=int, default=0, metavar="N", help="no end of sentence before N pieces")
    p.add_argument("--repeat-guard", type=int, default=None, metavar="N",
                   help="never repeat an output phrase of N pieces more often than the source repeats its most "
                        "repeated one (stops loops; default: 3; 0 = off)")
    p.add_argument("--no-protect", dest="protect", action="store_false",
                   help="translate numbers, times, codes, links, emoji and unknown names like any text instead of "
                        "copying them exactly (by default they are masked before decoding and put back after)")
    p.add_argument("--batch-tokens", type=int, default=4000, help="source tokens x beam per batch")
    p.add_argument("--target-language", metavar="CODE",
                   help="the language a multilingual imported model translates into (its >>CODE<< token; "
                        "default: the one chosen at import)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    p.add_argument("--shortlist", action="store_true",
                   help="beam search scores only the target pieces the model file's shortlist allows for the input "
                        "(faster; outputs may differ a little; add one to a model with `s2s shortlist`)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="decode in N processes of one torch thread each, side by side (CPU; on 2 cores a file "
                        "decoded 1.05-1.35x faster than in one process of 2 threads; default: 1)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "int8"],
                   help="decoder matmul precision: auto = bf16 on CUDA, int8 on CPUs with fbgemm, else bf16 (native "
                        "bf16 CPUs) or fp32")


def _decode_options(args):
    from s2s_desktop.engine.api import DecodeOptions

    return DecodeOptions(
        beam=args.beam, nbest=args.nbest, length_penalty=args.length_penalty, max_len_a=args.max_len_a,
        max_len_b=args.max_len_b, min_len=args.min_len,
        **({} if args.repeat_guard is None else {"repeat_ngram": args.repeat_guard}),
        protect=args.protect, shortlist=args.shortlist,
        alternatives=5 if getattr(args, "json", False) and args.command == "translate" else 0,
    )


def cmd_translate(args) -> int:
    from s2s_desktop.engine.decoding.service import Translator, validate_options

    opts = _decode_options(args)
    validate_options(opts)
    if args.input and args.text:
        raise_usage("give either TEXT arguments or --input FILE, not both")
    if args.output and not args.input:
        raise_usage("--output needs --input FILE")
    translator = Translator.open(_library_model(args), args.device, args.threads, args.precision,
                                 args.target_language)
    translator.set_workers(args.workers)
    try:
        return _translate(translator, opts, args)
    finally:
        translator.close()


def _translate(translator, opts, args) -> int:
    if args.input and args.output and not args.json:
        def progress(done, total):
            elapsed = time.perf_counter() - start
            eta = elapsed / max(done, 1) * (total - done)
            print(f"\r{done}/{total} lines, {done / max(elapsed, 1e-9):.1f} lines/s, ETA {_clock(eta)}",
                  end="", file=sys.stderr, flush=True)

        start = time.perf_counter()
        summary = translator.translate_file(args.input, args.output, opts, progress, split=_splits(args, opts))
        print(f"\nwrote {summary.lines} lines to {summary.output} in {summary.seconds:.1f}s", file=sys.stderr)
        return 0
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        if args.text:
            _translate_chunk(translator, args.text, opts, args, out)
        elif args.input:
            from s2s_desktop.engine.data.corpus import read_lines

            lines = read_lines(args.input)
            for i in range(0, len(lines), 256):
                _translate_chunk(translator, lines[i : i + 256], opts, args, out)
        else:
            batch: list[str] = []
            for line in sys.stdin:
                batch.append(line.rstrip("\r\n"))
                if len(batch) >= 64:
                    _translate_chunk(translator, batch, opts, args, out)
                    batch = []
            if batch:
                _translate_chunk(translator, batch, opts, args, out)
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _library_model(args) -> str:
    """--model wins; else with --from/--to the model library's choice for that pair (as the app's); else the
    built-in model. The choice is said on stderr: it depends on what this machine has."""
    if args.model or not (args.src_lang or args.tgt_lang):
        return model_or_bundled(args)
    from s2s_desktop import library

    entries, warning = library.scan_saved()
    if warning:
        print(f"s2s: {warning}", file=sys.stderr)
    entry = library.choose(entries, args.src_lang, args.tgt_lang)
    if entry is None:
        raise_usage(f"no model in the library translates {args.src_lang or 'any language'} -> "
                    f"{args.tgt_lang or 'any language'} (it has: {library.available(entries)}); give --model FILE, "
                    "train one (s2s train) or import one (s2s import)")
    targets = entry.header.target_languages
    if targets and args.tgt_lang and not args.target_language:  # a multilingual model: into the language asked for
        args.target_language = next(t for t in targets if library.same_language(t, args.tgt_lang))
    print(f"s2s: using {entry.path} ({entry.pair_label}, {entry.source})", file=sys.stderr)
    return entry.path


def _splits(args, opts) -> bool:
    """Whether lines are split into sentences: an n-best list and a forced prefix belong to a whole line."""
    return args.split_sentences and not args.prefix and opts.nbest == 1


def _warn_degenerate(source: str, reason: str | None) -> None:
    if reason:
        shown = source if len(source) <= 50 else source[:47] + "..."
        print(f"s2s: warning: the translation of \"{shown}\" looks broken: {reason}", file=sys.stderr)


def _translate_chunk(translator, lines, opts, args, out) -> None:
    prefixes = [args.prefix] * len(lines) if args.prefix else None
    if _splits(args, opts):
        for p in translator.translate_paragraphs(lines, opts, batch_tokens=args.batch_tokens, attention=args.json):
            if not args.json:
                out.write(p.text.strip() + "\n")
                _warn_degenerate(p.source, p.degenerate)
            elif len(p.sentences) > 1:  # one object per line still: the line, and its sentences
                out.write(json.dumps({"source": p.source, "text": p.text.strip(), "truncated": p.truncated,
                                      "degenerate": p.degenerate, "separators": list(p.separators),
                                      "sentences": [t.to_json() for t in p.sentences]}, ensure_ascii=False) + "\n")
            else:  # a single sentence (or an empty line): the same object as without splitting
                (t,) = p.sentences or translator.translate([p.source], opts)
                out.write(json.dumps(t.to_json(), ensure_ascii=False) + "\n")
        out.flush()
        return
    results = translator.translate(lines, opts, batch_tokens=args.batch_tokens, prefixes=prefixes,
                                   attention=args.json)  # only --json shows it
    for r in results:
        if not args.json:
            _warn_degenerate(r.source, r.degenerate)
        if args.json:
            out.write(json.dumps(r.to_json(), ensure_ascii=False) + "\n")
        elif opts.nbest > 1:
            for c in r.nbest:
                out.write(f"{c.score:.4f}\t{c.text}\n")
            out.write("\n")
        else:
            out.write(r.text + "\n")
    out.flush()


def cmd_evaluate(args) -> int:
    from s2s_desktop.engine.data.corpus import read_lines
    from s2s_desktop.engine.decoding.service import Translator

    opts = _decode_options(args)
    names = [n.strip() for n in args.metrics.split(",") if n.strip()] if args.metrics else None
    for name in names or ():
        metrics.corpus_metric(name, option="--metrics")  # checked before the decoding, not after it
    src = read_lines(args.src)
    ref = read_lines(args.ref)
    if len(src) != len(ref):
        raise_usage(f"{args.src} has {len(src)} lines but {args.ref} has {len(ref)}; they must be aligned")
    translator = Translator.open(model_or_bundled(args), args.device, args.threads, args.precision,
                                 args.target_language)
    translator.set_workers(args.workers)
    try:
        start = time.perf_counter()
        hyps = [t.text for t in translator.translate(src, opts, batch_tokens=args.batch_tokens, attention=False)]
        seconds = time.perf_counter() - start
    finally:
        translator.close()
    if args.hyp_out:
        Path(args.hyp_out).write_text("".join(h + "\n" for h in hyps), encoding="utf-8")
    scores = metrics.score(hyps, ref, lowercase=args.lowercase, names=names)
    result: dict = {}
    for name, s in scores.items():
        result[name] = round(s.value, 2)
        if s.signature:
            result[f"{name}_signature"] = s.signature
        if s.detail:
            result[f"{name}_detail"] = s.detail
    result.update({
        "sentences": len(src), "seconds": round(seconds, 2),
        "sentences_per_sec": round(len(src) / max(seconds, 1e-9), 1), "beam": opts.beam,
    })
    if args.json:
        print(json.dumps(result))
    else:
        for name, s in scores.items():
            print(f"{metrics.label(name)} = {s.value:.2f}" + (f"  {s.detail}" if s.detail else ""))
            if s.signature:
                print(f"  {s.signature}")
        print(f"{len(src)} sentences in {seconds:.1f}s ({result['sentences_per_sec']} sentences/s, beam {opts.beam})")
    return 0


def cmd_average(args) -> int:
    from s2s_desktop.engine.formats.checkpoint import average_models

    loaded = average_models(args.models, args.out, half=args.half)
    done = f"averaged {len(args.models)} models into" if len(args.models) > 1 else "converted to float16:"
    print(f"{done} {args.out} ({loaded.model.num_parameters():,} parameters)")
    return 0


def cmd_info(args) -> int:
    import dataclasses

    from s2s_desktop.engine.decoding.service import Translator
    from s2s_desktop.engine.models.registry import describe_model

    path = model_or_bundled(args)
    translator = Translator.open(path, "cpu")
    info = dataclasses.replace(translator.info(), path=path)
    if args.json:
        print(json.dumps(info.to_json(), indent=2))
        return 0
    print(f"{info.path}  ({info.file_size / 1e6:.1f} MB, {info.storage})")
    print(f"  languages   {info.src_lang} -> {info.tgt_lang}")
    print(f"  model       {describe_model(info.model)}")
    print(f"  parameters  {info.parameters:,}")
    print(f"  vocabulary  {info.src_vocab} / {info.tgt_vocab}{' (joint)' if info.joint_vocab else ''}")
    origin = translator.loaded.meta.get("provenance")
    if origin:
        print(f"  imported    from {origin.get('imported_from')}: {origin.get('repository') or '(repository unknown)'}"
              f", licence {origin.get('license') or '(not stated)'}")
    if translator.target_languages:
        print(f"  targets     {', '.join(translator.target_languages)} (default: {translator.target_language or 'none'})")
    tr = info.training
    if tr:
        best = tr.get("best", {})
        print(f"  training    {tr.get('steps', '?')} steps, {tr.get('epochs', '?')} epochs, "
              f"{tr.get('train_seconds', 0) / 60:.1f} min on {tr.get('device', '?')}, corpus {tr.get('corpus', '?')}")
        if best:
            print("  best        " + metrics.format_scores(best))
    return 0
