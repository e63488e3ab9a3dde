"""Entry point of the `s2s-desktop` command.

The desktop window is not built yet (it is the next milestone after the engine); until then this
entry point says so and points to the command-line interface, instead of failing with an import error.
"""

import sys


def main() -> int:
    print(
        "s2s-desktop: the desktop window is not available in this version yet.\n"
        "The engine works from the command line: run `s2s --help` (train, translate, evaluate, info).",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
