"""The learning-rate schedule: linear warmup, then constant, inverse-square-root decay, cosine decay or
reduce-on-plateau. Its state (the plateau multiplier and counter) lives in the run's `Progress`, so a
resumed run continues the schedule exactly."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from s2s_desktop.engine.api import TrainConfig

if TYPE_CHECKING:
    from s2s_desktop.engine.training.resume_state import Progress


class LRSchedule:
    """Cosine decays to ``min_lr`` at ``max_steps``: for a fixed budget it ends with a small learning
    rate (what averaging checkpoints only approximates)."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg

    def lr(self, step: int, progress: Progress) -> float:
        cfg = self.cfg
        warm = cfg.warmup_steps
        if cfg.schedule == "inverse-sqrt":
            factor = min(step / warm, math.sqrt(warm / max(step, 1)))
        elif cfg.schedule == "cosine" and step > warm:
            done = min(1.0, (step - warm) / max(1, cfg.max_steps - warm))
            floor = min(cfg.min_lr / cfg.lr, 1.0)
            factor = floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * done))
        else:
            factor = min(1.0, step / warm) if warm else 1.0
        if cfg.schedule == "plateau":
            factor *= progress.lr_scale
        return max(cfg.lr * factor, cfg.min_lr if step > warm else 0.0)

    def after_eval(self, improved: bool, progress: Progress) -> bool:
        """Update the plateau counter; True when the LR was cut."""
        if self.cfg.schedule != "plateau":
            return False
        if improved:
            progress.plateau_bad = 0
            return False
        progress.plateau_bad += 1
        if progress.plateau_bad >= self.cfg.plateau_patience and self.cfg.lr * progress.lr_scale > self.cfg.min_lr:
            progress.lr_scale *= self.cfg.plateau_factor
            progress.plateau_bad = 0
            return True
        return False
