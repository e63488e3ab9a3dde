"""The Train tab never shows a stale state (issue 17, items 6 and 7, and the comparison views of 14).

These tests feed the panel the events a run writes, or run folders written here, instead of training:
they take milliseconds. The real child-process path is covered by test_training_panel.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2s_desktop import paths
from s2s_desktop.engine.api import (
    DataSummary,
    EvalReport,
    Finished,
    ModelSaved,
    RunStarted,
    StepReport,
)

MODEL = {"arch": "rnn", "emb_size": 16, "encoder_hidden": 16, "decoder_hidden": 32, "dropout": 0.2}


def train_cfg(folder: Path, **kw) -> dict:
    return {"out_dir": str(folder), "src_lang": "en", "tgt_lang": "de", "train_tsv": "/data/pairs.tsv",
            "lr": 0.001, "batch_tokens": 3000, "schedule": "plateau", "warmup_steps": 100, "label_smoothing": 0.1,
            "vocab_size": 8000, "early_stopping": "bleu", "valid_every": 100, "max_steps": 1000, **kw}


def started(folder: Path, **kw) -> RunStarted:
    data = DataSummary(500, 50, 0, 0, 0, 100, 100, 4.0, 4.0, "split off")
    return RunStarted(str(folder), "cpu", 1234, 0, data, MODEL, train_cfg(folder, **kw))


def step(n: int, elapsed: float) -> StepReport:
    return StepReport(n, 0, 2.0, 1.9, 0.001, 1000.0, 1.0, n * 100, elapsed)


def evaluation(n: int, loss: float, bleu: float, best: bool = True, elapsed: float = 0.0) -> EvalReport:
    return EvalReport(n, 0, loss, 2.0 ** loss, {"bleu": bleu, "chrf": bleu + 5}, best, "bleu", elapsed, 0.1)


def write_run(name: str, events: list, resume: bool = False, **cfg) -> Path:
    """A run folder under the app's runs folder, as the trainer leaves it."""
    folder = paths.runs_dir() / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model": MODEL, "train": train_cfg(folder, **cfg)}))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(e.to_json()) + "\n" for e in events))
    (folder / "best.s2s").write_bytes(b"not read here")
    if resume:
        (folder / "resume.safetensors").write_bytes(b"not read here")
    return folder


@pytest.fixture
def panel(qtbot):
    from s2s_desktop.gui.training_panel import TrainingPanel

    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.resize(1100, 600)
    panel.show()
    yield panel
    panel.client.shutdown()


def live(panel, folder: Path, monkeypatch, clock=None) -> None:
    """Make the panel believe a run in `folder` is training here (no child process)."""
    from s2s_desktop.gui.run_status import LiveClock

    monkeypatch.setattr(panel.client, "running", True)
    panel._reset_view(str(folder), train_cfg(folder))
    panel._set_running(True)
    if clock is not None:
        panel.clock = LiveClock(now=clock)
    panel._go_live(str(folder))
    panel.on_event(started(folder))


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_elapsed_and_eta_move_on_every_second_between_reports(panel, tmp_path, monkeypatch) -> None:
    now = FakeTime()
    live(panel, tmp_path / "run", monkeypatch, clock=now)
    assert panel.status_timer.isActive() and panel.status_timer.interval() == 1000
    panel.on_event(step(250, 60.0))  # a quarter of 1000 steps in a minute: three minutes left
    assert "1 min 00 s elapsed · about 3 min 00 s left" in panel.status.text()
    now.t += 5
    panel.status_timer.timeout.emit()  # one tick, no new report
    assert "1 min 05 s elapsed · about 2 min 55 s left" in panel.status.text()
    panel.toggle_pause()
    now.t += 30  # paused time is not training time
    panel.status_timer.timeout.emit()
    assert panel.status.text().startswith("Paused.") and "1 min 05 s elapsed" in panel.status.text()


