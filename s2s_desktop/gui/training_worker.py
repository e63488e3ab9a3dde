"""Training from the app: a QObject on its own thread that starts the engine's trainer in a child
process and forwards every event (a dict, as in metrics.jsonl) as a signal. Pause and stop are
`threading.Event`s that the GUI thread sets directly (a queued "stop" slot would wait behind the
running loop); this thread passes them on to the child.
"""

from __future__ import annotations

import logging
import statistics
import threading
import traceback
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from s2s_desktop.errors import S2SError

log = logging.getLogger(__name__)


class TrainingWorker(QObject):
    corpus_checked = Signal(object)  # dict of counts
    event = Signal(object)  # an event dict, as in metrics.jsonl (started, step, eval, samples, ...)
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
            from s2s_desktop.engine.data.dataset import read_corpora

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
        """Train in a child process (see engine/training/child.py for why) and relay its events.
        This thread only forwards the GUI's pause and stop and parses one small JSON line per event."""
        self.stop.clear()
        self.pause.clear()
        proc = None
        try:
            from s2s_desktop.engine.training.loop.child import ERROR, TrainingProcess

            proc = TrainingProcess(model_cfg, train_cfg, resume)
            while True:
                proc.control(pause=self.pause.is_set(), stop=self.stop.is_set())
                event = proc.next_event(timeout=0.1)
                if event is None:
                    break
                if event is False:
                    continue
                if event["event"] == ERROR:
                    if event.get("traceback"):
                        log.error("training failed:\n%s", event["traceback"])
                    self.failed.emit(event["action"], event["message"])
                else:
                    self.event.emit(event)
        except Exception as exc:  # noqa: BLE001 - e.g. the process could not be started
            log.error("training failed:\n%s", traceback.format_exc())
            self.failed.emit("training", f"{type(exc).__name__}: {exc}")
        finally:
            if proc is not None and not proc.join(timeout=30):
                proc.kill()
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
