"""Reading training-run folders without torch: the run history and the live plots use this.

A run folder holds `config.json` (model and training settings), `metrics.jsonl` (one event per
line, append-only) and model files. A killed process can leave a truncated last line; readers skip
it, and `tail` reads only what was appended since the last call, so a run started from the CLI can
be watched live.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
CONFIG_FILE = "config.json"


def parse_lines(text: str) -> list[dict]:
    events = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line cut short by a killed writer
        if isinstance(event, dict) and "event" in event:
            events.append(event)
    return events


def read_metrics(path: str | Path) -> list[dict]:
    """Events of a run's metrics.jsonl; unreadable lines (a killed writer's last line) are skipped."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return parse_lines(fh.read())


class MetricsTail:
    """Incremental reader of a growing metrics.jsonl: each `read()` returns the new complete events."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.offset = 0
        self.partial = b""

    def read(self) -> list[dict]:
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
    best: dict[str, Any] = field(default_factory=dict)
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
    metrics = folder / METRICS_FILE
    events = read_metrics(metrics) if metrics.is_file() else []
    summary.status = "not started" if not events else "running or interrupted"
    for e in events:
        kind = e["event"]
        if kind in ("step", "eval"):
            summary.steps = max(summary.steps, int(e.get("step", 0)))
            summary.elapsed = max(summary.elapsed, float(e.get("elapsed", 0.0)))
        if kind == "eval" and e.get("is_best"):
            summary.best = {k: e[k] for k in ("step", "loss", "ppl", "bleu", "chrf") if k in e}
        elif kind == "finished":
            summary.status = "finished" if e.get("reason") != "stopped" else "stopped"
            summary.elapsed = max(summary.elapsed, float(e.get("elapsed", 0.0)))
        elif kind == "failed":
            summary.status = "failed"
        elif kind == "started":
            summary.status = "running or interrupted"
    summary.can_resume = (folder / "resume.safetensors").is_file() and summary.status != "finished"
    best = folder / "best.s2s"
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


def curves_csv(events: list[dict]) -> str:
    """The plotted series as one CSV: step, elapsed, kind, and each metric."""
    columns = ["step", "elapsed", "loss", "nll", "lr", "tokens_per_sec", "grad_norm", "ppl", "bleu", "chrf"]
    lines = ["event," + ",".join(columns)]
    for e in events:
        if e["event"] in ("step", "eval"):
            lines.append(e["event"] + "," + ",".join("" if e.get(c) is None else str(e[c]) for c in columns))
    return "\n".join(lines) + "\n"


def model_at_step(folder: str | Path, step: int) -> str | None:
    """The model file saved at a validation step, when it was kept."""
    path = Path(folder) / f"step-{step:07d}.s2s"
    return str(path) if path.is_file() else None
