"""Training in the app: the form, live plots and progress, pause/resume/stop, history and replay."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest

from s2s_desktop.engine.api import Finished, StepReport
from s2s_desktop.engine.training.run_folder import METRICS_FILE, read_metrics
from tests.conftest import NUMBER_WORDS

RUN_TIMEOUT = 180_000


@pytest.fixture
def corpus(tmp_path):
    rng = random.Random(3)
    lines = []
    for _ in range(600):
        words = [rng.choice(NUMBER_WORDS) for _ in range(rng.randint(2, 5))]
        lines.append(f"{' '.join(words)}\t{' '.join(reversed(words))}\n")
    path = tmp_path / "reverse.tsv"
    path.write_text("".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def training(qtbot):
    from s2s_desktop.gui.training_panel import TrainingPanel

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.resize(1200, 800)
    panel.show()
    yield panel
    panel.client.shutdown()


def fill_form(form, corpus, steps: int, name: str) -> None:
    form.train_tsv.setText(str(corpus))
    form.src_lang.setText("en")
    form.tgt_lang.setText("rev")
    form.arch.setCurrentIndex(1)  # RNN GRU + Luong
    form.preset.setCurrentText("tiny")
    form.run_name.setText(name)
    form.advanced.setChecked(True)
    form.vocab.setValue(100)
    form.limit_kind.setCurrentText("steps")
    form.limit.setValue(steps)
    form.batch.setValue(600)
    form.lr.setValue(0.005)
    form.valid_every.setValue(20)


def test_invalid_values_cannot_start_a_run(training, tmp_path, corpus):
    form = training.form
    form.train_tsv.setText(str(tmp_path / "missing.tsv"))
    assert not form.start_button.isEnabled() and "does not exist" in form.problem.text()
    assert "missing.tsv" in form.start_button.toolTip()
    form.train_tsv.setText(str(corpus))
    assert form.start_button.isEnabled()
    form.src_lang.setText("")
    assert not form.start_button.isEnabled()
    form.src_lang.setText("en")
    form.pair_mode.setChecked(True)  # two-file mode with no files given
    assert not form.start_button.isEnabled()
    form.tsv_mode.setChecked(True)
    form.lr.setValue(-1)  # the spin box refuses it
    assert form.lr.value() > 0


def test_a_run_from_the_form_fills_plots_progress_and_samples(qtbot, training, corpus):
    fill_form(training.form, corpus, steps=60, name="from-form")
    with qtbot.waitSignal(training.client.corpus_checked, timeout=RUN_TIMEOUT):
        training.form.check_button.click()
    assert "training pairs" in training.form.counts.text() and "validation pairs" in training.form.counts.text()
    with qtbot.waitSignal(training.client.done, timeout=RUN_TIMEOUT):
        training.form.start_button.click()
    qtbot.wait(250)  # one redraw tick
    series = training.plots.curves.series
    assert series["loss"].n >= 2 and series["bleu"].n == 3 and series["lr"].n == series["loss"].n
    x, _y = training.plots.items["loss_raw"].getData()
    assert len(x) == series["loss"].n  # drawn, not only buffered
    assert training.progress.value() == training.progress.maximum()
    assert "Finished (max-steps) at step 60" in training.status.text()
    assert training.sample_table.rowCount() == 3 and training.sample_table.item(0, 2).text()
    assert training.attention.matrix.size > 0  # the chosen sample's attention map
    assert training.use_button.isEnabled() and training.best_path.endswith("best.s2s")
    with qtbot.waitSignal(training.use_model) as used:
        training.use_button.click()
    assert used.args[0] == training.best_path


def test_the_corpus_check_runs_in_another_process(qtbot, training, corpus, tmp_path):
    """Reading the corpus holds the GIL for seconds: the check is a child process, errors name file and line."""
    import os

    fill_form(training.form, corpus, steps=60, name="checked")
    with qtbot.waitSignal(training.client.corpus_checked, timeout=RUN_TIMEOUT) as checked:
        training.form.check_button.click()
    assert checked.args[0].train_pairs + checked.args[0].valid_pairs == 600
    assert training.client.corpus_check.pid not in (None, os.getpid())
    bad = tmp_path / "bad.tsv"
    bad.write_text("one two\ttwo one\nno tab here\n", encoding="utf-8")
    training.form.train_tsv.setText(str(bad))
    messages = []
    training.message.connect(lambda text, level: messages.append((text, level)))
    with qtbot.waitSignal(training.client.failed, timeout=RUN_TIMEOUT) as failed:
        training.form.check_button.click()
    failure = failed.args[0]
    assert failure.action == "checking the corpus" and f"{bad}, line 2" in failure.message
    assert messages and "line 2" in messages[-1][0] and messages[-1][1] == "error"
    assert not training.client.corpus_check.running


def training_child_policies() -> set[int]:
    """The scheduling policies of the threads of this process's training children (Linux)."""
    policies = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                ppid = int(fh.read().rsplit(b")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                child = b"s2s_desktop.engine.training.child" in fh.read()
            if ppid == os.getpid() and child:
                policies |= {os.sched_getscheduler(int(t)) for t in os.listdir(f"/proc/{pid}/task")}
        except (OSError, ValueError, IndexError):
            continue
    return policies


def test_pause_resume_and_stop(qtbot, training, corpus):
    from s2s_desktop.engine.decoding.service import Translator

    fill_form(training.form, corpus, steps=100_000, name="paused")
    steps = []
    training.client.event.connect(lambda e: steps.append(e.step) if isinstance(e, StepReport) else None)
    training.form.start_button.click()
    qtbot.waitUntil(lambda: len(steps) >= 1, timeout=RUN_TIMEOUT)
    if hasattr(os, "SCHED_IDLE"):  # the run yields every core to the window and its translations
        assert training_child_policies() == {os.SCHED_IDLE}
    training.pause_button.click()
    assert training.pause_button.text() == "Resume"
    qtbot.wait(300)  # the step in progress finishes and reports
    at_pause = len(steps)
    qtbot.wait(1500)
    assert len(steps) == at_pause  # nothing trains while paused
    training.pause_button.click()
    qtbot.waitUntil(lambda: len(steps) >= at_pause + 2, timeout=RUN_TIMEOUT)
    with qtbot.waitSignal(training.client.done, timeout=RUN_TIMEOUT):
        training.stop_button.click()
    assert steps == sorted(steps) and steps[-1] - steps[0] == 20 * (len(steps) - 1)  # the count went on
    events = read_metrics(training.run_dir + "/" + METRICS_FILE)
    assert isinstance(events[-1], Finished) and events[-1].reason == "stopped"
    translator = Translator.open(training.best_path, "cpu")  # stopping saved a loadable model
    assert translator.translate(["one two"])[0].text is not None


def test_history_replays_a_killed_run_and_resumes_it(qtbot, training, corpus):
    fill_form(training.form, corpus, steps=100_000, name="killed")
    seen = []
    training.client.event.connect(lambda e: seen.append(e.kind))
    training.form.start_button.click()
    qtbot.waitUntil(lambda: seen.count("saved") >= 2, timeout=RUN_TIMEOUT)  # a validation saved models
    with qtbot.waitSignal(training.client.done, timeout=RUN_TIMEOUT):
        training.stop()
    folder = training.run_dir
    metrics = f"{folder}/{METRICS_FILE}"
    with open(metrics, "a", encoding="utf-8") as fh:  # what a killed process leaves behind
        fh.write('{"event": "step", "step": 99')
    steps_logged = sum(1 for e in read_metrics(metrics) if isinstance(e, StepReport))

    training.history.refresh()
    training.history.select(folder)
    assert training.history.selected() == folder
    run = training.history.summary(folder)
    assert run.can_resume and run.status == "stopped"
    training.history.open_button.click()
    assert training.plots.curves.series["loss"].n == steps_logged

    start_step = run.steps
    training.form.limit.setValue(start_step + 20)  # not used: resume keeps the run's own config
    with qtbot.waitSignal(training.client.event, timeout=RUN_TIMEOUT,
                          check_params_cb=lambda e: isinstance(e, StepReport)) as first:
        training.history.resume_button.click()
    assert first.args[0].step > start_step  # it continued, it did not start over
    with qtbot.waitSignal(training.client.done, timeout=RUN_TIMEOUT):
        training.stop()


def test_two_runs_overlay_and_export(qtbot, training, corpus, tmp_path):
    fill_form(training.form, corpus, steps=40, name="first")
    with qtbot.waitSignal(training.client.done, timeout=RUN_TIMEOUT):
        training.form.start_button.click()
    first = training.run_dir
    training.form.run_name.setText("second")
    training.form.lr.setValue(0.002)
    with qtbot.waitSignal(training.client.done, timeout=RUN_TIMEOUT):
        training.form.start_button.click()
    training.history.refresh()
    assert {r.name for r in training.history.runs} >= {"first", "second"}
    training.overlay_run(first)
    qtbot.wait(250)
    assert training.plots.overlay is not None and len(training.plots.overlay_items) == 7
    out = tmp_path / "curves.csv"
    training.history.export_csv(first, str(out))
    rows = out.read_text().splitlines()
    assert rows[0].startswith("event,step,elapsed,loss") and sum(r.startswith("eval,") for r in rows) == 2


def test_ema_smoothing_and_progress():
    from s2s_desktop.gui.training_panel import run_progress
    from s2s_desktop.gui.training_plots import ema

    values = np.array([10.0, 0.0, 0.0, 0.0])
    assert ema(values, 0.0).tolist() == values.tolist()
    smooth = ema(values, 0.5)
    assert smooth[0] == 10.0 and 0 < smooth[-1] < smooth[1] < 10.0  # bias-corrected, decaying
    assert run_progress({"max_steps": 100}, 25, 0, 0.0) == 0.25
    assert run_progress({"max_steps": 100, "max_minutes": 1.0}, 10, 0, 30.0) == 0.5  # the closest limit
    assert run_progress({}, 10, 1, 5.0) is None


def test_processes_are_offered_with_several_gpus_and_run_under_torchrun(qtbot, training, corpus):
    form = training.form
    form.set_devices(["auto", "cpu"])
    assert not form.processes.isVisibleTo(form)
    form.set_devices(["auto", "cpu", "cuda:0", "cuda:1"])
    assert form.processes.isVisibleTo(form) and form.processes.maximum() == 2
    # The launch path itself, on this CPU machine: two gloo processes instead of two GPUs.
    fill_form(form, corpus, steps=40, name="two-processes")
    form.device.setCurrentText("cpu")
    form.processes.setValue(2)
    with qtbot.waitSignal(training.process_done, timeout=RUN_TIMEOUT) as done:
        form.start_button.click()
    assert done.args[0] == 0
    assert training.plots.curves.series["loss"].n >= 1  # watched through metrics.jsonl
    assert "Finished (max-steps) at step 40" in training.status.text()
    assert training.best_path.endswith("best.s2s")
