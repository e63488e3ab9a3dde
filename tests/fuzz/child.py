"""The child process of `isolated.Isolated`: runs one reader on each path it reads from stdin.

    python -m tests.fuzz.child READER MEMORY_MB

For each line (a file path) it writes one JSON line: {"kind": "ok" | "named" | "other" | "memory",
"detail": ..., "seconds": ...}. Address space is capped at MEMORY_MB, so an allocation a hostile size
asks for fails here (MemoryError: "memory") instead of taking the machine.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback


def main() -> None:
    reader_name, memory_mb = sys.argv[1], int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    from s2s_desktop.errors import S2SError
    from tests.fuzz.readers import READERS

    reader = READERS[reader_name]
    out = sys.stdout
    for line in sys.stdin:
        path = line.rstrip("\n")
        start = time.perf_counter()
        try:
            reader(path)
            kind, detail = "ok", ""
        except S2SError as exc:
            kind, detail = "named", f"{type(exc).__name__}: {exc}"[:300]
        except MemoryError:
            kind, detail = "memory", traceback.format_exc()[-1500:]
        except Exception:  # noqa: BLE001 - what the property reports as a failure
            kind, detail = "other", traceback.format_exc()[-1500:]
        out.write(json.dumps({"kind": kind, "detail": detail, "seconds": time.perf_counter() - start}) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
