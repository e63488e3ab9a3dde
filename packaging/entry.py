"""Entry point of the PyInstaller bundle (packaging/s2s-desktop.spec).

One executable serves every role:
- `s2s-desktop [MODEL] [--text ...] [--smoke-test ...]`: the window (s2s_desktop.app.main);
- `s2s-desktop --s2s-training-child [--check]`: the training child process the window starts, or
  with --check the short-lived corpus check (app.main dispatches on the flag:
  s2s_desktop.engine.training.child.child_command re-executes the bundle);
- `s2s ...` (a symlink named `s2s` next to the executable, made by packaging/build.sh): the
  command-line interface, s2s_desktop.cli.main.
"""

import multiprocessing
import os
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a no-op unless something uses multiprocessing's spawn
    if os.path.basename(sys.argv[0]) in ("s2s", "s2s.exe"):
        from s2s_desktop.cli import main as cli_main

        raise SystemExit(cli_main())
    from s2s_desktop.app import main

    raise SystemExit(main())
