"""Reading run folders without torch: truncated lines, live tailing, summaries, CSV export."""

from __future__ import annotations

import json

from s2s_desktop.engine.api import DataSummary, EvalReport, Finished, ModelSaved, RunStarted, StepReport
from s2s_desktop.engine.training.run_folder import MetricsTail, curves_csv, list_runs, read_metrics, summarize_run

DATA = DataSummary(100, 10, 0, 0, 0, 50, 50, 4.0, 4.0, "split")


def step(n: int, loss: float = 3.0, elapsed: float = 0.0) -> StepReport:
    return StepReport(n, 0, loss, loss, 1e-3, 100.0, 1.0, 10 * n, elapsed)


def line(event) -> str:
    return json.dumps(event.to_json()) + "\n"


def _write_run(folder, events, config=True):
    folder.mkdir(parents=True)
    if config:
        (folder / "config.json").write_text(json.dumps({"model": {"arch": "rnn"}, "train": {"src_lang": "en",
                                                                                           "tgt_lang": "de"}}))
    (folder / "metrics.jsonl").write_text("".join(line(e) for e in events))


def test_a_truncated_last_line_is_skipped(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(line(step(20)) + line(step(40))[:25])
    assert [e.step for e in read_metrics(path)] == [20]


def test_tail_returns_only_complete_new_events(tmp_path):
    path = tmp_path / "metrics.jsonl"
    second = line(step(2))
    path.write_text(line(step(1)) + second[:12])
    tail = MetricsTail(path)
    assert [e.step for e in tail.read()] == [1]
    with open(path, "a") as fh:
        fh.write(second[12:])
    assert [e.step for e in tail.read()] == [2]  # the half line was completed by the writer
    assert tail.read() == []


def test_summaries_and_listing(tmp_path):
    runs = tmp_path / "runs"
    started = RunStarted("runs/done", "cpu", 1000, 0, DATA, {"arch": "rnn"}, {})
    _write_run(runs / "done", [started, step(40, elapsed=10.0),
                               EvalReport(40, 0, 2.0, 7.4, {"bleu": 21.0, "chrf": 40.0}, True, "bleu", 10.0, 1.0),
                               Finished(40, "max-steps", "", 40, {}, 11.0)])
    _write_run(runs / "killed", [started, step(20, elapsed=5.0)])
    (runs / "killed" / "resume.safetensors").write_bytes(b"x")
    (runs / "not-a-run").mkdir()
    found = {r.name: r for r in list_runs(runs)}
    assert set(found) == {"done", "killed"}
    assert found["done"].status == "finished" and found["done"].best["bleu"] == 21.0 and not found["done"].can_resume
    assert found["killed"].status == "running or interrupted" and found["killed"].can_resume
    assert summarize_run(runs / "not-a-run") is None


def test_curves_csv_has_a_row_per_step_and_eval():
    events = [step(1, loss=5.0), EvalReport(1, 0, 4.0, 54.6, {"bleu": 3.0, "chrf": 9.0}, True, "bleu", 1.0, 0.1),
              ModelSaved(1, "best.s2s", "best")]
    rows = curves_csv(events).splitlines()
    assert len(rows) == 3 and rows[1].startswith("step,1,") and ",3.0," in rows[2]
    assert rows[0].split(",")[-2:] == ["bleu", "chrf"]  # the metrics a validation computes, from the registry


def test_a_log_written_before_the_metric_registry_still_reads(tmp_path):
    """An eval line of the earlier layout (BLEU and chrF as fields) becomes an EvalReport with scores;
    a kind from a newer version is skipped; an event with a field this version lacks still reads."""
    path = tmp_path / "metrics.jsonl"
    old_eval = {"event": "eval", "step": 40, "epoch": 0, "loss": 2.0, "ppl": 7.4, "bleu": 21.0, "chrf": 40.0,
                "is_best": True, "metric": "bleu", "elapsed": 10.0, "decode_seconds": 1.0}
    newer = {"event": "hologram", "step": 41}
    extra = {**step(42).to_json(), "gpu_temperature": 61}
    path.write_text("".join(json.dumps(d) + "\n" for d in (old_eval, newer, extra)))
    events = read_metrics(path)
    assert [type(e) for e in events] == [EvalReport, StepReport]
    assert events[0].scores == {"bleu": 21.0, "chrf": 40.0} and events[1] == step(42)
