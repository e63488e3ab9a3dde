"""The engine's threads run at a lower priority than the UI thread (issue 20, the soak's heartbeat)."""

from __future__ import annotations

import os
import sys
import threading

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_the_engine_thread_yields_a_contended_core_to_the_ui_thread():
    """TorchEngine.load lowers the engine thread's priority (its OpenMP threads inherit it); the UI
    thread keeps its own."""
    from s2s_desktop.gui.engine_worker import ENGINE_NICE, yield_to_the_ui

    seen = {}

    def engine_thread():
        yield_to_the_ui()
        seen["engine"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

        def child():  # a thread it starts later, as OpenMP starts its team
            seen["child"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

        t = threading.Thread(target=child)
        t.start()
        t.join()

    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    t = threading.Thread(target=engine_thread)
    t.start()
    t.join()
    assert seen == {"engine": min(base + ENGINE_NICE, 19), "child": min(base + ENGINE_NICE, 19)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base