def test_validating_shows_until_its_report(panel, tmp_path, monkeypatch) -> None:
    live(panel, tmp_path / "run", monkeypatch)
    panel.on_event(step(100, 10.0))  # valid_every 100: the trainer validates now
    assert "validating…" in panel.status.text()
    panel.on_event(evaluation(100, 2.0, 1.0))
    assert "validating…" not in panel.status.text()


def test_finished_fills_the_bar_and_ends_the_stopping_note(panel, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "run"
    live(panel, folder, monkeypatch)
    panel.on_event(step(850, 60.0))
    assert panel.progress.format() == "85%"
    panel.stop()
    assert "(stopping: validating and saving" in panel.title.text()
    assert panel.stop_button.isEnabled() and panel.stop_button.text() == "Stop now"
    panel.on_event(Finished(860, "stopped", "", 0, {}, 61.0))
    assert panel.progress.value() == panel.progress.maximum() and panel.progress.format() == "stopped at 85%"
    assert "stopping" not in panel.title.text() and not panel.status_timer.isActive()
    panel.on_event(Finished(1000, "max-steps", "", 0, {}, 70.0))
    assert panel.progress.format() == "100%"


def test_a_run_stopped_here_and_reopened_from_history_shows_no_stopping_note(panel, monkeypatch) -> None:
    folder = write_run("stopped-here", [started(Path("x")), step(850, 60.0), Finished(860, "stopped", "", 0, {}, 61.0)],
                       resume=True)
    live(panel, folder, monkeypatch)
    panel.stop()
    assert "(stopping:" in panel.title.text()
    monkeypatch.setattr(panel.client, "running", False)
    panel._on_done()  # the run ended
    panel.history.refresh()
    panel.open_run(str(folder))  # reopened from History
    assert "stopping" not in panel.title.text() and panel.status.text().startswith("Finished (stopped)")
    assert panel.progress.format() == "stopped at 85%" and not panel.stop_button.isEnabled()


def test_a_second_stop_skips_the_validation(panel, tmp_path, monkeypatch) -> None:
    live(panel, tmp_path / "run", monkeypatch)
    panel.stop()
    assert not panel.client.worker.hurry.is_set() and panel.client.worker.stop.is_set()
    panel.stop()
    assert panel.client.worker.hurry.is_set()  # the worker sends "stop now" to the child
    assert "stopping now: saving a model without validating" in panel.title.text()
    assert not panel.stop_button.isEnabled()
    monkeypatch.setattr(panel.client, "running", False)
    panel._on_done()  # the run ended without a Finished event (it crashed while saving)
    assert "stopping" not in panel.title.text() and panel.stop_button.text() == "Stop"


def test_history_shows_the_run_training_here_as_running_and_offers_no_resume(panel, monkeypatch) -> None:
    folder = write_run("resumed", [started(Path("x")), step(100, 5.0), Finished(100, "stopped", "", 0, {}, 5.0)],
                       resume=True)
    history = panel.history
    history.refresh()
    history.select(str(folder))
    assert history.status_of(str(folder)) == "stopped" and history.resume_button.isEnabled()
    monkeypatch.setattr(panel.client, "running", True)
    panel._go_live(str(folder))  # what resuming it does
    history.select(str(folder))
    assert history.status_of(str(folder)) == "running" and not history.resume_button.isEnabled()
    panel._end_live()
    history.select(str(folder))
    assert history.status_of(str(folder)) == "stopped" and history.resume_button.isEnabled()


def test_resuming_a_run_that_reached_its_limit_asks_for_more(panel, monkeypatch) -> None:
    folder = write_run("limited", [started(Path("x")), step(30, 1800.0), Finished(30, "max-minutes", "", 0, {}, 1800.0)],
                       resume=True, max_minutes=30, max_steps=None)
    panel.history.refresh()
    panel.history.select(str(folder))
    assert panel.history.resume_button.isEnabled()  # finished, but at a limit: it can go on
    asked, started_with = [], []
    monkeypatch.setattr(panel, "ask_more", lambda reason, train: asked.append((reason, train["max_minutes"])) or 15)
    monkeypatch.setattr(panel, "start", lambda model, train, resume=False: started_with.append((train, resume)))
    panel.history.resume_button.click()
    assert asked == [("max-minutes", 30)]
    assert started_with and started_with[0][0]["max_minutes"] == 45 and started_with[0][1] is True
    monkeypatch.setattr(panel, "ask_more", lambda reason, train: None)  # cancelled: nothing starts
    panel.resume_run(str(folder))
    assert len(started_with) == 1


def test_one_point_plots_have_sane_axes_and_no_negative_scores(panel) -> None:
    plots = panel.plots
    plots.add_event(step(20, 6.0))
    plots.add_event(evaluation(20, 3.0, 0.0))
    plots._redraw(force=True)
    (x0, x1), (y0, y1) = plots.plots["overlap"].vb.viewRange()
    assert x0 == 0 and x1 > 20 and y0 >= 0 and y1 > 5  # around the point, not a unit box about it
    (x0, x1), (y0, y1) = plots.plots["loss"].vb.viewRange()
    assert x0 == 0 and x1 > 20 and y0 >= 0 and y1 > 3
    plots.add_event(step(40, 12.0))
    plots.add_event(evaluation(40, 2.0, 0.4))
    plots._redraw(force=True)
    (_x0, _x1), (y0, _y1) = plots.plots["overlap"].vb.viewRange()
    assert y0 >= 0 and "overlap" not in plots._fitted  # auto-range again, still no BLEU below zero


def test_log_scale_toggles_for_loss_perplexity_and_learning_rate(qtbot, panel) -> None:
    plots = panel.plots
    for n in (20, 40, 60):
        plots.add_event(step(n, n / 10))
    plots._redraw(force=True)
    assert set(plots.log_scale) == {"loss", "ppl", "lr"}
    plots.log_scale["lr"].click()
    assert plots.plots["lr"].getAxis("left").logMode and not plots.plots["loss"].getAxis("left").logMode
    qtbot.wait(50)  # pyqtgraph auto-ranges when it paints
    (_, _), (y0, y1) = plots.plots["lr"].vb.viewRange()
    assert y0 < -3 < y1 < 0  # log10(0.001) = -3 is in view
    plots.log_scale["lr"].click()
    assert not plots.plots["lr"].getAxis("left").logMode


def test_an_overlay_is_named_and_the_runs_are_compared(panel) -> None:
    a = write_run("run-a", [started(Path("x")), step(100, 5.0), evaluation(100, 2.0, 10.0),
                            Finished(100, "max-steps", "", 100, {"loss": 2.0, "bleu": 10.0}, 5.0)])
    b = write_run("run-b", [started(Path("x")), step(100, 5.0), evaluation(100, 1.5, 20.0),
                            Finished(100, "max-steps", "", 100, {"loss": 1.5, "bleu": 20.0}, 5.0)], lr=0.005)
    panel.history.refresh()
    panel.open_run(str(a))
    panel.overlay_run(str(b))
    legend = panel.plots.legend
    assert legend.isVisibleTo(panel) and "run-a" in legend.text() and "run-b" in legend.text()
    compare = panel.compare
    assert panel.bottom_tabs.currentWidget() is compare and compare.columnCount() == 2
    assert (compare.value("Learning rate", 0), compare.value("Learning rate", 1)) == ("0.001", "0.005")
    assert compare.item(4, 0).font().bold() == (compare.verticalHeaderItem(4).text() == "Learning rate")
    assert (compare.value("Best BLEU", 0), compare.value("Best BLEU", 1)) == ("10", "20")
    assert compare.value("Batch (target tokens)", 0) == compare.value("Batch (target tokens)", 1) == "3000"
    panel.plots.set_overlay(None)
    assert not legend.isVisibleTo(panel)


def test_clicking_a_validation_point_opens_its_model_or_says_it_was_not_kept(qtbot, panel) -> None:
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest

    folder = write_run("clicks", [started(Path("x")), step(100, 5.0), evaluation(100, 2.0, 10.0),
                                  step(200, 10.0), evaluation(200, 1.0, 30.0)])
    panel.history.refresh()
    panel.open_run(str(folder))
    panel.plots._redraw(force=True)
    qtbot.wait(50)
    messages, opened = [], []
    panel.message.connect(lambda text, level: messages.append(text))
    panel.use_model.connect(opened.append)

    def click(step_: int, value: float) -> None:  # a real mouse click on the point, through the scene
        plot = panel.plots.plots["overlap"]
        scene_pos = plot.vb.mapViewToScene(QPointF(step_, value))
        QTest.mouseClick(panel.plots.view.viewport(), Qt.MouseButton.LeftButton, pos=panel.plots.view.mapFromScene(
            scene_pos))

    click(100, 10.0)
    assert messages and "The model of step 100 was not kept" in messages[-1] and "step 200" in messages[-1]
    click(200, 30.0)  # the best point, under the star
    assert opened == [str(folder / "best.s2s")]


def test_use_this_model_warns_when_the_best_score_is_near_zero(panel, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "weak"
    live(panel, folder, monkeypatch)
    panel.on_event(evaluation(100, 5.0, 0.0))
    panel.on_event(ModelSaved(100, str(folder / "best.s2s"), "best"))
    messages, opened = [], []
    panel.message.connect(lambda text, level: messages.append((text, level)))
    panel.use_model.connect(opened.append)
    panel.use_button.click()
    assert opened == [str(folder / "best.s2s")]
    assert messages and messages[-1][1] == "warning" and "BLEU is 0.00" in messages[-1][0]
    panel.on_event(evaluation(200, 2.0, 12.0))
    messages.clear()
    panel.use_button.click()
    assert not messages  # a model that translates something: no warning


def test_use_this_model_warns_for_a_weak_run_opened_from_history(panel) -> None:
    folder = write_run("weak-old", [started(Path("x")), step(100, 5.0), evaluation(100, 5.0, 0.2),
                                    Finished(100, "max-steps", "", 100, {"loss": 5.0, "bleu": 0.2}, 5.0)])
    panel.history.refresh()
    panel.open_run(str(folder))
    messages = []
    panel.message.connect(lambda text, level: messages.append((text, level)))
    panel.use_button.click()
    assert messages and messages[-1][1] == "warning" and "BLEU is 0.20" in messages[-1][0]


def test_a_banner_about_the_run_ends_with_it(make_window) -> None:
    from s2s_desktop.gui.training_panel import ALREADY_TRAINING

    window = make_window()
    window.training.message.emit(ALREADY_TRAINING, "warning")
    assert window.message_bar.text() == ALREADY_TRAINING
    window.training.run_ended.emit()
    assert window.message_bar.text() == ""
    window.show_message("Could not open x.s2s: broken.")
    window.training.run_ended.emit()
    assert window.message_bar.text() == "Could not open x.s2s: broken."  # not about the run: it stays


def test_status_helpers() -> None:
    from s2s_desktop.gui.run_status import LiveClock, extend_limit, is_validating, weak_model_warning

    now = FakeTime()
    clock = LiveClock(now=now)
    clock.set(10.0)
    now.t += 2
    assert clock.elapsed == 12.0 and clock.drift == 2.0
    clock.pause()
    now.t += 5
    assert clock.elapsed == 12.0
    assert is_validating({"valid_every": 50}, 100, 50) and not is_validating({"valid_every": 50}, 100, 100)
    assert not is_validating({"valid_every": 50}, 120, 100)
    assert extend_limit({"max_steps": 100}, "max-steps", 50)["max_steps"] == 150
    assert weak_model_warning({"bleu": 0.4}) and not weak_model_warning({"bleu": 3.0}) and not weak_model_warning({})
