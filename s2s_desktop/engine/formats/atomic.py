"""Atomic file writes, torch-free: the model file, the resume state, the run's config.json and the app's
settings all go through here, so a crash or a full disk never leaves a half-written file where a good
one was."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from s2s_desktop.errors import CheckpointError, S2SError


def atomic_write(path: str | os.PathLike, data: bytes | Iterable[bytes | memoryview],
                 error: type[S2SError] | None = CheckpointError) -> None:
    """Write via a temporary file in the same folder and os.replace. `data` is bytes or an iterable of
    chunks. An OSError becomes `error` with a message naming the file, or is raised as it is when
    `error` is None."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):  # mkstemp makes 0600: the file gets the mode a plain write would give it
                os.fchmod(fh.fileno(), _mode_for(path))
            for chunk in [data] if isinstance(data, (bytes, bytearray, memoryview)) else data:
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        if error is None:
            raise
        raise error(f"Could not write {path}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass  # gone already, or a folder that became read-only: remove_leftovers deletes it later


def _read_umask() -> int:
    umask = os.umask(0o022)  # the only way to read it; done once, at import, before any thread writes
    os.umask(umask)
    return umask


_UMASK = _read_umask()


def _mode_for(path: Path) -> int:
    """The replaced file's permissions, or those the umask gives a new file (as open() would)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_UMASK


_LEFTOVER = re.compile(r"(?P<name>.+)\.[a-z0-9_]{8}\.tmp")  # what mkstemp above names a file being written


def remove_leftovers(folder: str | os.PathLike, owned: Callable[[str], bool]) -> list[str]:
    """Delete the temporary files that writes of the files `owned` accepts (by name) left in `folder` when
    their process was killed (a SIGKILL skips the `finally` above); returns what was deleted. Another
    file is never touched."""
    gone = []
    for entry in os.scandir(folder):
        found = _LEFTOVER.fullmatch(entry.name)
        if found and owned(found["name"]) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
                gone.append(entry.name)
            except OSError:
                pass  # a read-only folder: the leftover is only clutter
    return gone
