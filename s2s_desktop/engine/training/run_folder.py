"""The training-run folder, torch-free: its file names, the metrics writer and readers, the summary
the run history shows.

A run folder holds `config.json` (model and training settings), `metrics.jsonl` (one event per line,
append-only), `best.s2s`, `last.s2s`, kept `step-NNNNNNN.s2s` models and `resume.safetensors`. Every
module that touches the folder takes the names from here.

Readers return the `api` events (`Event.from_json`): a killed process can leave a truncated last line
and a newer app can write kinds this one does not know; both are skipped. `MetricsTail` reads only what
was appended since the last call, so a run started from the CLI can be watched live.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s2s_desktop.engine import metrics
from s2s_desktop.engine.api import EvalReport, Event, Failed, Finished, RunStarted, StepReport
from s2s_desktop.errors import CheckpointError, TrainingError

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
BEST_FILE = "best.s2s"
LAST_FILE = "last.s2s"
RESUME_FILE = "resume.safetensors"
RESUME_FORMAT = "s2s-desktop-resume"  # the "format" in RESUME_FILE's metadata (not a model file)


def step_file(step: int) -> str:
    """Name of the model kept at a validation step (--keep-last)."""
    return f"step-{step:07d}.s2s"


def written_by_the_trainer(name: str) -> bool:
    """The files the trainer writes atomically (the temporary files of a killed write are removed on resume)."""
    return name in (CONFIG_FILE, BEST_FILE, LAST_FILE, RESUME_FILE) or re.fullmatch(r"step-\d{7}\.s2s", name) is not None


def holds_run(folder: str | Path) -> bool:
    """Whether a training run has already saved something here (a new run must not start over it)."""
    folder = Path(folder)
    return (folder / RESUME_FILE).exists() or (folder / BEST_FILE).exists()


class MetricsLog:
    """Append-only JSON-lines log; tolerates a truncated last line left by a killed process."""

    def __init__(self, path: Path):
        self.path = path
        try:
            if path.exists() and path.stat().st_size:
                with open(path, "rb+") as fh:
                    fh.seek(-1, 2)
                    if fh.read(1) != b"\n":
                        fh.write(b"\n")
            self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115  (kept open for the whole run)
        except OSError as exc:
            raise TrainingError(f"Could not open {path} to append to it: {exc.strerror or exc}") from exc
        self._cut = False  # a write failed part-way: the next one starts a new line

    def write(self, event: Event) -> None:
        line = json.dumps(event.to_json(), ensure_ascii=False) + "\n"
        try:
            self._fh.write("\n" + line if self._cut else line)  # never glued to a line a full disk cut
            self._fh.flush()
            self._cut = False
        except OSError as exc:
            self._cut = True
            raise TrainingError(f"Could not append to {self.path}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        self._fh.close()


def parse_lines(text: str) -> list[Event]:
    """The events of metrics.jsonl text; cut, malformed and unknown lines are skipped."""
    events = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            event = Event.from_json(json.loads(line))
        except (ValueError, CheckpointError):
            continue  # a line cut short by a killed writer, or not an event
        if event is not None:  # None: a kind from a newer version
            events.append(event)
    return events


def read_metrics(path: str | Path) -> list[Event]:
    """Events of a run's metrics.jsonl; unreadable lines (a killed writer's last line) are skipped."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return parse_lines(fh.read())


