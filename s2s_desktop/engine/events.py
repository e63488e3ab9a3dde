"""Training events: the trainer yields these, the CLI prints them, the GUI plots them, and each is one
line of metrics.jsonl (`to_json`), read back into the same type by `Event.from_json`.

Torch-free and Qt-free like `api`, which re-exports every name here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from s2s_desktop.errors import CheckpointError


def _number(value: Any, whole: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, int) if whole else math.isfinite(value) or value != value  # NaN: a diverged loss


_SCALARS = {"int": lambda v: _number(v, True), "float": lambda v: _number(v, False),
            "str": lambda v: isinstance(v, str), "bool": lambda v: isinstance(v, bool)}


def check_fields(obj: Any) -> None:
    """Every field of the type its annotation names (the log and the resume state are files: "step": null must not reach the
    plots or the run history). Raises TypeError naming the field."""
    for f in fields(obj):
        value, kind = getattr(obj, f.name), str(f.type)
        optional = kind.endswith(" | None")
        kind = kind.removesuffix(" | None")
        if value is None and optional:
            continue
        if kind in _SCALARS:
            ok = _SCALARS[kind](value)
        elif kind.startswith("dict["):
            ok = isinstance(value, dict) and all(isinstance(k, str) for k in value)
            if ok and kind == "dict[str, float]":
                ok = all(_number(v, False) for v in value.values())
        elif kind.startswith("tuple["):
            ok = isinstance(value, tuple)
            if ok and kind == "tuple[str, ...]":
                ok = all(isinstance(v, str) for v in value)
            for item in value if ok else ():
                if dataclasses.is_dataclass(item):
                    check_fields(item)
        elif kind.startswith("list["):
            ok = isinstance(value, list) and (kind != "list[int]" or all(_number(v, True) for v in value))
        elif dataclasses.is_dataclass(value):
            check_fields(value)
            ok = True
        else:
            ok = True  # a type this check does not know: the class's _decode shaped it
        if not ok:
            raise TypeError(f"{f.name} must be {kind} (got {value!r:.60})")


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"event": self.kind}
        out.update(dataclasses.asdict(self))
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event | None:
        """The event of one metrics.jsonl line (a dict from `to_json`), whatever class it is called on.

        None for a kind this version does not know (a newer app wrote it): readers skip it. Fields this
        version does not know are ignored; a known kind with fields missing raises CheckpointError."""
        event_cls = EVENT_TYPES.get(data.get("event")) if isinstance(data, dict) else None
        if event_cls is None:
            return None
        names = {f.name for f in fields(event_cls)}
        try:
            values = event_cls._decode({k: v for k, v in data.items() if k != "event"})
            event = event_cls(**{k: v for k, v in values.items() if k in names})
            check_fields(event)
            return event
        except (TypeError, AttributeError) as exc:  # a required field is missing, or not the right shape
            raise CheckpointError(f"a {event_cls.kind!r} event in metrics.jsonl is malformed: {exc}") from exc

    @classmethod
    def _decode(cls, data: dict[str, Any]) -> dict[str, Any]:
        """JSON values -> field values (nested dataclasses, tuples, older layouts); per class."""
        return data


@dataclass(frozen=True)
class DataSummary:
    """What the corpus reader and the filters did; shown before training starts."""

    train_pairs: int
    valid_pairs: int
    skipped_empty: int
    filtered_length: int
    filtered_ratio: int
    src_vocab: int
    tgt_vocab: int
    mean_src_len: float
    mean_tgt_len: float
    valid_origin: str


@dataclass(frozen=True)
class RunStarted(Event):
    kind: ClassVar[str] = "started"
    run_dir: str
    device: str
    num_params: int
    resumed_from_step: int
    data: DataSummary
    model: dict[str, Any]
    train: dict[str, Any]

    @classmethod
    def _decode(cls, data: dict[str, Any]) -> dict[str, Any]:
        if isinstance(data.get("data"), dict):
            names = {f.name for f in fields(DataSummary)}
            data["data"] = DataSummary(**{k: v for k, v in data["data"].items() if k in names})
        return data


@dataclass(frozen=True)
class StepReport(Event):
    kind: ClassVar[str] = "step"
    step: int
    epoch: int
    loss: float  # mean label-smoothed loss per target token over the last log interval
    nll: float  # mean negative log-likelihood per target token (no smoothing): exp(nll) = ppl
    lr: float
    tokens_per_sec: float  # target tokens per second over the interval
    grad_norm: float
    tokens_seen: int
    elapsed: float  # training seconds since the run began (summed over resumes)


@dataclass(frozen=True)
class EvalReport(Event):
    kind: ClassVar[str] = "eval"
    step: int
    epoch: int
    loss: float  # per-token NLL on the validation set
    ppl: float
    scores: dict[str, float]  # metric name (engine/metrics.py) -> corpus score
    is_best: bool
    metric: str  # what decides the best model: "loss" or a metric name
    elapsed: float
    decode_seconds: float

    @classmethod
    def _decode(cls, data: dict[str, Any]) -> dict[str, Any]:
        if "scores" not in data:  # written before the metric registry, with BLEU and chrF as fields
            data["scores"] = {k: data.pop(k) for k in ("bleu", "chrf") if k in data}
        return data


@dataclass(frozen=True)
class Sample:
    source: str
    reference: str
    hypothesis: str
    # The attention of the greedy decode (last decoder layer, mean of heads), so that a viewer sees
    # attention form as training goes on: weights[target piece][source piece], rounded.
    source_tokens: tuple[str, ...] = ()
    target_tokens: tuple[str, ...] = ()
    attention: tuple[tuple[float, ...], ...] = ()


@dataclass(frozen=True)
class SampleTranslations(Event):
    kind: ClassVar[str] = "samples"
    step: int
    samples: tuple[Sample, ...]

    @classmethod
    def _decode(cls, data: dict[str, Any]) -> dict[str, Any]:
        names = {f.name for f in fields(Sample)}
        samples = []
        for s in data.get("samples", ()):
            s = {k: v for k, v in s.items() if k in names}
            for key in ("source_tokens", "target_tokens"):
                s[key] = tuple(s.get(key, ()))
            s["attention"] = tuple(tuple(row) for row in s.get("attention", ()))
            samples.append(Sample(**s))
        data["samples"] = tuple(samples)
        return data


@dataclass(frozen=True)
class ModelSaved(Event):
    kind: ClassVar[str] = "saved"
    step: int
    path: str
    role: str  # "best", "last" or "step"


@dataclass(frozen=True)
class Notice(Event):
    """Something the user should know that does not stop the run (e.g. a skipped NaN step)."""

    kind: ClassVar[str] = "notice"
    step: int
    message: str


@dataclass(frozen=True)
class Finished(Event):
    kind: ClassVar[str] = "finished"
    step: int
    reason: str  # "max-steps", "max-epochs", "max-minutes", "early-stopping", "stopped"
    best_path: str
    best_step: int
    best_scores: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0


@dataclass(frozen=True)
class Failed(Event):
    kind: ClassVar[str] = "failed"
    step: int
    message: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (RunStarted, StepReport, EvalReport, SampleTranslations, ModelSaved, Notice, Finished, Failed)
}
