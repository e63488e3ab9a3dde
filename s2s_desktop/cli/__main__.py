"""`python -m s2s_desktop.cli`: what the processes of a distributed run execute."""

import os
import sys

from s2s_desktop.cli import main
from s2s_desktop.engine.training.distributed import launched

code = main()
if launched():
    # A process torchrun started has saved and left its process group by now. Its interpreter's own
    # teardown can still abort in gloo's C++ threads ("terminate called without an active exception",
    # seen on a loaded 2-core CI machine), turning a finished run into a failed one; skip it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
raise SystemExit(code)
