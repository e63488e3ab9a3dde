"""Live training curves (pyqtgraph): loss, perplexity, the validation metrics, learning rate and
throughput.

Events only append to numpy buffers; a 10 Hz timer redraws what changed, so a fast trainer never
makes the UI redraw per step. The same code replays a finished run from its metrics.jsonl and can
overlay a second run (dashed, named in the legend line above the plots) for comparison. The titles are
the legends of the curves (each name in its curve's colour): a legend box inside a plot 80 px tall
would cover the curves. The metric plots come from the
metric registry (engine/metrics.py): one plot per plot group, shown from the start for groups with a
metric computed at every validation, added when the first value arrives for the others.

Every plotted quantity is non-negative, so no axis goes below zero; a plot with one point gets a range
around it (not pyqtgraph's unit box around the value); loss, perplexity and learning rate can be drawn
on a log scale.
"""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from s2s_desktop.engine import metrics
from s2s_desktop.engine.api import EvalReport, Event
from s2s_desktop.gui.run_curves import RunCurves, ema

__all__ = ["RunCurves", "TrainingPlots", "ema", "metric_color"]

REDRAW_MS = 100
COLORS = {"train": (120, 160, 210), "smooth": (31, 90, 170), "valid": (214, 95, 20), "lr": (90, 90, 90),
          "tps": (30, 130, 150)}
# Metric colours by registry position (BLEU green, chrF purple, ...).
METRIC_COLORS = ((44, 140, 60), (150, 60, 160), (200, 120, 0), (20, 110, 200), (160, 40, 40), (90, 90, 20))
PLOTS_PER_FRAME = 2
AXIS_WIDTH, AXIS_HEIGHT = 50, 22  # px: room for "12,345" and "0.0012" at the tick font
TICK_POINTS = 8
TITLE_SIZE = "9pt"
MIN_PLOT_HEIGHT = 120  # px per row of plots: below this the axes' labels overlap
LOG_PLOTS = {"loss": "loss", "ppl": "perplexity", "lr": "LR"}  # plots with a log-scale toggle
PLOT_SERIES = {"loss": ("loss", "val_loss"), "ppl": ("val_ppl",), "lr": ("lr",), "tps": ("tps",)}
FIXED_SLOTS = {"loss": (0, 0), "ppl": (0, 1), "lr": (1, 0), "tps": (1, 1)}
GROUP_SLOTS = ((0, 2), (1, 2), (2, 0), (2, 1), (2, 2))  # metric plot groups, in the order they appear


def _coloured(text: str, color: tuple[int, int, int]) -> str:
    return f'<span style="color: rgb{tuple(color)}">{html.escape(text)}</span>'


def _elastic_title(plot: pg.PlotItem) -> None:
    """Let a plot's title be narrower than its text: pyqtgraph makes a title's text width the plot's
    minimum width, so a long title widened its column beyond the window and cut the last one off."""
    label = plot.titleLabel

    def update_min() -> None:
        height = label.itemRect().height()
        label.setMinimumWidth(0)
        label.setMinimumHeight(height)
        label._sizeHint = {hint: (0, height) for hint in (Qt.SizeHint.MinimumSize, Qt.SizeHint.PreferredSize)}
        label._sizeHint[Qt.SizeHint.MaximumSize] = (-1, -1)
        label._sizeHint[Qt.SizeHint.MinimumDescent] = (0, 0)
        label.updateGeometry()

    label.updateMin = update_min


