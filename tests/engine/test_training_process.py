"""The app's training child process: events arrive as metrics.jsonl dicts, control lines work, and
every way the child can end is reported (bad input, a crash, the parent going away)."""

from __future__ import annotations

import json
import os
import time

import pytest

from s2s_desktop.engine.api import ModelConfig, TrainConfig
from s2s_desktop.engine.training.child import ERROR, TrainingProcess

pytestmark = pytest.mark.slow


def configs(tmp_path, corpus_text: str, **train):
    corpus = tmp_path / "pairs.tsv"
    corpus.write_text(corpus_text, encoding="utf-8")
    model = ModelConfig(arch="rnn", emb_size=16, encoder_hidden=16, decoder_hidden=32).to_dict()
    base = dict(train_tsv=str(corpus), out_dir=str(tmp_path / "run"), src_lang="en", tgt_lang="rev", vocab_size=40,
                batch_tokens=400, valid_every=10, valid_size=20, log_every=5)
    base.update(train)
    return model, TrainConfig(**base).to_dict()


def drain(proc: TrainingProcess, until=None, timeout: float = 120.0) -> list[dict]:
    seen, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        event = proc.next_event(0.1)
        if event is None:
            return seen
        if event is not False:
            seen.append(event)
            if until and until(seen):
                return seen
    raise AssertionError(f"the child did not finish; saw {[e['event'] for e in seen]}")


CORPUS = "".join(f"one two {w}\t{w} two one\n" for w in ("three", "four", "five", "six") * 40)


def test_events_match_metrics_jsonl_and_stop_saves(tmp_path):
    model, train = configs(tmp_path, CORPUS, max_steps=10_000)
    proc = TrainingProcess(model, train, resume=False, nice=0)
    seen = drain(proc, until=lambda s: sum(e["event"] == "step" for e in s) >= 2)
    proc.control(pause=False, stop=True)
    seen += drain(proc)
    assert seen[0]["event"] == "started" and seen[-1]["event"] == "finished" and seen[-1]["reason"] == "stopped"
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [e["event"] for e in logged] == [e["event"] for e in seen]
    assert (tmp_path / "run" / "last.s2s").is_file()


def test_pause_holds_the_step_count(tmp_path):
    model, train = configs(tmp_path, CORPUS, max_steps=10_000)
    proc = TrainingProcess(model, train, resume=False, nice=0)
    drain(proc, until=lambda s: any(e["event"] == "step" for e in s))
    proc.control(pause=True, stop=False)
    time.sleep(0.5)  # the step in progress may still report
    while proc.next_event(0.05) is not False:
        pass
    assert proc.next_event(1.5) is False  # nothing trains while paused
    proc.control(pause=False, stop=False)
    assert any(e["event"] == "step" for e in drain(proc, until=lambda s: any(e["event"] == "step" for e in s)))
    proc.control(pause=False, stop=True)
    drain(proc)


def test_bad_input_is_an_error_event_naming_the_line(tmp_path):
    model, train = configs(tmp_path, CORPUS + "only one field\n", max_steps=5)
    seen = drain(TrainingProcess(model, train, resume=False, nice=0))
    assert seen[-1]["event"] == ERROR and seen[-1]["action"] == "starting the run"
    assert "pairs.tsv" in seen[-1]["message"] and "161" in seen[-1]["message"]


def test_a_killed_child_is_reported(tmp_path):
    model, train = configs(tmp_path, CORPUS, max_steps=10_000)
    proc = TrainingProcess(model, train, resume=False, nice=0)
    drain(proc, until=lambda s: any(e["event"] == "step" for e in s))
    proc.kill()
    seen = drain(proc)
    assert seen[-1]["event"] == ERROR and "ended unexpectedly" in seen[-1]["message"]


def test_the_child_stops_and_saves_when_the_app_goes_away(tmp_path):
    model, train = configs(tmp_path, CORPUS, max_steps=10_000)
    proc = TrainingProcess(model, train, resume=False, nice=0)
    drain(proc, until=lambda s: any(e["event"] == "step" for e in s))
    proc._proc.stdin.close()  # what the OS does when the app dies
    seen = drain(proc)
    assert seen[-1]["event"] == "finished" and seen[-1]["reason"] == "stopped"
    assert proc.join(10) and (tmp_path / "run" / "last.s2s").is_file()


def test_stop_now_saves_without_the_last_validation(tmp_path):
    model, train = configs(tmp_path, CORPUS, max_steps=10_000, valid_every=10_000)
    proc = TrainingProcess(model, train, resume=False, nice=0)
    seen = drain(proc, until=lambda s: any(e["event"] == "step" for e in s))
    proc.control(pause=False, stop=True, now=True)  # the app's second Stop ("stop now" on stdin)
    seen += drain(proc)
    kinds = [e["event"] for e in seen]
    assert "eval" not in kinds and kinds[-1] == "finished" and seen[-1]["reason"] == "stopped"
    assert any(e["event"] == "notice" and "without validating" in e["message"] for e in seen)
    assert (tmp_path / "run" / "best.s2s").is_file() and (tmp_path / "run" / "last.s2s").is_file()


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
def test_the_apps_training_runs_on_idle_cpu_time_only(tmp_path):
    """The window's training child (idle=True) is SCHED_IDLE, it and every thread it starts (torch's
    OpenMP team), so a waking UI thread preempts it at once; the default stays a normal process."""
    policies = {}
    for idle in (True, False):
        (tmp_path / str(idle)).mkdir()
        model, train = configs(tmp_path / str(idle), CORPUS, max_steps=10_000)
        proc = TrainingProcess(model, train, resume=False, nice=0, idle=idle)
        drain(proc, until=lambda s: any(e["event"] == "step" for e in s))
        pid = proc._proc.pid
        policies[idle] = {os.sched_getscheduler(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}
        proc.control(pause=False, stop=True)
        drain(proc)
    assert policies == {True: {os.SCHED_IDLE}, False: {os.SCHED_OTHER}}
