"""Importing a Marian model of OPUS-MT's real size: import time, file size, single-sentence beam-5 latency.

    python bench/bench_marian_size.py [--sentences 30] [--json out.json]

Builds a random MarianMTModel with transformers (6+6 layers, d_model 512, 8 heads, feed-forward 2048,
vocabulary 58,101 as opus-mt-en-de; the SentencePiece models are small, vocab.json is padded to the
size), saves it with save_pretrained (safetensors), imports it as `s2s import` does, and translates
sentences one at a time with beam 5, fp32 and int8. Needs the dev extra (transformers). Run it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/marian_fixture.py

OPUS_VOCAB = 58101  # opus-mt-en-de's vocab_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    import torch

    from s2s_desktop.engine.api import DecodeOptions
    from s2s_desktop.engine.decoding.service import Translator
    from s2s_desktop.engine.formats.marian_import import import_marian
    from tests.marian_fixture import build_corpus, marian_vocab, write_marian_folder

    torch.set_num_threads(args.threads)
    corpus = build_corpus()
    base = len(marian_vocab(corpus.source_spm, corpus.target_spm))
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_marian_folder(Path(tmp) / "opus-mt-en-de", corpus, extra_pieces=OPUS_VOCAB - base,
                                     d_model=512, layers=6, heads=8, ffn=2048, max_positions=512)
        vocab = len(json.loads((folder / "vocab.json").read_text(encoding="utf-8")))
        out = Path(tmp) / "opus-mt-en-de.s2s"
        start = time.perf_counter()
        import_marian(folder, out)
        import_s = time.perf_counter() - start
        result = {"vocab": vocab, "import_s": round(import_s, 2), "file_mb": round(os.path.getsize(out) / 1e6, 1),
                  "weights_mb": round(os.path.getsize(folder / "model.safetensors") / 1e6, 1)}
        sentences = [s for s, _ in corpus.pairs[: args.sentences]]
        for precision in ("fp32", "int8"):
            translator = Translator.open(str(out), "cpu", threads=args.threads, precision=precision)
            opts = DecodeOptions(beam=5)
            translator.translate(sentences[:2], opts)  # warm-up
            times, pieces = [], []
            for s in sentences:
                t0 = time.perf_counter()
                pieces.append(len(translator.translate([s], opts)[0].best.tokens))
                times.append(time.perf_counter() - t0)
            result[f"output_pieces_mean_{precision}"] = round(statistics.mean(pieces), 1)
            result[f"beam5_p50_ms_{precision}"] = round(1000 * statistics.median(times), 1)
            result[f"beam5_p90_ms_{precision}"] = round(1000 * sorted(times)[int(0.9 * len(times))], 1)
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
