"""Training on its own thread: a QObject whose slots run the engine's trainer (a generator of events)
and forward every event as a signal. Pause and stop are `threading.Event`s that the GUI thread sets
directly (a queued "stop" slot would wait behind the running loop). torch is imported on this thread.
"""

from __future__ import annotations

import gc
import logging
import os
import statistics
import threading
import traceback
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from s2s_desktop.errors import S2SError

log = logging.getLogger(__name__)


def lower_thread_priority(nice: int = 10) -> None:
    """Make the calling thread (and the compute threads it starts: torch's OpenMP team, SentencePiece's
    trainer) yield the CPU to the UI thread. Training uses every core; without this the window waits
    60-100 ms for a core now and then. When the UI is idle the run is as fast as from the CLI."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError):  # not available on this platform: run at normal priority
        pass


class TrainingWorker(QObject):
    corpus_checked = Signal(object)  # dict of counts
    event = Signal(object)  # an engine Event (RunStarted, StepReport, EvalReport, ...)
    done = Signal()  # the run ended (after its Finished or Failed event)
    failed = Signal(str, str)  # what was being done, message

    def __init__(self) -> None:
        super().__init__()
        self.stop = threading.Event()
        self.pause = threading.Event()

    @Slot(object)
    def check_corpus(self, train_cfg: dict) -> None:
        """Read the corpora as training would and count what is there (names file and line on errors)."""
        try:
            from s2s_desktop.engine.api import TrainConfig
            from s2s_desktop.engine.dataset import read_corpora

            cfg = TrainConfig(**train_cfg)
            train, valid = read_corpora(cfg)
            src_len = [len(s.split()) for s in train.sources]
            tgt_len = [len(t.split()) for t in train.targets]
            too_long = sum(1 for a, b in zip(src_len, tgt_len) if max(a, b) > cfg.max_len)
            bad_ratio = sum(1 for a, b in zip(src_len, tgt_len) if max(a, b) > cfg.max_ratio * max(min(a, b), 1))
            self.corpus_checked.emit({
                "train_pairs": len(train), "train_origin": train.origin, "skipped_empty": train.skipped_empty,
                "valid_pairs": len(valid), "valid_origin": valid.origin,
                "too_long_words": too_long, "bad_ratio_words": bad_ratio,
                "mean_src_words": statistics.fmean(src_len) if src_len else 0.0,
                "mean_tgt_words": statistics.fmean(tgt_len) if tgt_len else 0.0,
            })
        except S2SError as exc:
            self.failed.emit("checking the corpus", str(exc))
        except Exception as exc:  # noqa: BLE001 - reported, never raised into Qt
            log.error("corpus check failed:\n%s", traceback.format_exc())
            self.failed.emit("checking the corpus", f"{type(exc).__name__}: {exc}")

    @Slot(object, object, bool)
    def run(self, model_cfg: dict, train_cfg: dict, resume: bool) -> None:
        self.stop.clear()
        self.pause.clear()
        # Preparing the data creates millions of small objects (token lists). Full garbage collections
        # over them hold the GIL for 100-170 ms each and freeze the window, though none of them is
        # garbage: collection is off until the data is ready, then they are frozen out of later scans.
        gc.disable()
        lower_thread_priority()
        try:
            from s2s_desktop.engine.api import ModelConfig, TrainConfig
            from s2s_desktop.engine.training import train

            for ev in train(ModelConfig(**model_cfg), TrainConfig(**train_cfg), self.stop, self.pause, resume):
                if not gc.isenabled():
                    gc.freeze()
                    gc.enable()
                self.event.emit(ev)
        except S2SError as exc:
            self.failed.emit("starting the run", str(exc))
        except Exception as exc:  # noqa: BLE001
            log.error("training failed:\n%s", traceback.format_exc())
            self.failed.emit("training", f"{type(exc).__name__}: {exc}")
        finally:
            gc.enable()
            self.done.emit()


class TrainingClient(QObject):
    """The GUI thread's handle: owns the thread, starts runs and corpus checks, pauses and stops."""

    corpus_checked = Signal(object)
    event = Signal(object)
    done = Signal()
    failed = Signal(str, str)
    _check = Signal(object)
    _run = Signal(object, object, bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.running = False
        self._thread = QThread()
        self._thread.setObjectName("s2s-training")
        self.worker = TrainingWorker()
        self.worker.moveToThread(self._thread)
        self._check.connect(self.worker.check_corpus)
        self._run.connect(self.worker.run)
        self.worker.corpus_checked.connect(self.corpus_checked)
        self.worker.event.connect(self.event)
        self.worker.failed.connect(self.failed)
        self.worker.done.connect(self._on_done)

    def _ensure_thread(self) -> None:
        """The thread starts with the first request, so a window that never trains owns no thread."""
        if not self._thread.isRunning():
            self._thread.start()

    def check_corpus(self, train_cfg: dict[str, Any]) -> None:
        self._ensure_thread()
        self._check.emit(dict(train_cfg))

    def start(self, model_cfg: dict[str, Any], train_cfg: dict[str, Any], resume: bool = False) -> None:
        self._ensure_thread()
        self.running = True
        self._run.emit(dict(model_cfg), dict(train_cfg), resume)

    def set_paused(self, paused: bool) -> None:
        (self.worker.pause.set if paused else self.worker.pause.clear)()

    @property
    def paused(self) -> bool:
        return self.worker.pause.is_set()

    def stop(self) -> None:
        """Finish the current step, save a model, end the run (asynchronous: wait for `done`)."""
        self.worker.pause.clear()
        self.worker.stop.set()

    def shutdown(self, timeout_ms: int = 120_000) -> bool:
        self.stop()
        self._thread.quit()
        ended = self._thread.wait(timeout_ms)
        if ended:
            self.running = False  # the queued `done` will never be delivered after this
        return ended

    def _on_done(self) -> None:
        self.running = False
        self.done.emit()
