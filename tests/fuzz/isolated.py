"""Run a reader on hostile files in a child process: a native crash, a hang or a huge allocation is an
outcome to report, not the end of the test run (issue 20: SentencePiece, safetensors and torch are C++).

Outcomes: "ok" (the reader returned), "named" (it raised the project's own error), and the failures
"other" (another exception), "crash" (the child died: a signal or an abort), "hang" (no answer within
the time bound), "memory" (an allocation over the cap).
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOOD = frozenset({"ok", "named"})


@dataclass
class Outcome:
    kind: str
    detail: str = ""
    seconds: float = 0.0


class Isolated:
    """One child for many inputs (starting torch per input would cost seconds); restarted after a failure."""

    def __init__(self, reader: str, timeout: float = 20.0, memory_mb: int = 4096):
        self.reader, self.timeout, self.memory_mb = reader, timeout, memory_mb
        self.tally: Counter[str] = Counter()
        self._proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               "OMP_NUM_THREADS": "1"}
        return subprocess.Popen([sys.executable, "-m", "tests.fuzz.child", self.reader, str(self.memory_mb)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, cwd=ROOT, env=env)

    def run(self, path: str | Path, first_timeout: float = 120.0) -> Outcome:
        fresh = self._proc is None
        if fresh:
            self._proc = self._start()
        proc = self._proc
        try:
            proc.stdin.write(f"{path}\n")
            proc.stdin.flush()
        except BrokenPipeError:
            return self._failed(Outcome("crash", f"the child had exited ({proc.poll()})"))
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            ready = sel.select(first_timeout if fresh else self.timeout)  # the first call also imports torch
        if not ready:
            return self._failed(Outcome("hang", f"no answer within {self.timeout:g} s"))
        line = proc.stdout.readline()
        if not line:
            code = proc.wait(10)
            return self._failed(Outcome("crash", f"the child died with status {code}"))
        outcome = Outcome(**json.loads(line))
        self.tally[outcome.kind] += 1
        if outcome.kind == "memory":
            self.close()  # a process that ran out of memory is not trusted with the next input
        return outcome

    def holds(self, path: Path, data: bytes) -> None:
        """The property of every reader: `data` written to `path` is read, or refused by name."""
        path.write_bytes(data)
        self.check(path)

    def check(self, path: Path) -> None:
        """The reader of `path` (a file or a folder already written) returns or raises a named error."""
        outcome = self.run(path)
        assert outcome.kind in GOOD, (outcome.kind, outcome.detail)

    def _failed(self, outcome: Outcome) -> Outcome:
        self.tally[outcome.kind] += 1
        self.close()
        return outcome

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(10)
            self._proc = None
