"""A resumed run's curves continue the killed run's (issue 20): the steps a kill lost are redone after
the resume point, and the killed run's points after it are dropped instead of drawn twice."""

from __future__ import annotations

import dataclasses

from s2s_desktop.engine.training.run_folder import continued, curves_csv
from s2s_desktop.gui.run_curves import RunCurves
from tests.gui.test_training_status import evaluation, started, step


def killed_and_resumed(tmp_path):
    """Steps 1-7 and an evaluation at 5 (best), killed; resumed from the save at step 4, steps 5-8."""
    first = [started(tmp_path), *(step(n, n) for n in range(1, 6)), evaluation(5, 1.0, 30.0),
             step(6, 6), step(7, 7)]
    resumed = dataclasses.replace(started(tmp_path), resumed_from_step=4)
    return first + [resumed, *(step(n, 10 + n) for n in range(5, 9))]


def test_the_curves_drop_what_the_resumed_run_redoes(tmp_path):
    curves = RunCurves()
    for e in killed_and_resumed(tmp_path):
        curves.add(e)
    steps, minutes = curves.series["loss"].xy(False)[0], curves.series["loss"].xy(True)[0]
    assert list(steps) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert list(minutes[4:] * 60) == [15, 16, 17, 18]  # the resumed run's points, not the killed run's
    assert curves.series["val_loss"].n == 0 and curves.best is None  # the evaluation at 5 is redone later


def test_the_csv_export_holds_each_step_once(tmp_path):
    events = killed_and_resumed(tmp_path)
    rows = [line.split(",") for line in curves_csv(events).splitlines()[1:]]
    assert [int(r[1]) for r in rows] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert len(continued(events)) == len(events) - 4  # steps 5, 6, 7 and the evaluation at 5
