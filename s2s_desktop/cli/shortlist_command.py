"""`s2s shortlist`: add a target-vocabulary shortlist, built from a parallel corpus, to a model file."""

from __future__ import annotations

import time

from s2s_desktop.cli.common import model_or_bundled, raise_usage


def add_shortlist_parser(sub) -> None:
    p = sub.add_parser("shortlist", help="add a target-vocabulary shortlist to a model file (faster beam search with "
                                         "translate/evaluate --shortlist)")
    p.add_argument("--model", metavar="FILE", help="the .s2s model file (default: the built-in model)")
    p.add_argument("--tsv", metavar="FILE", help="the parallel corpus as source<TAB>target lines (e.g. the training data)")
    p.add_argument("--src", metavar="FILE", help="source sentences, one per line (with --tgt, instead of --tsv)")
    p.add_argument("--tgt", metavar="FILE", help="target sentences, aligned with --src")
    p.add_argument("--out", required=True, metavar="FILE", help="the model file to write, with the shortlist")
    p.add_argument("--frequent", type=int, default=2000, metavar="N",
                   help="the N most frequent target pieces are always allowed (default: 2000)")
    p.add_argument("--per-source", type=int, default=15, metavar="N",
                   help="target pieces allowed for each source piece: those most often translated by it (default: 15)")


def cmd_shortlist(args) -> int:
    from s2s_desktop.engine.data.corpus import read_parallel
    from s2s_desktop.engine.decoding.shortlist import build_shortlist
    from s2s_desktop.engine.formats.checkpoint import load_model, resave

    if not 1 <= args.frequent <= 1_000_000 or not 1 <= args.per_source <= 1000:
        raise_usage("--frequent must be 1 to 1,000,000 and --per-source 1 to 1,000")
    if (args.tsv is None) == (args.src is None and args.tgt is None) or (args.src is None) != (args.tgt is None):
        raise_usage("give the corpus as --tsv FILE, or as --src FILE and --tgt FILE")
    start = time.perf_counter()
    loaded = load_model(model_or_bundled(args))
    corpus = read_parallel(args.tsv, args.src, args.tgt)
    if not len(corpus):
        raise_usage(f"{corpus.origin} holds no sentence pairs")
    src = loaded.src_tok.encode_batch(corpus.sources)
    tgt = loaded.tgt_tok.encode_batch(corpus.targets)
    shortlist = build_shortlist(src, tgt, loaded.config.src_vocab_size, loaded.config.tgt_vocab_size,
                                args.frequent, args.per_source)
    resave(loaded, args.out, shortlist)
    print(f"wrote {args.out}: a shortlist from {len(corpus):,} pairs of {corpus.origin} ({len(shortlist.frequent):,} "
          f"frequent target pieces, up to {args.per_source} per source piece) in {time.perf_counter() - start:.1f}s")
    return 0
