"""Live training curves (pyqtgraph): loss, perplexity, the validation metrics, learning rate and
throughput.

Events only append to numpy buffers; a 10 Hz timer redraws what changed, so a fast trainer never
makes the UI redraw per step. The same code replays a finished run from its metrics.jsonl and can
overlay a second run (dashed) for comparison. The metric plots come from the metric registry
(engine/metrics.py): one plot per plot group, shown from the start for groups with a metric computed at
every validation, added when the first value arrives for the others.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop.engine import metrics
from s2s_desktop.engine.api import EvalReport, Event, StepReport

REDRAW_MS = 100
COLORS = {"train": (120, 160, 210), "smooth": (31, 90, 170), "valid": (214, 95, 20), "lr": (90, 90, 90),
          "tps": (30, 130, 150)}
# Metric colours by registry position (BLEU green, chrF purple, ...).
METRIC_COLORS = ((44, 140, 60), (150, 60, 160), (200, 120, 0), (20, 110, 200), (160, 40, 40), (90, 90, 20))
PLOTS_PER_FRAME = 2
AXIS_WIDTH, AXIS_HEIGHT = 54, 32  # px: room for "12,345" and "0.0012" at the default font
FIXED_SLOTS = {"loss": (0, 0), "ppl": (0, 1), "lr": (1, 0), "tps": (1, 1)}
GROUP_SLOTS = ((0, 2), (1, 2), (2, 0), (2, 1), (2, 2))  # metric plot groups, in the order they appear


def metric_color(name: str) -> tuple[int, int, int]:
    names = list(metrics.METRICS)
    return METRIC_COLORS[names.index(name) % len(METRIC_COLORS)] if name in names else (120, 120, 120)


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard-style smoothing with bias correction (weight 0 = raw, 0.99 = very smooth)."""
    out = np.empty(len(values))
    acc, norm = 0.0, 0.0
    for i, v in enumerate(values):
        acc = weight * acc + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out[i] = acc / norm
    return out


class Series:
    """A growable (step, minutes, value) buffer."""

    def __init__(self) -> None:
        self.data = np.zeros((256, 3))
        self.n = 0

    def append(self, step: float, minutes: float, value: float) -> None:
        if self.n == len(self.data):
            self.data = np.concatenate([self.data, np.zeros_like(self.data)])
        self.data[self.n] = (step, minutes, value)
        self.n += 1

    def xy(self, by_time: bool) -> tuple[np.ndarray, np.ndarray]:
        d = self.data[: self.n]
        return d[:, 1 if by_time else 0], d[:, 2]

    def clear(self) -> None:
        self.n = 0


STEP_SERIES = ("loss", "nll", "lr", "tps")
EVAL_SERIES = ("val_loss", "val_ppl")


class RunCurves:
    """All series of one run, filled from events (live or replayed): the step and validation series,
    and one per metric (named as in the registry)."""

    def __init__(self) -> None:
        self.series = {name: Series() for name in (*STEP_SERIES, *EVAL_SERIES, *metrics.METRICS)}
        self.best: tuple[int, float, float] | None = None  # step, minutes, metric value (for the marker)
        self.best_metric = metrics.HEADLINE.name

    def add(self, e: Event) -> set[str]:
        """Append what an event holds; returns the plots it changes (none for unplotted events)."""
        s = self.series
        match e:
            case StepReport(step=step, elapsed=elapsed):
                minutes = elapsed / 60
                s["loss"].append(step, minutes, e.loss)
                s["nll"].append(step, minutes, e.nll)
                s["lr"].append(step, minutes, e.lr)
                s["tps"].append(step, minutes, e.tokens_per_sec)
                return {"loss", "lr", "tps"}
            case EvalReport(step=step, elapsed=elapsed):
                minutes = elapsed / 60
                s["val_loss"].append(step, minutes, e.loss)
                s["val_ppl"].append(step, minutes, e.ppl)
                changed = {"loss", "ppl"}
                for name, value in e.scores.items():
                    if name in metrics.METRICS:  # a newer version's metric is not plotted
                        s[name].append(step, minutes, value)
                        changed.add(metrics.METRICS[name].plot)
                if e.is_best:
                    value = e.loss if e.metric == metrics.LOSS.name else e.scores.get(e.metric)
                    if value is not None:
                        self.best_metric = e.metric
                        self.best = (step, minutes, value)
                return changed
        return set()

    def shown(self, name: str) -> bool:
        """Whether a metric has a curve: computed at every validation, or with values here."""
        return metrics.METRICS[name].in_training or self.series[name].n > 0

    def clear(self) -> None:
        for series in self.series.values():
            series.clear()
        self.best = None


