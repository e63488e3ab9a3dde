"""`s2s import`: turn a Hugging Face Marian (OPUS-MT) folder into one ordinary .s2s model file."""

from __future__ import annotations

import os
import sys


def add_import_parser(sub) -> None:
    p = sub.add_parser("import", help="import a Hugging Face Marian (OPUS-MT) model folder as a .s2s model file",
                       description="Import a Hugging Face Marian (OPUS-MT) model folder: config.json, "
                                   "model.safetensors (or pytorch_model.bin, read with weights_only=True), "
                                   "source.spm, target.spm, vocab.json and tokenizer_config.json. The result is "
                                   "one .s2s file that translates exactly as transformers' generate() does.")
    p.add_argument("folder", metavar="DIR", help="the model folder (e.g. a Hugging Face cache snapshot)")
    p.add_argument("--out", required=True, metavar="MODEL.s2s", help="the model file to write")
    p.add_argument("--target-language", metavar="CODE",
                   help="for a multilingual model (>>CODE<< tokens, e.g. opus-mt-en-ROMANCE): the target "
                        "language stored as its default (s2s translate --target-language changes it)")


def cmd_import(args) -> int:
    from s2s_desktop.engine.formats.marian_import import import_marian

    result = import_marian(args.folder, args.out, args.target_language)
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    size = os.path.getsize(result.path) / 1e6
    print(f"imported {args.folder} into {result.path} ({size:.1f} MB) in {result.seconds:.1f}s")
    if result.target_languages:
        print(f"target languages: {', '.join(result.target_languages)} (default: {result.target_language or 'none'})")
    return 0
