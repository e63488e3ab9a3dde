"""The desktop window (PySide6). Nothing here imports torch: the engine runs on a worker thread
(`engine_worker`) that imports it after the window is up.

Importing the package turns off Qt's GUI thread pool (`QT_NO_GUI_THREADPOOL`, read when the pool would
first be made, at the first large paint). Qt 6's raster painter splits every fill over more than ~100
scanlines into pieces for that pool and waits for them; on 2 cores, with the engine's torch threads
busy, the hand-offs cost more than they save: showing the Train tab took 100 ms of wall time and 57 ms
of UI-thread CPU with the pool, 28 and 28 without (1400 x 900, offscreen, docs/benchmarks.md). Qt
reads the variable as set whatever its value, so `S2S_GUI_THREADPOOL=1` is the way to keep the pool.
"""

import os

if os.environ.get("S2S_GUI_THREADPOOL") != "1":
    os.environ.setdefault("QT_NO_GUI_THREADPOOL", "1")
