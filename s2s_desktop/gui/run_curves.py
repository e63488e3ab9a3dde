"""The curves of one run, as numpy buffers filled from its events (live or replayed): what the plots
draw, kept apart from the drawing so that a replay or an overlay is only data."""

from __future__ import annotations

import numpy as np

from s2s_desktop.engine import metrics
from s2s_desktop.engine.api import EvalReport, Event, RunStarted, StepReport


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard-style smoothing with bias correction (weight 0 = raw, 0.99 = very smooth)."""
    out = np.empty(len(values))
    acc, norm = 0.0, 0.0
    for i, v in enumerate(values):
        acc = weight * acc + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out[i] = acc / norm
    return out


class Series:
    """A growable (step, minutes, value) buffer."""

    def __init__(self) -> None:
        self.data = np.zeros((256, 3))
        self.n = 0

    def append(self, step: float, minutes: float, value: float) -> None:
        if self.n == len(self.data):
            self.data = np.concatenate([self.data, np.zeros_like(self.data)])
        self.data[self.n] = (step, minutes, value)
        self.n += 1

    def xy(self, by_time: bool) -> tuple[np.ndarray, np.ndarray]:
        d = self.data[: self.n]
        return d[:, 1 if by_time else 0], d[:, 2]

    def clear(self) -> None:
        self.n = 0

    def drop_after(self, step: float) -> None:
        """Forget the points after `step` (the steps are in order, so those are the last ones)."""
        self.n = int(np.searchsorted(self.data[: self.n, 0], step, side="right"))


STEP_SERIES = ("loss", "nll", "lr", "tps")
EVAL_SERIES = ("val_loss", "val_ppl")


class RunCurves:
    """All series of one run, filled from events (live or replayed): the step and validation series,
    and one per metric (named as in the registry)."""

    def __init__(self) -> None:
        self.series = {name: Series() for name in (*STEP_SERIES, *EVAL_SERIES, *metrics.METRICS)}
        self.best: tuple[int, float, float] | None = None  # step, minutes, metric value (for the marker)
        self.best_metric = metrics.HEADLINE.name

    def add(self, e: Event) -> set[str]:
        """Append what an event holds; returns the plots it changes (none for unplotted events)."""
        s = self.series
        match e:
            case StepReport(step=step, elapsed=elapsed):
                minutes = elapsed / 60
                s["loss"].append(step, minutes, e.loss)
                s["nll"].append(step, minutes, e.nll)
                s["lr"].append(step, minutes, e.lr)
                s["tps"].append(step, minutes, e.tokens_per_sec)
                return {"loss", "lr", "tps"}
            case EvalReport(step=step, elapsed=elapsed):
                minutes = elapsed / 60
                s["val_loss"].append(step, minutes, e.loss)
                s["val_ppl"].append(step, minutes, e.ppl)
                changed = {"loss", "ppl"}
                for name, value in e.scores.items():
                    if name in metrics.METRICS:  # a newer version's metric is not plotted
                        s[name].append(step, minutes, value)
                        changed.add(metrics.METRICS[name].plot)
                if e.is_best:
                    value = e.loss if e.metric == metrics.LOSS.name else e.scores.get(e.metric)
                    if value is not None:
                        self.best_metric = e.metric
                        self.best = (step, minutes, value)
                return changed
            case RunStarted(resumed_from_step=step) if step:
                # A resumed run redoes the updates after its resume point that a kill lost: the killed
                # run's points after it go, so the curve continues instead of doubling back
                # (run_folder.continued does the same for the events of a metrics.jsonl).
                for series in s.values():
                    series.drop_after(step)
                if self.best is not None and self.best[0] > step:
                    self.best = None
                return {"loss", "lr", "tps", "ppl", *(m.plot for m in metrics.METRICS.values())}
        return set()

    def shown(self, name: str) -> bool:
        """Whether a metric has a curve: computed at every validation, or with values here."""
        return metrics.METRICS[name].in_training or self.series[name].n > 0

    def clear(self) -> None:
        for series in self.series.values():
            series.clear()
        self.best = None
