"""Reduced-precision decoding: close to float32, and independent of the batch a sentence is in."""

import pytest
import torch

from s2s_desktop.engine.api import DecodeOptions
from s2s_desktop.engine.decoding.service import Translator, resolve_precision
from s2s_desktop.engine.models.lowp import LowPrecisionLinear
from s2s_desktop.errors import ConfigError


@pytest.mark.parametrize("mode, tol", [("bf16", 0.02), ("int8", 0.03)])
def test_low_precision_linear_is_close_to_float32(mode, tol):
    torch.manual_seed(0)
    w, b, x = torch.randn(300, 64) * 0.1, torch.randn(300), torch.randn(7, 64)
    exact = x @ w.T + b
    approx = LowPrecisionLinear(w, b, mode)(x)
    assert approx.dtype == torch.float32
    assert (approx - exact).abs().max() / exact.abs().max() < tol


def test_int8_rows_do_not_depend_on_the_batch():
    torch.manual_seed(1)
    lin = LowPrecisionLinear(torch.randn(50, 32), None, "int8")
    x = torch.randn(9, 32)
    together = lin(x)
    x_scaled = x.clone()
    x_scaled[1:] *= 100  # other rows with a very different range must not change row 0
    assert torch.equal(lin(x_scaled)[0], together[0])
    assert torch.equal(lin(x[:1])[0], together[0])


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_translations_match_float32(reverse_model_file, precision):
    sentences = ["one two three", "four five six seven", "eight nine"]
    exact = Translator.open(str(reverse_model_file), "cpu", precision="fp32").translate(sentences, DecodeOptions(beam=3))
    fast = Translator.open(str(reverse_model_file), "cpu", precision=precision).translate(sentences, DecodeOptions(beam=3))
    assert [t.text for t in fast] == [t.text for t in exact]
    for a, b in zip(fast, exact):
        assert a.best.score == pytest.approx(b.best.score, abs=0.05)


def test_precision_choices():
    cpu = torch.device("cpu")
    assert resolve_precision("fp32", cpu) == "fp32"
    assert resolve_precision("auto", cpu) in ("int8", "bf16", "fp32")
    with pytest.raises(ConfigError, match="--precision"):
        resolve_precision("fp8", cpu)


def test_auto_takes_int8_only_where_it_measures_faster_than_fp32(monkeypatch):
    """On an AVX2 CPU without VNNI torch's int8 matmul ran 5-25x slower than fp32: "auto" measures."""
    from s2s_desktop.engine.models import lowp

    cpu = torch.device("cpu")
    if not {"fbgemm", "x86"} & set(torch.backends.quantized.supported_engines):
        pytest.skip("no quantized engine in this torch build")
    monkeypatch.setattr(lowp, "faster_than_fp32", lambda mode, threads: mode == "int8")
    assert resolve_precision("auto", cpu) == "int8"
    monkeypatch.setattr(lowp, "faster_than_fp32", lambda mode, threads: False)
    assert resolve_precision("auto", cpu) == "fp32"
    monkeypatch.undo()
    # the measurement itself: a product timed both ways, an answer either way, cached
    lowp.faster_than_fp32.cache_clear()
    first = lowp.faster_than_fp32("int8", 1)
    assert isinstance(first, bool) and lowp.faster_than_fp32("int8", 1) is first
    assert lowp.faster_than_fp32.cache_info().hits >= 1
