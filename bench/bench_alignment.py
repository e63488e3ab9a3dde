#!/usr/bin/env python3
"""Word alignment and attribution figures (issue 21).

1. AER per method on tasks whose alignment is known by construction: a small RNN and a small
   Transformer are trained here on copy, reversal and a fixed permutation (neighbours swapped) of
   number words into German number words; each method aligns held-out pairs against the true links.
2. Speed on this machine for a 40-token sentence with the built-in model: the teacher-forced pass
   that alignment reads, each alignment method, and `Translator.explain` (what the inspector asks
   for): input x gradient, integrated gradients (32 steps), attention rollout. Median of --repeats.

    python bench/bench_alignment.py [--steps-rnn 300] [--steps-transformer 600] [--repeats 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

NUMBERS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
ZAHLEN = ["eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn"]
GERMAN = dict(zip(NUMBERS, ZAHLEN))


def permutation(task: str, n: int) -> list[int]:
    if task == "copy":
        return list(range(n))
    if task == "reversal":
        return list(range(n))[::-1]
    perm = list(range(n))
    for j in range(0, n - 1, 2):
        perm[j], perm[j + 1] = j + 1, j
    return perm


def pairs(task: str, count: int, seed: int):
    rng = random.Random(seed)
    for _ in range(count):
        words = rng.sample(NUMBERS, rng.randint(2, 7))  # distinct: each link is known for certain
        perm = permutation(task, len(words))
        yield " ".join(words), " ".join(GERMAN[words[i]] for i in perm), frozenset((perm[j], j) for j in range(len(words)))


def train_task(task: str, arch: str, steps: int, work: Path) -> Path:
    from s2s_desktop.engine.api import Finished, ModelConfig, TrainConfig
    from s2s_desktop.engine.training.loop import train

    folder = work / f"{arch}-{task}"
    folder.mkdir()
    (folder / "train.tsv").write_text("".join(f"{s}\t{t}\n" for s, t, _ in pairs(task, 4000, 3)), encoding="utf-8")
    cfg = TrainConfig(out_dir=str(folder / "run"), src_lang="en", tgt_lang="de", train_tsv=str(folder / "train.tsv"),
                      valid_size=50, vocab_size=60, batch_tokens=800, lr=5e-3 if arch == "rnn" else 2e-3,
                      max_steps=steps, valid_every=steps, threads=2, seed=1,
                      **({"warmup_steps": min(100, steps // 4)} if arch == "transformer" else {}))
    model = (ModelConfig(emb_size=32, encoder_hidden=48, decoder_hidden=96, dropout=0.0) if arch == "rnn" else
             ModelConfig(arch="transformer", emb_size=64, heads=4, encoder_layers=2, decoder_layers=2, ff_size=128,
                         dropout=0.0))
    events = list(train(model, cfg))
    if not isinstance(events[-1], Finished):
        raise RuntimeError(f"training {arch} on {task}: {events[-1]}")
    return Path(events[-1].best_path)


def aer_table(args, work: Path) -> list[dict]:
    from s2s_desktop.engine import alignment
    from s2s_desktop.engine.decoding.service import Translator

    rows = []
    for arch, steps in (("rnn", args.steps_rnn), ("transformer", args.steps_transformer)):
        for task in ("copy", "reversal", "permutation"):
            t0 = time.perf_counter()
            path = train_task(task, arch, steps, work)
            trained_s = time.perf_counter() - t0
            tr = Translator.open(str(path), "cpu", precision="fp32")
            held = list(pairs(task, 300, 99))
            gold = [alignment.Gold(g, g) for _, _, g in held]
            row = {"arch": arch, "task": task, "steps": steps, "train_s": round(trained_s, 1),
                   "default": alignment.default_method(tr)}
            for method in alignment.METHODS:
                links = alignment.align(tr, [s for s, _, _ in held], [t for _, t, _ in held], method)
                row[method] = round(alignment.score(links, gold).aer, 3)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def sentence_of(tokens: int, tok) -> str:
    words = ("The committee said on Tuesday that the new rail line between the two cities would open next "
             "spring , two years later than planned , because the tunnel under the river had flooded twice "
             "and the costs had risen by a third since the contract was signed in 2019 .").split()
    for n in range(1, len(words) + 1):
        if len(tok.encode(" ".join(words[:n]))) >= tokens:
            return " ".join(words[:n])
    return " ".join(words)


class _FirstRow(Exception):
    pass


def _first_row(tr, source, pieces, first) -> None:
    """Until the selected row's partial map arrives (then the rest is abandoned)."""
    def stop(_partial):
        raise _FirstRow

    try:
        tr.explain(source, pieces, "integrated_gradients", steps=32, first=first, progress=stop)
    except _FirstRow:
        pass


def speed(args) -> dict:
    from s2s_desktop.assets import bundled_model
    from s2s_desktop.engine import alignment
    from s2s_desktop.engine.api import DecodeOptions
    from s2s_desktop.engine.decoding.service import Translator
    from s2s_desktop.engine.forced import read_pair

    tr = Translator.open(str(bundled_model()), "cpu")
    source = sentence_of(40, tr.loaded.src_tok)
    best = tr.translate([source], DecodeOptions(alternatives=5))[0].best
    target = best.text
    n_src, n_tgt = len(tr.loaded.src_tok.encode(source)), len(tr.loaded.tgt_tok.encode(target))

    def timed(fn) -> float:
        fn()  # warm
        xs = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            fn()
            xs.append(time.perf_counter() - t)
        return round(statistics.median(xs), 3)

    out = {"source_pieces": n_src, "target_pieces": n_tgt, "model": Path(str(bundled_model())).name,
           "translate_beam5_s": timed(lambda: tr.translate([source])),
           "forced_pass_s": timed(lambda: read_pair(tr, source, target))}
    for method in alignment.METHODS:
        out[f"align_{method}_s"] = timed(lambda m=method: alignment.align(tr, [source], [target], m))
    pieces = best.tokens  # what the inspector explains: the shown hypothesis, "</s>" included
    for method in ("input_x_gradient", "integrated_gradients", "rollout"):
        out[f"explain_{method}_s"] = timed(lambda m=method: tr.explain(source, pieces, m, steps=32))
    first = len(pieces) // 2  # integrated gradients as the inspector asks: the selected row first, alone
    out["explain_integrated_gradients_first_row_s"] = timed(lambda: _first_row(tr, source, pieces, first))
    out["contrast_integrated_gradients_s"] = timed(
        lambda: tr.contrast(source, pieces, first, next(tok for tok, _ in best.alternatives(first)
                                                        if tok != pieces[first])))
    out["beam_tree_s"] = timed(lambda: tr.beam_tree(source, DecodeOptions(beam=5, nbest=3)))
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps-rnn", type=int, default=300)
    ap.add_argument("--steps-transformer", type=int, default=600)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-aer", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result = {"speed": speed(args)} if not args.skip_speed else {}
    if not args.skip_aer:
        with tempfile.TemporaryDirectory(prefix="s2s-align-") as work:
            result["aer"] = aer_table(args, Path(work))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