def metric_color(name: str) -> tuple[int, int, int]:
    names = list(metrics.METRICS)
    return METRIC_COLORS[names.index(name) % len(METRIC_COLORS)] if name in names else (120, 120, 120)


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
        self.log_scale: dict[str, QCheckBox] = {}
        self.hover = QLabel(" ")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("X axis"))
        controls.addWidget(self.x_axis)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Smoothing"))
        controls.addWidget(self.smoothing)
        controls.addSpacing(12)
        controls.addWidget(QLabel("Log scale:"))
        for key, label in LOG_PLOTS.items():
            box = QCheckBox(label, toolTip=f"Draw the {label} plot on a logarithmic scale")
            box.toggled.connect(lambda on, k=key: self.set_log_scale(k, on))
            self.log_scale[key] = box
            controls.addWidget(box)
        controls.addStretch(1)
        self.run_name = ""  # the run drawn solid, named in the legend once another is overlaid
        self.overlay_name = ""
        self.legend = QLabel(visible=False, toolTip="Solid: the run shown; dashed: the run overlaid from History")
        below = QHBoxLayout()
        below.addWidget(self.legend)
        below.addStretch(1)
        below.addWidget(self.hover)
        self._fitted: set[str] = set()  # plots whose range was set here (too few points to auto-range)

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.view.setMinimumHeight(2 * MIN_PLOT_HEIGHT)
        self.view.ci.layout.setContentsMargins(2, 2, 2, 2)
        self.view.ci.layout.setSpacing(4)
        self.plots: dict[str, pg.PlotItem] = {}  # "loss", "ppl", "lr", "tps" and one per metric plot group
        self.items: dict[str, pg.PlotDataItem] = {}  # curves by series name ("loss_raw", "loss_smooth", ...)
        loss_title = "Loss: " + ", ".join(_coloured(name, COLORS[c]) for name, c in (
            ("train", "train"), ("smoothed", "smooth"), ("validation", "valid")))
        for key, title in (("loss", loss_title), ("ppl", "Validation perplexity"),
                           ("lr", "Learning rate"), ("tps", "Target tokens/s")):
            self._add_plot(key, title, *FIXED_SLOTS[key])
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
        self.best_marker.sigClicked.connect(self._on_best_clicked)  # it lies over the best point
        self.overlay_items: list[tuple[str, pg.PlotDataItem]] = []
        self._best_plot: str | None = None
        self._show_metrics(self.curves)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addLayout(below)
        layout.addWidget(self.view, 1)
        self.timer = QTimer(self, interval=REDRAW_MS)
        self.timer.timeout.connect(self._redraw)
        self.timer.start()

    def _add_plot(self, key: str, title: str, row: int, col: int) -> pg.PlotItem:
        plot = self.view.addPlot(row=row, col=col)
        _elastic_title(plot)
        plot.setTitle(title, size=TITLE_SIZE)
        plot.showGrid(x=True, y=True, alpha=0.2)
        plot.setMenuEnabled(False)
        plot.setMinimumHeight(MIN_PLOT_HEIGHT)
        plot.vb.setLimits(yMin=0)  # every quantity plotted here is >= 0: no axis below zero
        # Fixed axis sizes: otherwise every new tick label ("0.8" -> "0.75") resizes an axis, the
        # grid lays itself out again and all the plots repaint (40-80 ms) instead of one.
        plot.getAxis("left").setWidth(AXIS_WIDTH)
        plot.getAxis("bottom").setHeight(AXIS_HEIGHT)
        font = QFont(self.font())
        font.setPointSize(TICK_POINTS)
        for axis in ("left", "bottom"):
            plot.getAxis(axis).setStyle(tickFont=font)
            # Painted from a pixmap until the axis changes: replaying its ticks and labels each time the
            # Train tab is shown cost 15 ms of the UI thread.
            plot.getAxis(axis).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
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
                self._add_plot(group, "", *slot)
                if members[0] is metrics.HEADLINE:
                    self.plots[group].addItem(self.eval_points)
            plot = self.plots[group]
            for m in shown:
                if m.name not in self.items:
                    self.items[m.name] = plot.plot(pen=pg.mkPen(metric_color(m.name), width=2), name=m.label)
            labels = [_coloured(m.label, metric_color(m.name)) for m in members if m.name in self.items]
            plot.setTitle("Validation " + " / ".join(labels), size=TITLE_SIZE)

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

    def set_log_scale(self, key: str, on: bool) -> None:
        """Draw plot `key` ("loss", "ppl" or "lr") with a log y axis (its curves and range follow)."""
        if self.log_scale[key].isChecked() != on:
            self.log_scale[key].setChecked(on)  # toggled calls back here
            return
        plot = self.plots[key]
        plot.setLogMode(y=on)
        plot.vb.setLimits(yMin=-300.0 if on else 0.0)  # in log mode the view's y is log10(value): no floor
        self._fitted.discard(key)
        plot.enableAutoRange()
        self._fit(key)

    def set_overlay(self, events: list[Event] | None, name: str = "") -> None:
        """Show another run's curves dashed on the same plots (None removes them)."""
        self.overlay = None
        self.overlay_name = name if events else ""
        if events:
            self.overlay = RunCurves()
            for e in events:
                self.overlay.add(e)
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
        for key in todo:
            self._fit(key)

    def _series_of(self, key: str) -> tuple[str, ...]:
        groups = metrics.plot_groups()
        return tuple(m.name for m in groups[key]) if key in groups else PLOT_SERIES[key]

    def _fit(self, key: str) -> None:
        """A plot with points at fewer than two x values gets a range around them: from zero to a bit
        beyond the point. From two values on, pyqtgraph's auto-range takes over again."""
        plot, t = self.plots[key], self.by_time
        runs = [self.curves] + ([self.overlay] if self.overlay is not None else [])
        pairs = [r.series[name].xy(t) for r in runs for name in self._series_of(key)]
        xs = np.concatenate([x for x, _ in pairs]) if pairs else np.zeros(0)
        ys = np.concatenate([y for _, y in pairs]) if pairs else np.zeros(0)
        if len(np.unique(xs)) >= 2 or not len(xs):
            if key in self._fitted:
                self._fitted.discard(key)
                plot.enableAutoRange()
            return
        x, top = float(xs.max()), float(ys.max())
        plot.setXRange(0, x * 1.5 if x > 0 else 1, padding=0)
        if self.log_scale.get(key) is not None and self.log_scale[key].isChecked():
            positive = ys[ys > 0]
            low, high = (np.log10(positive.min()), np.log10(positive.max())) if len(positive) else (0, 0)
            plot.setYRange(low - 0.5, high + 0.5, padding=0)
        else:
            plot.setYRange(0, top * 1.25 if top > 0 else 1, padding=0)
        self._fitted.add(key)

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
        """The overlaid run's curves, dashed in the colours of the run shown; the legend line names both."""
        for plot, item in self.overlay_items:
            self.plots[plot].removeItem(item)
        self.overlay_items = []
        self.legend.setVisible(self.overlay is not None)
        if self.overlay is None:
            return
        self.legend.setText(f"━━ {html.escape(self.run_name or 'this run')}  ╍╍ {html.escape(self.overlay_name)} "
                            "(dashed)")
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

    def _on_best_clicked(self, _item, points, *_args) -> None:
        if len(points) and self.curves.best is not None:
            self.eval_point_clicked.emit(int(self.curves.best[0]))

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

