"""Reduced-precision copies of weight matrices for decoding.

Decoding multiplies small batches (beam x sentences) by large weight matrices, so on a CPU it is
limited by reading the weights: bf16 halves the bytes, int8 quarters them. int8 uses symmetric
per-output-channel weight scales and per-row activation scales with exact integer accumulation
(`torch._int_mm`), so a sentence's result never depends on what else is in its batch (fbgemm's
dynamic quantisation shares one activation scale per batch, which would). Inputs, outputs, states
and softmax stay float32; the model's own float32 weights are untouched and are what gets saved.
"""

from __future__ import annotations

import functools
import time

import torch

MODES = ("fp32", "bf16", "int8")


class LowPrecisionLinear:
    """y = x @ W^T (+ bias) with W kept in float32 (a fused copy), bf16 or int8; returns float32."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, mode: str):
        self.mode = mode
        weight = weight.detach().float()
        self.bias = None if bias is None else bias.detach().float()
        if mode == "fp32":
            self.weight = weight.contiguous()
        elif mode == "bf16":
            self.weight = weight.to(torch.bfloat16)
        elif mode == "int8":
            self.scale = (weight.abs().amax(dim=1) / 127.0).clamp(min=1e-8)  # (out,)
            self.weight_t = (weight / self.scale[:, None]).round().clamp(-127, 127).to(torch.int8).t().contiguous()
        else:
            raise ValueError(f"unknown precision {mode!r}")

    def rows(self, index: torch.Tensor) -> LowPrecisionLinear:
        """The same layer for the outputs `index` (K,) only: y[:, index] of this one, from the copies already
        made (no second quantisation: the same int8 values and scales)."""
        out = LowPrecisionLinear.__new__(LowPrecisionLinear)
        out.mode = self.mode
        out.bias = None if self.bias is None else self.bias[index]
        if self.mode == "int8":
            out.scale, out.weight_t = self.scale[index], self.weight_t[:, index].contiguous()
        else:
            out.weight = self.weight[index]
        return out

    def __call__(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """`bias` (N, out), when given, replaces the layer's own for 2-D x (N, in): beam search's shortlist
        folds each row's excluded outputs (-inf) into it, so the mask costs no pass of its own."""
        if bias is None:
            bias = self.bias
        if self.mode == "int8":
            shape = x.shape
            rows = x.reshape(-1, shape[-1]).float()
            x_scale = rows.abs().amax(dim=1, keepdim=True).clamp_(min=1e-8).div_(127.0)  # (N, 1)
            xq = (rows / x_scale).round_().to(torch.int8)  # |rows / x_scale| <= 127 by construction
            acc = torch._int_mm(xq, self.weight_t)  # (N, out) int32
            # to float32 in the same memory (no second (N, out) buffer: for the output layer that is
            # beam x sentences x vocabulary), then both scales and the bias in two passes
            y = acc.view(torch.float32).copy_(acc).mul_(x_scale)
            if bias is None:
                y.mul_(self.scale)
            else:
                torch.addcmul(bias, y, self.scale, out=y)
            return y.view(*shape[:-1], y.shape[-1])
        if self.mode == "fp32":
            return torch.nn.functional.linear(x, self.weight, bias)
        y = torch.nn.functional.linear(x.to(torch.bfloat16), self.weight).float()
        return y if bias is None else y.add_(bias)


@functools.cache
def faster_than_fp32(mode: str, threads: int) -> bool:
    """Whether `mode` multiplies a decoding-shaped product (200 rows, 40 sentences x beam 5, x 256 -> 1024)
    at least 1.25x faster than fp32 on this CPU with `threads` threads: measured once per process (~0.1 s
    at worst), because the kernels differ by CPU. On an AVX2 CPU without VNNI, torch 2.13's `_int_mm` ran
    5-25x slower than fp32 (a 40-piece sentence: 1.85 s against 0.46 s), so "auto" must not assume int8
    pays. 200 rows, not 40: on a 2-core AMX Xeon int8 measured only 1.1-1.2x fp32 at 40 rows (so "auto"
    took bf16) but 1.4-1.9x at 200, and decoded the test set 1.21x faster than bf16 end to end."""
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(1024, 256, generator=generator)
    x = torch.randn(200, 256, generator=generator)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            timings = {}
            for m in ("fp32", mode):
                linear = LowPrecisionLinear(weight, None, m)
                linear(x)  # (warm)
                best = float("inf")
                for _ in range(3):
                    start = time.perf_counter()
                    for _ in range(4):
                        linear(x)
                    best = min(best, time.perf_counter() - start)
                timings[m] = best
    finally:
        torch.set_num_threads(previous)
    return timings[mode] * 1.25 <= timings["fp32"]
