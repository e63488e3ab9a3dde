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
of Translator.translate, one process of --threads torch threads or --threads worker processes of 1 thread each
(`s2s translate --workers`), whichever is fastest; CTranslate2: sentences per translate_batch call,
one worker with --threads or 1 intra-op threads, or --threads workers (inter_threads) of 1 thread
each, whichever is fastest, through
formats/ctranslate2_run.py, which asks CTranslate2 for what our search ranks, so that the outputs
are comparable). Printed: sentences/s and output pieces/s of each, the ratio ours / CTranslate2, and
the share of sentences with identical output ids. Run it with nothing else on the machine.

Last, the head-to-head: each side's fastest configuration (precision, layout, batch size) timed again,
ours and CTranslate2 in turn, --rounds times, best of each. Its ratio is the headline: on a virtual
machine whose speed drifts by up to 25% over the minutes the grid takes, rows timed minutes apart
compare the machine as much as the engines; turns a few seconds apart do not.
"""

from __future__ import annotations

import argparse
import dataclasses
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
TATOEBA = ROOT.parent / "shared" / "data" / "tatoeba-deu-eng" / "deu.txt.gz"
OURS_BATCH_TOKENS = (2000, 4000, 8000, 16000)
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


def ours_pass(translator, texts: list[str], opts, batch_tokens: int) -> tuple[float, list]:
    """One timed pass of ours over `texts`: (seconds, translations)."""
    start = time.perf_counter()
    out = translator.translate(texts, opts, batch_tokens=batch_tokens, attention=False)
    return time.perf_counter() - start, out


def ct2_pass(ct2, loaded, texts: list[str], opts, batch_size: int) -> tuple[float, list]:
    """One timed pass of CTranslate2 over `texts`, text in and text out as ours: (seconds, output ids)."""
    start = time.perf_counter()
    ids = ct2.translate_ids(ct2.encode(texts, opts), opts, batch_size)
    _ = [loaded.tgt_tok.decode(x) for x in ids]
    return time.perf_counter() - start, ids


def time_ours(model: Path, texts: list[str], opts, precision: str, threads: int) -> dict:
    """Best of the batch sizes and of two ways to use the cores, as for CTranslate2: one process with
    `threads` torch threads, and `threads` worker processes of 1 thread each (`Translator.set_workers`,
    `s2s translate --workers`), which decode different batches side by side."""
    from s2s_desktop.engine.api import EOS_ID
    from s2s_desktop.engine.decoding.service import Translator

    translator = Translator.open(str(model), "cpu", threads=threads, precision=precision)
    tok = translator.loaded.tgt_tok
    best = None
    for workers in sorted({1, threads}):
        label = f"{workers} process(es) x {threads if workers == 1 else 1} thread(s)"
        if workers > 1:
            translator.set_workers(workers)
            translator.pool.warm(opts)  # (the workers load the model: load excluded, as on the other side)
        translator.translate(texts, opts, attention=False)  # warm-up: one whole pass (per-shape caches, allocator)
        for batch_tokens in OURS_BATCH_TOKENS:
            seconds, out = ours_pass(translator, texts, opts, batch_tokens)
            if best is None or seconds < best["seconds"]:
                ids = [[EOS_ID if p == "</s>" else tok.piece_to_id(p) for p in t.best.tokens] for t in out]
                best = {"seconds": seconds, "batch": f"{batch_tokens} tokens, {label}", "ids": ids,
                        "config": (model, precision, threads, workers, batch_tokens, opts)}
            print(f"  ours {precision} {label} batch_tokens {batch_tokens}: {len(texts) / seconds:.1f} sentences/s",
                  flush=True)
    translator.close()
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
            seconds, ids = ct2_pass(ct2, loaded, texts, opts, batch_size)
            if best is None or seconds < best["seconds"]:
                best = {"seconds": seconds, "batch": f"{batch_size} sentences, {label}", "ids": ids,
                        "config": (model_dir, compute_type, intra, workers, batch_size, opts)}
            print(f"  CTranslate2 {compute_type} {label} batch {batch_size}: {len(texts) / seconds:.1f} "
                  "sentences/s", flush=True)
        del ct2
    return best


def head_to_head(ours_config, ct2_config, loaded, texts: list[str], rounds: int) -> dict:
    """Both fastest configurations timed in turn, `rounds` times each (best of each): see the docstring."""
    from s2s_desktop.engine.decoding.service import Translator
    from s2s_desktop.engine.formats.ctranslate2_run import Ct2Translator

    model, precision, threads, workers, batch_tokens, opts = ours_config
    translator = Translator.open(str(model), "cpu", threads=threads, precision=precision)
    if workers > 1:
        translator.set_workers(workers)
        translator.pool.warm(opts)
    translator.translate(texts, opts, attention=False)  # warm-up, as in the grid
    model_dir, compute_type, intra, ct2_workers, batch_size, ct2_opts = ct2_config
    ct2 = Ct2Translator(model_dir, loaded, compute_type, intra, ct2_workers)
    ct2.translate(texts, ct2_opts)
    ours_best = theirs_best = float("inf")
    for turn in range(rounds):
        time.sleep(1.0)  # (no spinning thread of the other engine left)
        ours_best = min(ours_best, ours_pass(translator, texts, opts, batch_tokens)[0])
        time.sleep(1.0)
        theirs_best = min(theirs_best, ct2_pass(ct2, loaded, texts, ct2_opts, batch_size)[0])
        print(f"  head-to-head turn {turn + 1}: ours {len(texts) / ours_best:.1f}, CTranslate2 "
              f"{len(texts) / theirs_best:.1f} sentences/s (best so far)", flush=True)
    translator.close()
    del ct2
    return {"ours_sents_per_s": len(texts) / ours_best, "ct2_sents_per_s": len(texts) / theirs_best,
            "ratio": theirs_best / ours_best, "rounds": rounds}


def with_shortlist(loaded, corpus: Path, out: Path):
    """A copy of the model with a shortlist built from Tatoeba's training split (None without the corpus)."""
    if not corpus.is_file():
        print(f"no shortlist row: {corpus} is absent")
        return None
    import importlib.util

    from s2s_desktop.engine.decoding.shortlist import build_shortlist
    from s2s_desktop.engine.formats.checkpoint import resave

    spec = importlib.util.spec_from_file_location("split_tatoeba", ROOT / "packaging" / "bundled-model" / "split_tatoeba.py")
    splitter = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(splitter)
    train, _, _ = splitter.split(splitter.read_pairs(corpus), 1000, 2000, 20261121)
    start = time.perf_counter()
    shortlist = build_shortlist(loaded.src_tok.encode_batch([en for en, _ in train]),
                                loaded.tgt_tok.encode_batch([de for _, de in train]),
                                loaded.config.src_vocab_size, loaded.config.tgt_vocab_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    resave(loaded, out, shortlist)
    print(f"shortlist from {len(train):,} Tatoeba training pairs in {time.perf_counter() - start:.1f}s "
          f"({len(shortlist.frequent)} frequent pieces, 15 per source piece: `s2s shortlist`'s defaults)")
    return out


def references(data: Path, n: int) -> list[str] | None:
    from s2s_desktop.engine.data.corpus import read_lines

    path = data / "test_2016_flickr.de.gz"
    refs = read_lines(path) if path.is_file() else None
    return refs if refs is not None and len(refs) == n else None


def bleu(loaded, ids: list[list[int]], refs: list[str]) -> float:
    """Lowercased sacreBLEU of the outputs `ids` (the issue's metric)."""
    import sacrebleu

    return sacrebleu.corpus_bleu([loaded.tgt_tok.decode(x) for x in ids], [refs], lowercase=True).score


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=BUNDLED)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="torch threads; CTranslate2 intra-op threads (or 1)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_sameweights"))
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--shortlist-corpus", type=Path, default=TATOEBA,
                    help="deu.txt(.gz) of Tatoeba: its training split (packaging/bundled-model/split_tatoeba.py, the "
                         "bundled model's) builds the shortlist of the 'int8+shortlist' row (`s2s shortlist`); "
                         "absent: no such row")
    ap.add_argument("--rounds", type=int, default=3, help="turns of the head-to-head (0: none)")
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
    variants = [("fp32", "float32", args.model, opts), ("int8", "int8", args.model, opts),
                ("bf16", "int8", args.model, opts)]
    listed = with_shortlist(loaded, args.shortlist_corpus, args.work / "shortlisted.s2s")
    if listed is not None:
        variants.append(("int8+shortlist", "int8", listed, dataclasses.replace(opts, shortlist=True)))
    refs = references(args.data, len(texts))
    rows = []
    configs = []  # (ours, CTranslate2) best configuration of each row
    fp32_ids = {}
    ct2_runs: dict[str, dict] = {}
    for ours_precision, ct2_type, model, variant_opts in variants:
        ours = time_ours(model, texts, variant_opts, ours_precision.split("+")[0], args.threads)
        if ct2_type not in ct2_runs:  # (our bf16 is set against CTranslate2's int8, its fastest here)
            ct2_runs[ct2_type] = time_ct2(args.work / "ct2", loaded, texts, opts, ct2_type, args.threads)
        theirs = ct2_runs[ct2_type]
        configs.append((ours["config"], theirs["config"]))
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
        if refs:
            row["ours_bleu_lc"] = bleu(loaded, ours["ids"], refs)
            row["ct2_bleu_lc"] = bleu(loaded, theirs["ids"], refs)
        rows.append(row)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}\n")
    print("| precision (ours / CTranslate2) | ours sentences/s | CTranslate2 sentences/s | ours / CTranslate2 "
          "| identical outputs | same as our fp32 | BLEU lc ours / CTranslate2 | ours pieces/s | CTranslate2 pieces/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        scores = f"{r['ours_bleu_lc']:.2f} / {r['ct2_bleu_lc']:.2f}" if refs else "-"
        print(f"| {r['precision']} / {r['ct2_compute_type']} | {r['ours_sents_per_s']:.1f} ({r['ours_batch']}) "
              f"| {r['ct2_sents_per_s']:.1f} ({r['ct2_batch']}) | **{r['ratio']:.2f}x** | {100 * r['identical']:.1f}% "
              f"| {100 * r['ours_same_as_fp32']:.1f}% | {scores} | {r['ours_pieces_per_s']:.0f} | {r['ct2_pieces_per_s']:.0f} |")
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
    duel = None
    if args.rounds > 0:
        ours_config = configs[rows.index(ours_best)][0]
        ct2_config = configs[rows.index(ct2_best)][1]
        print(f"\nhead-to-head, {args.rounds} turns each: ours {ours_best['precision']} ({ours_best['ours_batch']}) "
              f"against CTranslate2 {ct2_best['ct2_compute_type']} ({ct2_best['ct2_batch']})", flush=True)
        duel = head_to_head(ours_config, ct2_config, loaded, texts, args.rounds)
        duel.update(ours=ours_best["precision"], ct2=ct2_best["ct2_compute_type"])
        print(f"head-to-head: ours {duel['ours_sents_per_s']:.1f} / CTranslate2 {duel['ct2_sents_per_s']:.1f} "
              f"sentences/s = **{duel['ratio']:.2f}x**")
    if args.json:
        args.json.write_text(json.dumps({"model": str(args.model), "data": source, "beam": args.beam,
                                         "threads": args.threads, "rows": rows, "head_to_head": duel}, indent=2,
                                        default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