class TrainingPlots(QWidget):
    eval_point_clicked = Signal(int)  # the step of a clicked validation point

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.curves = RunCurves()
        self.overlay: RunCurves | None = None
        self.dirty: set[str] = set()  # plots whose data changed since they were last drawn
        self.x_axis = QComboBox()
        self.x_axis.addItems(["Step", "Time (minutes)"])
        self.x_axis.currentIndexChanged.connect(lambda _: self._redraw(force=True))
        self.smoothing = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=99, value=80, maximumWidth=160,
                                 toolTip="Smoothing of the training loss (0 = raw)")
        self.smoothing.valueChanged.connect(lambda _: self._redraw(force=True))
        self.hover = QLabel(" ")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("X axis"))
        controls.addWidget(self.x_axis)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Smoothing"))
        controls.addWidget(self.smoothing)
        controls.addSpacing(12)
        controls.addWidget(self.hover, 1)

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.plots: dict[str, pg.PlotItem] = {}  # "loss", "ppl", "lr", "tps" and one per metric plot group
        self.items: dict[str, pg.PlotDataItem] = {}  # curves by series name ("loss_raw", "loss_smooth", ...)
        for key, title in (("loss", "Loss (per target token)"), ("ppl", "Validation perplexity"),
                           ("lr", "Learning rate"), ("tps", "Throughput (target tokens/s)")):
            self._add_plot(key, title, *FIXED_SLOTS[key], legend=key == "loss")
        self.items["loss_raw"] = self.plots["loss"].plot(pen=pg.mkPen(COLORS["train"], width=1), name="train")
        self.items["loss_smooth"] = self.plots["loss"].plot(pen=pg.mkPen(COLORS["smooth"], width=2),
                                                            name="train (smoothed)")
        self.items["val_loss"] = self.plots["loss"].plot(pen=pg.mkPen(COLORS["valid"], width=2), symbol="o",
                                                         symbolSize=5, symbolBrush=COLORS["valid"], name="validation")
        self.items["val_ppl"] = self.plots["ppl"].plot(pen=pg.mkPen(COLORS["valid"], width=2), symbol="o",
                                                       symbolSize=5, symbolBrush=COLORS["valid"])
        self.items["lr"] = self.plots["lr"].plot(pen=pg.mkPen(COLORS["lr"], width=2))
        self.items["tps"] = self.plots["tps"].plot(pen=pg.mkPen(COLORS["tps"], width=1))
        headline = metrics.HEADLINE
        self.eval_points = pg.ScatterPlotItem(size=9, brush=pg.mkBrush(metric_color(headline.name)), hoverable=True,
                                              tip=lambda x, y, data: f"step {data}: {headline.label} {y:.2f} "
                                                                     "(click to open)")
        self.eval_points.sigClicked.connect(self._on_point_clicked)
        self.best_marker = pg.ScatterPlotItem(size=18, symbol="star", brush=pg.mkBrush(255, 200, 0),
                                              pen=pg.mkPen(120, 80, 0))
        self.best_marker.setZValue(20)
        self.overlay_items: list[tuple[str, pg.PlotDataItem]] = []
        self._best_plot: str | None = None
        self._show_metrics(self.curves)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.view, 1)
        self.timer = QTimer(self, interval=REDRAW_MS)
        self.timer.timeout.connect(self._redraw)
        self.timer.start()

    def _add_plot(self, key: str, title: str, row: int, col: int, legend: bool) -> pg.PlotItem:
        plot = self.view.addPlot(row=row, col=col, title=title)
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setMenuEnabled(False)
        # Fixed axis sizes: otherwise every new tick label ("0.8" -> "0.75") resizes an axis, the
        # grid lays itself out again and all the plots repaint (40-80 ms) instead of one.
        plot.getAxis("left").setWidth(AXIS_WIDTH)
        plot.getAxis("bottom").setHeight(AXIS_HEIGHT)
        if legend:
            plot.addLegend(offset=(-5, 5))
        plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plots[key] = plot
        return plot

    def _show_metrics(self, curves: RunCurves) -> None:
        """Plots and curves for the metrics `curves` has (a group's plot appears with its first metric)."""
        for group, members in metrics.plot_groups().items():
            shown = [m for m in members if curves.shown(m.name)]
            if not shown:
                continue
            if group not in self.plots:
                slot = GROUP_SLOTS[min(sum(k not in FIXED_SLOTS for k in self.plots), len(GROUP_SLOTS) - 1)]
                self._add_plot(group, "", *slot, legend=True)
                if members[0] is metrics.HEADLINE:
                    self.plots[group].addItem(self.eval_points)
            plot = self.plots[group]
            for m in shown:
                if m.name not in self.items:
                    self.items[m.name] = plot.plot(pen=pg.mkPen(metric_color(m.name), width=2), name=m.label)
            labels = [m.label for m in members if m.name in self.items]
            plot.setTitle("Validation " + " / ".join(labels))

    # -- data --------------------------------------------------------------------------------------
    def add_event(self, event: Event) -> None:
        """An engine event, live or replayed; only steps and evaluations are plotted."""
        changed = self.curves.add(event)
        if isinstance(event, EvalReport) and any(n in metrics.METRICS and n not in self.items for n in event.scores):
            self._show_metrics(self.curves)  # a metric's first value: its curve (and perhaps its plot) appears
        self.dirty |= changed

    def replay(self, events: list[Event]) -> None:
        self.curves.clear()
        for e in events:
            self.curves.add(e)
        self._show_metrics(self.curves)
        self._redraw(force=True)
        for plot in self.plots.values():
            plot.enableAutoRange()

    def clear(self) -> None:
        if self.overlay is None and all(series.n == 0 for series in self.curves.series.values()):
            return  # already empty: repainting empty plots would only cost the UI a frame
        self.curves.clear()
        self.set_overlay(None)

    def set_overlay(self, events: list[Event] | None, name: str = "") -> None:
        """Show another run's curves dashed on the same plots (None removes them)."""
        self.overlay = None
        if events:
            self.overlay = RunCurves()
            for e in events:
                self.overlay.add(e)
            self.overlay_name = name
            self._show_metrics(self.overlay)
        self._redraw(force=True)

    # -- drawing -----------------------------------------------------------------------------------
    @property
    def by_time(self) -> bool:
        return self.x_axis.currentIndex() == 1

    def _plot_order(self) -> list[str]:
        groups = [k for k in self.plots if k not in FIXED_SLOTS]
        return ["loss", "lr", "tps", *groups, "ppl"]

    def _redraw(self, force: bool = False) -> None:
        """Draw changed plots, at most PLOTS_PER_FRAME per tick: new data rescales a plot's axes, and
        repainting all the plots in one frame holds the UI thread for 40-60 ms."""
        order = self._plot_order()
        todo = order if force else [key for key in order if key in self.dirty][:PLOTS_PER_FRAME]
        if not todo:
            return
        self.dirty -= set(todo)
        c, t = self.curves.series, self.by_time
        groups = metrics.plot_groups()
        for key in todo:
            if key == "loss":
                x, y = c["loss"].xy(t)
                self.items["loss_raw"].setData(x, y)
                self.items["loss_smooth"].setData(x, ema(y, self.smoothing.value() / 100) if len(y) else y)
                self.items["val_loss"].setData(*c["val_loss"].xy(t))
            elif key == "ppl":
                self.items["val_ppl"].setData(*c["val_ppl"].xy(t))
            elif key in groups:
                for m in groups[key]:
                    if m.name in self.items:
                        self.items[m.name].setData(*c[m.name].xy(t))
                if metrics.HEADLINE in groups[key]:
                    headline = c[metrics.HEADLINE.name]
                    bx, by = headline.xy(t)
                    self.eval_points.setData(x=bx, y=by, data=headline.data[: headline.n, 0].astype(int))
            else:  # "lr", "tps"
                self.items[key].setData(*c[key].xy(t))
        if force or (set(todo) - {"lr", "tps", "ppl"}):
            self._draw_best()
        if force:
            self._draw_overlay()

    def _best_target(self) -> str:
        name = self.curves.best_metric
        return "loss" if name not in metrics.METRICS else metrics.METRICS[name].plot

    def _draw_best(self) -> None:
        best = self.curves.best
        target = self._best_target()
        if self._best_plot is not None and (best is None or self._best_plot != target):
            self.plots[self._best_plot].removeItem(self.best_marker)
            self._best_plot = None
        if best is None or target not in self.plots:
            return
        if self._best_plot is None:
            self.plots[target].addItem(self.best_marker)
            self._best_plot = target
        x = best[1] if self.by_time else best[0]
        self.best_marker.setData([x], [best[2]], tip=lambda x, y, data: f"best: {y:.2f}")

    def _draw_overlay(self) -> None:
        for plot, item in self.overlay_items:
            self.plots[plot].removeItem(item)
        self.overlay_items = []
        if self.overlay is None:
            return
        o, t = self.overlay.series, self.by_time
        dash = Qt.PenStyle.DashLine
        curves = [("loss", "loss", COLORS["smooth"]), ("loss", "val_loss", COLORS["valid"]),
                  ("ppl", "val_ppl", COLORS["valid"])]
        curves += [(m.plot, m.name, metric_color(m.name)) for m in metrics.METRICS.values()
                   if self.overlay.shown(m.name)]
        curves += [("lr", "lr", COLORS["lr"]), ("tps", "tps", COLORS["tps"])]
        for plot, name, color in curves:
            x, y = o[name].xy(t)
            if name == "loss" and len(y):
                y = ema(y, self.smoothing.value() / 100)
            item = pg.PlotDataItem(x, y, pen=pg.mkPen(color, width=2, style=dash))
            self.plots[plot].addItem(item)
            self.overlay_items.append((plot, item))

    # -- interaction -------------------------------------------------------------------------------
    def _on_point_clicked(self, _item, points, *_args) -> None:
        if len(points):
            self.eval_point_clicked.emit(int(points[0].data()))

    def _on_mouse_moved(self, pos) -> None:
        groups = metrics.plot_groups()
        for key, plot in self.plots.items():
            if not plot.sceneBoundingRect().contains(pos):
                continue
            x = plot.vb.mapSceneToView(pos).x()
            if key in groups:
                names = [m.name for m in groups[key] if self.curves.series[m.name].n]
            else:
                names = [{"loss": "loss", "ppl": "val_ppl", "lr": "lr", "tps": "tps"}[key]]
            if not names:
                return
            series = self.curves.series[names[0]]
            xs, ys = series.xy(self.by_time)
            if not len(xs):
                return
            i = int(np.argmin(np.abs(xs - x)))
            label = {"loss": "loss", "val_ppl": "perplexity", "lr": "learning rate", "tps": "tokens/s"}.get(
                names[0]) or metrics.label(names[0])
            extra = "".join(f", {metrics.label(n)} {self.curves.series[n].data[i, 2]:.2f}" for n in names[1:]
                            if i < self.curves.series[n].n)
            self.hover.setText(f"step {int(series.data[i, 0])}: {label} {ys[i]:.4g}{extra}")
            return

