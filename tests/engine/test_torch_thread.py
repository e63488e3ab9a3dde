"""The one thread a server runs torch on: results, errors and calls made from a call."""

from __future__ import annotations

import threading

import pytest

from s2s_desktop.engine.torch_thread import TorchThread


def test_calls_run_on_the_thread_and_bring_back_results_and_errors():
    t = TorchThread()
    try:
        assert t.call(threading.get_ident) == t.ident != threading.get_ident()
        assert t.call(lambda a, b=0: a + b, 2, b=3) == 5
        with pytest.raises(ZeroDivisionError):
            t.call(lambda: 1 / 0)
        assert t.call(lambda: t.call(threading.get_ident)) == t.ident  # a call made by a call: no deadlock
    finally:
        t.close()
    with pytest.raises(RuntimeError):  # closed: refuses instead of hanging
        t.call(threading.get_ident)
