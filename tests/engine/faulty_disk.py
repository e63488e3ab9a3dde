"""A disk that fails on cue, for the write-fault tests (issue 20): every write the trainer makes goes
through `atomic.atomic_write` (config.json, the models, the resume state) or `run_folder.MetricsLog`
(metrics.jsonl); both are patched here at their OS calls, so each write site can be made to fail with
ENOSPC (a full disk) or EROFS (a read-only folder) at a chosen moment.

Operations are numbered in the order they happen: (file name, "create" | "write" | "replace" | "open").
"""

from __future__ import annotations

import errno
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from s2s_desktop.engine.formats import atomic
from s2s_desktop.engine.training import run_folder


@dataclass
class FaultyDisk:
    fail_at: int | None = None  # the operation number that fails (None: record only)
    code: int = errno.ENOSPC
    ops: list[tuple[str, str]] = field(default_factory=list)
    before: dict[str, bytes] | None = None  # the run folder's files at the moment of the fault
    folder: Path | None = None

    def _op(self, name: str, kind: str) -> None:
        self.ops.append((Path(name).name.split(".tmp")[0].rsplit(".", 1)[0] if name.endswith(".tmp")
                         else Path(name).name, kind))
        if len(self.ops) - 1 == self.fail_at:
            self.before = snapshot(self.folder) if self.folder else {}
            raise OSError(self.code, os.strerror(self.code))

    def install(self, monkeypatch, folder: Path) -> FaultyDisk:
        self.folder = folder
        disk = self

        def mkstemp(prefix="", suffix="", dir=None):
            disk._op(os.path.join(dir or "", prefix.rstrip(".")), "create")
            return tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=dir)

        def fdopen(fd, mode="r", *args, **kwargs):
            return FaultyFile(os.fdopen(fd, mode, *args, **kwargs), disk, os.readlink(f"/proc/self/fd/{fd}"))

        def replace(src, dst):
            disk._op(str(dst), "replace")
            os.replace(src, dst)

        monkeypatch.setattr(atomic, "os", os_with(fdopen=fdopen, replace=replace))
        monkeypatch.setattr(atomic, "tempfile", SimpleNamespace(mkstemp=mkstemp))

        def log_open(path, mode="r", *args, **kwargs):
            fh = open(path, mode, *args, **kwargs)  # noqa: SIM115 - the caller closes it
            if "a" in mode or "+" in mode or "w" in mode:
                disk._op(str(path), "open")
                return FaultyFile(fh, disk, str(path))
            return fh

        monkeypatch.setattr(run_folder, "open", log_open, raising=False)
        return self


def os_with(**overrides) -> SimpleNamespace:
    """The os module with some functions replaced, to patch into one module (`atomic.os`) only."""
    return SimpleNamespace(**{**{k: getattr(os, k) for k in dir(os) if not k.startswith("__")}, **overrides})


class FaultyFile:
    """A file object whose writes count as operations (and the chosen one fails after writing half)."""

    def __init__(self, fh, disk: FaultyDisk, name: str):
        self._fh, self._disk, self._name = fh, disk, name

    def write(self, data):
        try:
            self._disk._op(self._name, "write")
        except OSError:
            self._fh.write(data[: len(data) // 2])  # a full disk takes part of the data first
            self._fh.flush()
            raise
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


def snapshot(folder: Path) -> dict[str, bytes]:
    """The folder's files (without the temporary file of a write in progress)."""
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and p.suffix != ".tmp"}
