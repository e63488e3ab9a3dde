"""The engine bounds oneDNN's per-shape kernel caches (s2s_desktop/engine/__init__.py): each cached bf16
kernel holds a copy of its weight, so a long session that meets many batch shapes grew without them."""

import ctypes
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent("""
    import ctypes, gc, sys
    import torch                      # torch first, as a test or a plugin might: the bound must still hold
    torch.set_num_threads(1)
    torch.randn(8, 8) @ torch.randn(8, 8)
    if sys.argv[1] == "engine":
        import s2s_desktop.engine.decoding.service  # noqa: F401 - what the app, the CLI and the server import

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2

    def in_use():
        gc.collect()
        info = libc.mallinfo2()
        return (info.uordblks + info.hblkhd) / 2**20

    weight = torch.randn(1024, 256).bfloat16()  # (out, in): 512 KiB, a decoder feed-forward layer
    with torch.inference_mode():
        for rows in range(1, 9):
            torch.nn.functional.linear(torch.randn(rows, 256).bfloat16(), weight)
        base = in_use()
        for rows in range(9, 309):  # 300 batch shapes, as decoding meets over a session
            torch.nn.functional.linear(torch.randn(rows, 256).bfloat16(), weight)
    print(round(in_use() - base, 1))
""")


def growth_mib(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=300, check=True)
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallinfo2 measures the heap")
def test_many_batch_shapes_of_a_bf16_layer_do_not_grow_the_heap_without_bound():
    try:
        ctypes.CDLL("libc.so.6").mallinfo2  # noqa: B018 - glibc 2.33 or later
    except (OSError, AttributeError):
        pytest.skip("no glibc mallinfo2 here")
    bounded = growth_mib("engine")
    # 64 cached kernels of this layer at most (~0.4 MiB each); 300 unbounded ones held ~160 MiB here.
    assert bounded < 60, f"the heap grew by {bounded} MiB over 300 batch shapes of one bf16 layer"
