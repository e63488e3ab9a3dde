"""`s2s`: the command-line front end of the engine (train, translate, evaluate, average, info).

User errors print one line, `s2s: error: ...`, and exit with status 2; they never show a traceback.
One module per group of subcommands: `train` (train), `model_commands` (translate, evaluate, average, info),
`import_command` (import), `export_command` (export), `serve_command` (serve), `align_command` (align).
"""

from __future__ import annotations

import argparse
import os
import sys

from s2s_desktop import __version__
from s2s_desktop.cli.common import EXIT_USAGE
from s2s_desktop.errors import S2SError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s2s", description="Train, run and inspect translation models.")
    parser.add_argument("--version", action="version", version=f"s2s-desktop {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    from s2s_desktop.cli.align_command import add_align_parser
    from s2s_desktop.cli.export_command import add_export_parser
    from s2s_desktop.cli.import_command import add_import_parser
    from s2s_desktop.cli.model_commands import add_model_parsers
    from s2s_desktop.cli.serve_command import add_serve_parser
    from s2s_desktop.cli.shortlist_command import add_shortlist_parser
    from s2s_desktop.cli.train import add_train_parser

    add_train_parser(sub)
    add_model_parsers(sub)
    add_import_parser(sub)
    add_export_parser(sub)
    add_serve_parser(sub)
    add_align_parser(sub)
    add_shortlist_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what the processes of a distributed run get
    from s2s_desktop.cli.align_command import cmd_align
    from s2s_desktop.cli.export_command import cmd_export
    from s2s_desktop.cli.import_command import cmd_import
    from s2s_desktop.cli.model_commands import cmd_average, cmd_evaluate, cmd_info, cmd_translate
    from s2s_desktop.cli.serve_command import cmd_serve
    from s2s_desktop.cli.shortlist_command import cmd_shortlist
    from s2s_desktop.cli.train import _secondary_rank, cmd_train

    handler = {"train": cmd_train, "translate": cmd_translate, "evaluate": cmd_evaluate, "info": cmd_info,
               "average": cmd_average, "import": cmd_import, "export": cmd_export, "serve": cmd_serve,
               "align": cmd_align, "shortlist": cmd_shortlist}
    try:
        return handler[args.command](args)
    except S2SError as exc:
        if not _secondary_rank(args):
            print(f"s2s: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("s2s: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (e.g. `| head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # e.g. an output file in a folder that does not exist, or a full disk
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"s2s: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
