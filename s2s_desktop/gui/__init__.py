"""The desktop window (PySide6). Nothing here imports torch: the engine runs on a worker thread
(`engine_worker`) that imports it after the window is up."""
