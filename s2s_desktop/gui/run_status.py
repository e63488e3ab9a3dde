"""What the Train tab's status line says about a run, between and at its step reports: progress towards
its limit, elapsed time and ETA that move on every second (not only at a report), whether it is
validating, and the warning for a model that scores nearly nothing."""

from __future__ import annotations

import time
from typing import Any

from s2s_desktop.engine import metrics
from s2s_desktop.engine.api import StepReport
from s2s_desktop.gui.durations import format_eta

LIMIT_REASONS = {"max-minutes": "max_minutes", "max-steps": "max_steps", "max-epochs": "max_epochs"}
WEAK_SCORE = 1.0  # a best BLEU below this: the model translates to (nearly) nothing useful


def run_progress(train: dict[str, Any], step: int, epoch: int, elapsed: float) -> float | None:
    """Fraction done (0-1) by whichever limit is closest, or None when the run has no limit."""
    fractions = []
    if train.get("max_steps"):
        fractions.append(step / train["max_steps"])
    if train.get("max_minutes"):
        fractions.append(elapsed / (train["max_minutes"] * 60))
    if train.get("max_epochs"):
        fractions.append(epoch / train["max_epochs"])
    return min(max(fractions), 1.0) if fractions else None


class LiveClock:
    """A run's training seconds between its reports: the last report's `elapsed` plus the wall time
    since it arrived, paused time not counted (as the trainer counts it)."""

    def __init__(self, now=time.monotonic) -> None:
        self._now = now
        self.base = 0.0
        self.since: float | None = None  # when the clock last started; None while it stands

    def set(self, elapsed: float, running: bool = True) -> None:
        self.base, self.since = elapsed, (self._now() if running else None)

    def pause(self) -> None:
        if self.since is not None:
            self.base += self._now() - self.since
            self.since = None

    def resume(self) -> None:
        if self.since is None:
            self.since = self._now()

    @property
    def running(self) -> bool:
        return self.since is not None

    @property
    def drift(self) -> float:
        """Seconds counted since the last `set`."""
        return self.elapsed - self.base if self.since is not None else 0.0

    @property
    def elapsed(self) -> float:
        return self.base + (self._now() - self.since if self.since is not None else 0.0)


def is_validating(train: dict[str, Any], step: int, last_eval_step: int) -> bool:
    """Whether the trainer is validating now: the last report was at a validation step and that
    validation has not reported yet."""
    every = train.get("valid_every") or 0
    return bool(every and step and step % every == 0 and step > last_eval_step)


def status_text(e: StepReport, train: dict[str, Any], elapsed: float, eta: float | None, device: str,
                paused: bool = False, validating: bool = False) -> str:
    """"Epoch 2 · step 300 · 0.85M target tokens · 2 min 34 s elapsed · about 26 s left · ..."."""
    left = f" · about {format_eta(eta)} left" if eta is not None else ""
    doing = " · validating…" if validating and not paused else ""
    return (("Paused. " if paused else "")
            + f"Epoch {e.epoch + 1} · step {e.step:,}{doing} · {e.tokens_seen / 1e6:.2f}M target tokens"
            f" · {format_eta(elapsed)} elapsed{left} · {e.tokens_per_sec:,.0f} tokens/s"
            + (f" · {device}" if device else ""))


def eta_at(e: StepReport, train: dict[str, Any]) -> float | None:
    """Seconds left at a report, from the fraction of the closest limit done; None without a limit."""
    frac = run_progress(train, e.step, e.epoch, e.elapsed)
    if not frac or frac >= 1:
        return None
    return e.elapsed * (1 - frac) / frac


def weak_model_warning(best_scores: dict[str, Any]) -> str:
    """A warning when the best model's headline score is near zero (it translates to empty or
    repeated words, typically after a short run), or ""."""
    headline = metrics.HEADLINE
    value = best_scores.get(headline.name)
    if not isinstance(value, (int, float)) or value >= WEAK_SCORE:
        return ""
    return (f"This model's best validation {headline.label} is {value:.2f}: it probably translates to empty or "
            "repeated words. Train it longer, or on more data, before relying on it.")


def extend_limit(train: dict[str, Any], reason: str, more: float) -> dict[str, Any]:
    """The train config with the limit that ended the run (`reason`) raised by `more` minutes, steps
    or epochs beyond what was reached; the trainer takes a new limit on resume."""
    key = LIMIT_REASONS[reason]
    return {**train, key: (train.get(key) or 0) + more}
