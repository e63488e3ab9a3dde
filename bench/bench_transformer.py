#!/usr/bin/env python3
"""The Transformer issue's speed figures, in one run on one machine (one job at a time):

1. training throughput (target tokens/s) of our `--preset tiny` and `--preset small` Transformers (the
   Multi30k recipe: joint BPE 10k, 4,096-token batches), our RNN (Luong, the bench_train.py size) and
   OpenNMT-py's models of the same sizes and recipe: transformer_tiny from ../shared/bench/peers (4+4 layers,
   d_model 128) and peer_configs/onmt_transformer_small.yaml.tmpl (3+3 layers, d_model 256, ff 1024);
   no validation inside any timed run, the first logged interval of each left out;
2. beam-5 decoding of test_2016_flickr (sentences/s and output pieces/s): our Transformer in-process
   (load excluded) next to CTranslate2 running the OpenNMT-py transformer_tiny trained in step 1,
   converted with ct2-opennmt-py-converter (load excluded, 2 threads, batch 64).

    python bench/bench_transformer.py --peers-venv /tmp/peers [--model RUN/avg5.s2s] [--seconds 180]
        [--peer-seconds 300] [--work /tmp/bench_tf] [--sizes tiny,small] [--no-rnn] [--train-only]

`--model` adds a longer-trained model of ours to the decoding table (output lengths of an
under-trained model differ, so pieces/s is printed next to sentences/s).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_train import MODEL_ARGS, PEERS, run_ours, run_peer  # noqa: E402 - found through sys.path above

RECIPE = ["--arch", "transformer", "--joint-vocab", "--share-embeddings", "--tie-output",
          "--sp-model-type", "bpe", "--vocab-size", "10000", "--dropout", "0.3", "--lr", "5e-3",
          "--schedule", "inverse-sqrt", "--warmup-steps", "1000", "--adam-beta2", "0.98", "--clip-norm", "25",
          "--batch-tokens", "4096"]
SIZES = {  # ours (preset, dropout) and OpenNMT-py's template of the same size
    "tiny": (["--preset", "tiny"], "0.3", "onmt_transformer_tiny"),
    "small": (["--preset", "small"], "0.1", str(HERE / "peer_configs" / "onmt_transformer_small.yaml.tmpl")),
}


def recipe(size: str) -> list[str]:
    preset, dropout, _ = SIZES[size]
    args = list(RECIPE)
    args[args.index("--dropout") + 1] = dropout
    return args + preset


def decode_ours(model: Path, data: Path, beam: int = 5) -> dict:
    from s2s_desktop.engine.api import DecodeOptions
    from s2s_desktop.engine.data.corpus import read_lines
    from s2s_desktop.engine.decoding.service import Translator

    src = read_lines(data / "test_2016_flickr.en.gz")
    tr = Translator.open(str(model), "cpu", threads=2)
    opts = DecodeOptions(beam=beam, alternatives=0)
    tr.translate(src[:64], opts)  # warm-up
    start = time.perf_counter()
    out = tr.translate(src, opts)
    seconds = time.perf_counter() - start
    pieces = sum(len(t.best.tokens) for t in out)
    return {"system": f"s2s-desktop {model.parent.name}/{model.name} ({tr.precision})", "sents_per_s": len(src) / seconds,
            "pieces_per_s": pieces / seconds, "mean_out_pieces": pieces / len(src)}


def decode_ct2(run: Path, venv_root: Path, data_dir: Path, beam: int = 5) -> dict:
    py = str(venv_root / "venv-common" / "bin" / "python")
    ckpt = max(run.glob("model_step_*.pt"), key=lambda p: int(p.stem.split("_")[-1]))
    subprocess.run([py, str(PEERS / "ct2_prepare_ckpt.py"), str(ckpt), str(run / "ct2src.pt")], check=True)
    subprocess.run([str(venv_root / "venv-common" / "bin" / "ct2-opennmt-py-converter"), "--unsafe_deserialization",
                    "--model_path", str(run / "ct2src.pt"), "--output_dir", str(run / "ct2"), "--force"], check=True,
                   stdout=subprocess.DEVNULL)
    env = dict(os.environ, DATA_DIR=str(data_dir), PEERS_VENV=str(venv_root / "venv-common"), THREADS="2")
    out = run / f"ct2.beam{beam}"
    subprocess.run([str(PEERS / "decode.sh"), "ct2", str(run / "ct2"), str(beam), str(out)], check=True, env=env)
    seconds = float(next(line.split("=")[1] for line in Path(f"{out}.log").read_text().splitlines()
                         if line.startswith("translate_seconds=")))
    hyps = Path(f"{out}.hyp").read_text(encoding="utf-8").splitlines()
    pieces = sum(len(h.split()) + 1 for h in hyps)  # + EOS, as we count it
    return {"system": f"CTranslate2 ({ckpt.name}, fp32)", "sents_per_s": len(hyps) / seconds,
            "pieces_per_s": pieces / seconds, "mean_out_pieces": pieces / len(hyps)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=HERE.parent.parent / "shared" / "data" / "multi30k" / "raw")
    ap.add_argument("--peers-venv", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_tf"))
    ap.add_argument("--seconds", type=float, default=180)
    ap.add_argument("--peer-seconds", type=int, default=300)
    ap.add_argument("--model", type=Path, help="a longer-trained Transformer of ours, decoded too")
    ap.add_argument("--sizes", default="tiny,small", help="Transformer sizes to train, ours and OpenNMT-py's")
    ap.add_argument("--no-rnn", action="store_true", help="leave out our RNN")
    ap.add_argument("--train-only", action="store_true", help="training table only (no decoding)")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    joint = a.work / "peer-data-joint"
    if not (joint / "test.sp.en").exists():
        subprocess.run([str(a.peers_venv / "venv-common" / "bin" / "python"), str(PEERS / "preprocess_joint.py"),
                        str(a.data), str(joint)], check=True)
    sizes = [x for x in a.sizes.split(",") if x]
    train = []
    for size in sizes:  # ours then OpenNMT-py's, size by size, one job at a time
        train.append(run_ours(a.data, a.work, f"transformer-{size}", a.seconds, recipe(size), base_args=[]))
        train.append(run_peer("onmt", SIZES[size][2], joint, a.peers_venv, a.work, a.peer_seconds,
                              valid_steps=10**8))
    if not a.no_rnn:
        train.append(run_ours(a.data, a.work, "rnn-luong", a.seconds, ["--attention", "luong-general"],
                              base_args=MODEL_ARGS))

    print(f"\n{'training':34} {'params':>10} {'steps':>6} {'tgt tok/s':>10} {'peak RSS GiB':>13}")
    for r in train:
        print(f"{r['system']:34} {r.get('params', ''):>10} {r['steps']:>6} {r['tgt_tok_per_s']:>10,.0f} "
              f"{r['peak_rss_gib']:>13}")
    for size, (ours, peer) in zip(sizes, zip(train[0::2], train[1::2])):
        print(f"{size}: ours / OpenNMT-py = {ours['tgt_tok_per_s'] / peer['tgt_tok_per_s']:.2f}x")
    if a.train_only:
        (a.work / "results.json").write_text(json.dumps({"train": train}, indent=1))
        return 0
    decode = [decode_ours(a.work / f"transformer-{sizes[0]}" / "last.s2s", a.data)]
    if a.model:
        decode.append(decode_ours(a.model, a.data))
    decode.append(decode_ct2(a.work / "peer-onmt_transformer_tiny", a.peers_venv, joint))

    print(f"\n{'beam-5 decoding (1,000 sentences)':60} {'sents/s':>8} {'pieces/s':>9} {'pieces/sent':>12}")
    for r in decode:
        print(f"{r['system']:60} {r['sents_per_s']:>8.1f} {r['pieces_per_s']:>9.0f} {r['mean_out_pieces']:>12.1f}")
    ct2 = decode[-1]
    print("ratio vs CTranslate2: " + ", ".join(
        f"{r['system']} {r['sents_per_s'] / ct2['sents_per_s']:.2f}x sents/s, "
        f"{r['pieces_per_s'] / ct2['pieces_per_s']:.2f}x pieces/s" for r in decode[:-1]))
    (a.work / "results.json").write_text(json.dumps({"train": train, "decode": decode}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
