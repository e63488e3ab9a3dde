"""Live training curves (pyqtgraph): loss, perplexity, BLEU/chrF, learning rate and throughput.

Events only append to numpy buffers; a 10 Hz timer redraws what changed, so a fast trainer never
makes the UI redraw per step. The same code replays a finished run from its metrics.jsonl and can
overlay a second run (dashed) for comparison.
"""

from __future__ import annotations

from typing import Any

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

REDRAW_MS = 100
COLORS = {"train": (120, 160, 210), "smooth": (31, 90, 170), "valid": (214, 95, 20), "bleu": (44, 140, 60),
          "chrf": (150, 60, 160), "lr": (90, 90, 90), "tps": (30, 130, 150)}
PLOT_ORDER = ("loss", "lr", "tps", "bleu", "ppl")
CHANGED_BY = {"step": {"loss", "lr", "tps"}, "eval": {"loss", "ppl", "bleu"}}  # event -> plots it changes
PLOTS_PER_FRAME = 2
AXIS_WIDTH, AXIS_HEIGHT = 54, 32  # px: room for "12,345" and "0.0012" at the default font


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


NAMES = ("loss", "nll", "lr", "tps", "val_loss", "val_ppl", "bleu", "chrf")


class RunCurves:
    """All series of one run, filled from event dicts (live or replayed)."""

    def __init__(self) -> None:
        self.series = {name: Series() for name in NAMES}
        self.best: tuple[int, float, float] | None = None  # step, minutes, metric value (for the marker)
        self.best_metric = "bleu"

    def add(self, e: dict[str, Any]) -> bool:
        kind, step, minutes = e.get("event"), e.get("step", 0), e.get("elapsed", 0.0) / 60
        s = self.series
        if kind == "step":
            s["loss"].append(step, minutes, e["loss"])
            s["nll"].append(step, minutes, e["nll"])
            s["lr"].append(step, minutes, e["lr"])
            s["tps"].append(step, minutes, e["tokens_per_sec"])
        elif kind == "eval":
            s["val_loss"].append(step, minutes, e["loss"])
            s["val_ppl"].append(step, minutes, e["ppl"])
            s["bleu"].append(step, minutes, e["bleu"])
            s["chrf"].append(step, minutes, e["chrf"])
            if e.get("is_best"):
                metric = e.get("metric", "bleu")
                self.best_metric = metric
                self.best = (step, minutes, e["loss"] if metric == "loss" else e[metric])
        else:
            return False
        return True

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
        self.plots: dict[str, pg.PlotItem] = {}
        for row, col, key, title in ((0, 0, "loss", "Loss (per target token)"), (0, 1, "ppl", "Validation perplexity"),
                                     (0, 2, "bleu", "Validation BLEU / chrF"), (1, 0, "lr", "Learning rate"),
                                     (1, 1, "tps", "Throughput (target tokens/s)")):
            plot = self.view.addPlot(row=row, col=col, title=title)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setMenuEnabled(False)
            # Fixed axis sizes: otherwise every new tick label ("0.8" -> "0.75") resizes an axis, the
            # grid lays itself out again and all five plots repaint (40-80 ms) instead of one.
            plot.getAxis("left").setWidth(AXIS_WIDTH)
            plot.getAxis("bottom").setHeight(AXIS_HEIGHT)
            if key in ("loss", "bleu"):
                plot.addLegend(offset=(-5, 5))
            self.plots[key] = plot
        self.items = {
            "loss_raw": self.plots["loss"].plot(pen=pg.mkPen(COLORS["train"], width=1), name="train"),
            "loss_smooth": self.plots["loss"].plot(pen=pg.mkPen(COLORS["smooth"], width=2), name="train (smoothed)"),
            "val_loss": self.plots["loss"].plot(pen=pg.mkPen(COLORS["valid"], width=2), symbol="o", symbolSize=5,
                                                symbolBrush=COLORS["valid"], name="validation"),
            "val_ppl": self.plots["ppl"].plot(pen=pg.mkPen(COLORS["valid"], width=2), symbol="o", symbolSize=5,
                                              symbolBrush=COLORS["valid"]),
            "bleu": self.plots["bleu"].plot(pen=pg.mkPen(COLORS["bleu"], width=2), name="BLEU"),
            "chrf": self.plots["bleu"].plot(pen=pg.mkPen(COLORS["chrf"], width=2), name="chrF"),
            "lr": self.plots["lr"].plot(pen=pg.mkPen(COLORS["lr"], width=2)),
            "tps": self.plots["tps"].plot(pen=pg.mkPen(COLORS["tps"], width=1)),
        }
        self.bleu_points = pg.ScatterPlotItem(size=9, brush=pg.mkBrush(COLORS["bleu"]), hoverable=True,
                                              tip=lambda x, y, data: f"step {data}: BLEU {y:.2f} (click to open)")
        self.bleu_points.sigClicked.connect(self._on_point_clicked)
        self.plots["bleu"].addItem(self.bleu_points)
        self.best_marker = pg.ScatterPlotItem(size=18, symbol="star", brush=pg.mkBrush(255, 200, 0),
                                              pen=pg.mkPen(120, 80, 0))
        self.best_marker.setZValue(20)
        self.overlay_items: list[tuple[str, pg.PlotDataItem]] = []
        self._best_plot: str | None = None
        for plot in self.plots.values():
            plot.scene().sigMouseMoved.connect(self._on_mouse_moved)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.view, 1)
        self.timer = QTimer(self, interval=REDRAW_MS)
        self.timer.timeout.connect(self._redraw)
        self.timer.start()

    # -- data --------------------------------------------------------------------------------------
    def add_event(self, event: Any) -> None:
        """An engine event (live) or its JSON dict (replayed); only steps and evaluations are plotted."""
        e = event if isinstance(event, dict) else event.to_json()
        if self.curves.add(e):
            self.dirty |= CHANGED_BY[e["event"]]

    def replay(self, events: list[dict]) -> None:
        self.curves.clear()
        for e in events:
            self.curves.add(e)
        self._redraw(force=True)
        for plot in self.plots.values():
            plot.enableAutoRange()

    def clear(self) -> None:
        if self.overlay is None and all(series.n == 0 for series in self.curves.series.values()):
            return  # already empty: repainting five empty plots would only cost the UI a frame
        self.curves.clear()
        self.set_overlay(None)

    def set_overlay(self, events: list[dict] | None, name: str = "") -> None:
        """Show another run's curves dashed on the same plots (None removes them)."""
        self.overlay = None
        if events:
            self.overlay = RunCurves()
            for e in events:
                self.overlay.add(e)
            self.overlay_name = name
        self._redraw(force=True)

    # -- drawing -----------------------------------------------------------------------------------
    @property
    def by_time(self) -> bool:
        return self.x_axis.currentIndex() == 1

    def _redraw(self, force: bool = False) -> None:
        """Draw changed plots, at most PLOTS_PER_FRAME per tick: new data rescales a plot's axes, and
        repainting all five plots in one frame holds the UI thread for 40-60 ms."""
        if force:
            todo = list(PLOT_ORDER)
        else:
            todo = [key for key in PLOT_ORDER if key in self.dirty][:PLOTS_PER_FRAME]
        if not todo:
            return
        self.dirty -= set(todo)
        c, t = self.curves.series, self.by_time
        for key in todo:
            if key == "loss":
                x, y = c["loss"].xy(t)
                self.items["loss_raw"].setData(x, y)
                self.items["loss_smooth"].setData(x, ema(y, self.smoothing.value() / 100) if len(y) else y)
                self.items["val_loss"].setData(*c["val_loss"].xy(t))
            elif key == "ppl":
                self.items["val_ppl"].setData(*c["val_ppl"].xy(t))
            elif key == "bleu":
                self.items["bleu"].setData(*c["bleu"].xy(t))
                self.items["chrf"].setData(*c["chrf"].xy(t))
                steps = c["bleu"].data[: c["bleu"].n, 0].astype(int)
                bx, by = c["bleu"].xy(t)
                self.bleu_points.setData(x=bx, y=by, data=steps)
            else:  # "lr", "tps"
                self.items[key].setData(*c[key].xy(t))
        if force or {"loss", "bleu"} & set(todo):
            self._draw_best()
        if force:
            self._draw_overlay()

    def _draw_best(self) -> None:
        best = self.curves.best
        target = "loss" if self.curves.best_metric == "loss" else "bleu"
        if self._best_plot is not None and (best is None or self._best_plot != target):
            self.plots[self._best_plot].removeItem(self.best_marker)
            self._best_plot = None
        if best is None:
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
        for plot, name, color in (("loss", "loss", "smooth"), ("loss", "val_loss", "valid"), ("ppl", "val_ppl", "valid"),
                                  ("bleu", "bleu", "bleu"), ("bleu", "chrf", "chrf"), ("lr", "lr", "lr"),
                                  ("tps", "tps", "tps")):
            x, y = o[name].xy(t)
            if name == "loss" and len(y):
                y = ema(y, self.smoothing.value() / 100)
            item = pg.PlotDataItem(x, y, pen=pg.mkPen(COLORS[color], width=2, style=dash))
            self.plots[plot].addItem(item)
            self.overlay_items.append((plot, item))

    # -- interaction -------------------------------------------------------------------------------
    def _on_point_clicked(self, _item, points, *_args) -> None:
        if len(points):
            self.eval_point_clicked.emit(int(points[0].data()))

    def _on_mouse_moved(self, pos) -> None:
        for key, plot in self.plots.items():
            if not plot.sceneBoundingRect().contains(pos):
                continue
            x = plot.vb.mapSceneToView(pos).x()
            name = {"loss": "loss", "ppl": "val_ppl", "bleu": "bleu", "lr": "lr", "tps": "tps"}[key]
            xs, ys = self.curves.series[name].xy(self.by_time)
            if not len(xs):
                return
            i = int(np.argmin(np.abs(xs - x)))
            steps = self.curves.series[name].data[: self.curves.series[name].n, 0]
            label = {"loss": "loss", "val_ppl": "perplexity", "bleu": "BLEU", "lr": "learning rate", "tps": "tokens/s"}[name]
            extra = ""
            if name == "bleu":
                extra = f", chrF {self.curves.series['chrf'].data[i, 2]:.2f}"
            self.hover.setText(f"step {int(steps[i])}: {label} {ys[i]:.4g}{extra}")
            return
