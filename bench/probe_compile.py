#!/usr/bin/env python3
"""Does torch.compile pay for decoding here? The whole prepared decoder step (or Seq2Seq.step) compiled
with inductor and dynamic shapes, against eager, end to end on 300 test_2016_flickr sentences.

    python bench/probe_compile.py [int8|fp32|bf16] [prepared|model]

Needs a C++ compiler (inductor builds its kernels at first use). Run it alone on an idle machine.
2026-12-04, 2-core AMX Xeon, int8, prepared: 172.3 sentences/s eager, 150.0 compiled (34 s to compile,
296/300 outputs identical), so the engine has no compiled path.
"""

import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from bench_sameweights import BUNDLED, DATA, sentences  # noqa: E402

from s2s_desktop.engine.api import DecodeOptions  # noqa: E402
from s2s_desktop.engine.decoding.service import Translator  # noqa: E402
from s2s_desktop.engine.models import transformer_infer  # noqa: E402
from s2s_desktop.engine.models.model import Seq2Seq  # noqa: E402


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "int8"
    what = sys.argv[2] if len(sys.argv) > 2 else "prepared"
    texts = sentences(DATA)[0][:300]
    opts = DecodeOptions(beam=5, alternatives=0, repeat_ngram=0, protect=False)
    tr = Translator.open(str(BUNDLED), "cpu", threads=2, precision=mode)

    def run():
        start = time.perf_counter()
        out = tr.translate(texts, opts, batch_tokens=8000, attention=False)
        return time.perf_counter() - start, [t.text for t in out]

    run()
    e1, ref = run()
    e2, _ = run()
    print(f"{mode} eager: {len(texts) / min(e1, e2):.1f} sentences/s", flush=True)
    if what == "prepared":
        transformer_infer.PreparedDecoder.step = torch.compile(transformer_infer.PreparedDecoder.step, dynamic=True)
    else:
        Seq2Seq.step = torch.compile(Seq2Seq.step, dynamic=True)
    c0, _ = run()
    print(f"first compiled pass {c0:.1f} s", flush=True)
    c1, hyp = run()
    c2, _ = run()
    same = sum(a == b for a, b in zip(ref, hyp))
    print(f"{mode} compiled {what}: {len(texts) / min(c1, c2):.1f} sentences/s, identical {same}/{len(texts)}")


if __name__ == "__main__":
    main()
