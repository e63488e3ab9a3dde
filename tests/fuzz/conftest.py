"""Fuzz properties: each reader of untrusted input, in a child process, against generated hostile files.

The outcome counts of every property are added to the JSON file named by S2S_FUZZ_TALLY, when set
(bench/fuzz.py makes the table of issue 20 from it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("hypothesis")

from tests.fuzz.isolated import Isolated  # noqa: E402


@pytest.fixture(scope="module")
def isolated(request):
    """isolated(reader) -> an Isolated child for this module; its tally is recorded at the end."""
    made: list[Isolated] = []

    def make(reader: str) -> Isolated:
        child = Isolated(reader)
        made.append(child)
        return child

    yield make
    for child in made:
        child.close()
        record_tally(child.reader, child.tally)


def record_tally(name: str, tally) -> None:
    """Add `tally` ({outcome: count}) to the S2S_FUZZ_TALLY file's row `name` (nothing when unset)."""
    tally_file = os.environ.get("S2S_FUZZ_TALLY")
    if not tally_file:
        return
    path = Path(tally_file)
    data = json.loads(path.read_text()) if path.exists() else {}
    row = data.setdefault(name, {})
    for kind, n in tally.items():
        row[kind] = row.get(kind, 0) + n
    path.write_text(json.dumps(data, indent=1))
