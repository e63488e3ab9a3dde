"""What a `StepReport` averages: the training steps since the previous report."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from s2s_desktop.engine.api import StepReport

if TYPE_CHECKING:
    from s2s_desktop.engine.training.resume_state import Progress


class StepInterval:
    """Sums between two step reports: loss, NLL and target tokens, gradient norms, wall time."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.loss = self.nll = self.grad = 0.0
        self.tokens = self.steps = 0
        self.start = time.perf_counter()

    def add(self, loss: float, nll: float, tokens: int, grad_norm: float):
        self.loss += loss
        self.nll += nll
        self.tokens += tokens
        self.grad += grad_norm
        self.steps += 1

    def report(self, p: Progress, lr: float) -> StepReport:
        seconds = max(time.perf_counter() - self.start, 1e-9)
        out = StepReport(
            step=p.step,
            epoch=p.epoch,
            loss=self.loss / max(self.tokens, 1),
            nll=self.nll / max(self.tokens, 1),
            lr=lr,
            tokens_per_sec=self.tokens / seconds,
            grad_norm=self.grad / max(self.steps, 1),
            tokens_seen=p.tokens_seen,
            elapsed=p.elapsed,
        )
        self.reset()
        return out
