"""`s2s export`: write a Transformer model file as a CTranslate2 model directory or an Argos Translate package."""

from __future__ import annotations

import sys

FORMATS = ("ctranslate2", "argos")


def add_export_parser(sub) -> None:
    from s2s_desktop.engine.formats.ctranslate2_export import QUANTIZATIONS

    p = sub.add_parser("export", help="export a Transformer model to CTranslate2 or Argos Translate",
                       description="Export a Transformer model file (trained here or imported) for another engine: "
                                   "`--to ctranslate2 DIR` writes a CTranslate2 model directory (with its "
                                   "SentencePiece model), `--to argos FILE.argosmodel` an Argos Translate package. "
                                   "Needs the ctranslate2 package: pip install \"s2s-desktop[export]\".")
    p.add_argument("model", metavar="MODEL.s2s", help="the model file")
    p.add_argument("--to", nargs=2, required=True, metavar=("FORMAT", "PATH"),
                   help="ctranslate2 DIR, or argos FILE.argosmodel")
    p.add_argument("--quantization", choices=QUANTIZATIONS, default=None,
                   help="CTranslate2 weight type (default: float32 weights; CTranslate2 can still run them as int8)")
    p.add_argument("--target-language", metavar="CODE",
                   help="a multilingual imported model: the >>CODE<< token put before every source (default: the "
                        "model file's)")
    p.add_argument("--package-version", default="1.0", help="Argos package version (default 1.0)")
    p.add_argument("--force", action="store_true", help="replace PATH if it exists")


def cmd_export(args) -> int:
    from s2s_desktop.cli.common import raise_usage

    fmt, path = args.to
    if fmt not in FORMATS:
        raise_usage(f"--to: unknown format {fmt!r} (use {' or '.join(FORMATS)})")
    from s2s_desktop.engine.formats.checkpoint import load_model

    loaded = load_model(args.model)
    if fmt == "ctranslate2":
        from s2s_desktop.engine.formats.ctranslate2_export import export_ctranslate2

        result = export_ctranslate2(loaded, path, args.quantization, args.force, args.target_language)
        what = f"CTranslate2 model ({result.quantization or 'float32'})"
    else:
        from s2s_desktop.engine.formats.argos_export import export_argos

        result = export_argos(loaded, path, args.quantization, args.force, args.target_language, args.package_version)
        what = f"Argos Translate package {result.package}"
    for notice in result.notices:
        print(f"note: {notice}", file=sys.stderr)
    print(f"exported {args.model} to {result.path}: {what}, in {result.seconds:.1f}s")
    return 0
