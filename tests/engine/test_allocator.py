"""allocator.py: glibc keeps decoding's freed buffers for the next step instead of page-faulting them back."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import resource, sys
import torch
from s2s_desktop.engine.allocator import keep_decoding_buffers
applied = keep_decoding_buffers() if sys.argv[1] == "keep" else False
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(12):  # a search step: large temporaries a little larger at each step (the cache grows), freed
    if i == 2:
        start = faults()
    parts = [torch.ones((1 << 20) + i * (1 << 14)) for _ in range(4)]  # 4 x (4 MB + i x 64 kB), written
    del parts
print(applied, faults() - start)
"""


def _probe(mode: str, **env: str) -> tuple[bool, int]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", PROBE, mode], env={**clean, **env}, capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator: Linux only")
def test_freed_step_buffers_are_reused_without_page_faults():
    applied, kept = _probe("keep")
    if not applied:
        pytest.skip("not glibc: the allocator is left as it is")
    _, default = _probe("default")
    # 10 steps x 16 MB is ~40,000 pages: glibc's default maps each step's blocks afresh and faults them all in
    if default < 30_000:
        pytest.skip(f"this glibc's defaults already reuse these blocks ({default} page faults)")
    assert kept < default // 5


def test_a_users_own_malloc_settings_are_left_alone():
    applied, _ = _probe("keep", MALLOC_ARENA_MAX="2")
    assert not applied