class MetricsTail:
    """Incremental reader of a growing metrics.jsonl: each `read()` returns the new complete events."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.offset = 0
        self.partial = b""

    def read(self) -> list[Event]:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return []
        self.offset += len(data)
        data = self.partial + data
        cut = data.rfind(b"\n") + 1
        self.partial = data[cut:]
        return parse_lines(data[:cut].decode("utf-8", errors="replace"))


@dataclass
class RunSummary:
    path: str
    name: str
    started: float  # modification time of config.json
    arch: str = "?"
    src_lang: str = "?"
    tgt_lang: str = "?"
    steps: int = 0
    elapsed: float = 0.0
    status: str = "unknown"  # "finished", "stopped", "failed", "running or interrupted", "not started"
    best: dict[str, Any] = field(default_factory=dict)  # step, loss, ppl and the metrics of the best evaluation
    can_resume: bool = False
    best_model: str = ""


def summarize_run(folder: str | Path) -> RunSummary | None:
    """What the run history shows for a folder, or None when it is not a run folder."""
    folder = Path(folder)
    config = folder / CONFIG_FILE
    if not config.is_file():
        return None
    summary = RunSummary(str(folder), folder.name, config.stat().st_mtime)
    try:
        cfg = json.loads(config.read_text(encoding="utf-8"))
        summary.arch = cfg.get("model", {}).get("arch", "?")
        summary.src_lang = cfg.get("train", {}).get("src_lang", "?")
        summary.tgt_lang = cfg.get("train", {}).get("tgt_lang", "?")
    except (OSError, ValueError, AttributeError):
        pass
    log = folder / METRICS_FILE
    events = read_metrics(log) if log.is_file() else []
    summary.status = "not started" if not events else "running or interrupted"
    for e in events:
        match e:
            case StepReport() | EvalReport():
                summary.steps = max(summary.steps, e.step)
                summary.elapsed = max(summary.elapsed, e.elapsed)
                if isinstance(e, EvalReport) and e.is_best:
                    summary.best = {"step": e.step, "loss": e.loss, "ppl": e.ppl, **e.scores}
            case Finished():
                summary.status = "finished" if e.reason != "stopped" else "stopped"
                summary.elapsed = max(summary.elapsed, e.elapsed)
            case Failed():
                summary.status = "failed"
            case RunStarted():
                summary.status = "running or interrupted"
    summary.can_resume = (folder / RESUME_FILE).is_file() and summary.status != "finished"
    best = folder / BEST_FILE
    summary.best_model = str(best) if best.is_file() else ""
    return summary


def list_runs(*roots: str | Path) -> list[RunSummary]:
    """Runs found directly under the given folders (and the folders themselves), newest first."""
    seen, out = set(), []
    for root in roots:
        root = Path(root)
        candidates = [root] + (sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else [])
        for folder in candidates:
            key = os.path.realpath(folder)
            if key in seen:
                continue
            summary = summarize_run(folder)
            if summary is not None:
                seen.add(key)
                out.append(summary)
    return sorted(out, key=lambda s: s.started, reverse=True)


def continued(events: list[Event]) -> list[Event]:
    """The events of a run as it continued. A resumed run redoes the updates after its resume point that
    a kill lost, so the killed run's step and validation events after that point are dropped: a curve
    continues instead of doubling back (gui.run_curves does the same as events arrive)."""
    out: list[Event] = []
    for e in events:
        if isinstance(e, RunStarted) and e.resumed_from_step:
            out = [x for x in out if not (isinstance(x, (StepReport, EvalReport)) and x.step > e.resumed_from_step)]
        out.append(e)
    return out


def curves_csv(events: list[Event]) -> str:
    """The plotted series as one CSV: step, elapsed, kind, and each metric (those a validation computes
    by default, then any other the events hold, in the registry's order). Steps a resumed run redid
    appear once (`continued`)."""
    events = continued(events)
    found = {name for e in events if isinstance(e, EvalReport) for name in e.scores}
    names = [m.name for m in metrics.METRICS.values() if m.in_training or m.name in found]
    names += sorted(found - set(names))  # from a newer version's registry
    columns = ["step", "elapsed", "loss", "nll", "lr", "tokens_per_sec", "grad_norm", "ppl", *names]
    lines = ["event," + ",".join(columns)]
    for e in events:
        match e:
            case StepReport():
                row = {"step": e.step, "elapsed": e.elapsed, "loss": e.loss, "nll": e.nll, "lr": e.lr,
                       "tokens_per_sec": e.tokens_per_sec, "grad_norm": e.grad_norm}
            case EvalReport():
                row = {"step": e.step, "elapsed": e.elapsed, "loss": e.loss, "ppl": e.ppl, **e.scores}
            case _:
                continue
        lines.append(e.kind + "," + ",".join("" if row.get(c) is None else str(row[c]) for c in columns))
    return "\n".join(lines) + "\n"


def model_at_step(folder: str | Path, step: int) -> str | None:
    """The model file saved at a validation step, when it was kept."""
    path = Path(folder) / step_file(step)
    return str(path) if path.is_file() else None
