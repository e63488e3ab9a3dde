"""`python -m s2s_desktop` runs the command-line interface (`s2s`)."""

from s2s_desktop.cli import main

if __name__ == "__main__":  # guarded: multiprocessing's spawn re-imports the parent's main module
    raise SystemExit(main())
