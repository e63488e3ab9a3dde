"""Reading run folders without torch: truncated lines, live tailing, summaries, CSV export."""

from __future__ import annotations

import json

from s2s_desktop.engine.training.run_folder import MetricsTail, curves_csv, list_runs, read_metrics, summarize_run


def _write_run(folder, events, config=True):
    folder.mkdir(parents=True)
    if config:
        (folder / "config.json").write_text(json.dumps({"model": {"arch": "rnn"}, "train": {"src_lang": "en",
                                                                                           "tgt_lang": "de"}}))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))


def test_a_truncated_last_line_is_skipped(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"event": "step", "step": 20, "loss": 3.0}\n{"event": "step", "st')
    assert [e["step"] for e in read_metrics(path)] == [20]


def test_tail_returns_only_complete_new_events(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"event": "step", "step": 1}\n{"event": "st')
    tail = MetricsTail(path)
    assert [e["step"] for e in tail.read()] == [1]
    with open(path, "a") as fh:
        fh.write('ep", "step": 2}\n')
    assert [e["step"] for e in tail.read()] == [2]  # the half line was completed by the writer
    assert tail.read() == []


def test_summaries_and_listing(tmp_path):
    runs = tmp_path / "runs"
    _write_run(runs / "done", [{"event": "started"}, {"event": "step", "step": 40, "elapsed": 10.0},
                               {"event": "eval", "step": 40, "loss": 2.0, "ppl": 7.4, "bleu": 21.0, "chrf": 40.0,
                                "is_best": True},
                               {"event": "finished", "reason": "max-steps", "elapsed": 11.0}])
    _write_run(runs / "killed", [{"event": "started"}, {"event": "step", "step": 20, "elapsed": 5.0}])
    (runs / "killed" / "resume.safetensors").write_bytes(b"x")
    (runs / "not-a-run").mkdir()
    found = {r.name: r for r in list_runs(runs)}
    assert set(found) == {"done", "killed"}
    assert found["done"].status == "finished" and found["done"].best["bleu"] == 21.0 and not found["done"].can_resume
    assert found["killed"].status == "running or interrupted" and found["killed"].can_resume
    assert summarize_run(runs / "not-a-run") is None


def test_curves_csv_has_a_row_per_step_and_eval():
    events = [{"event": "step", "step": 1, "loss": 5.0}, {"event": "eval", "step": 1, "bleu": 3.0},
              {"event": "saved", "step": 1}]
    rows = curves_csv(events).splitlines()
    assert len(rows) == 3 and rows[1].startswith("step,1,") and ",3.0," in rows[2]
