"""Run `training.train` in a child process and stream its events back as JSON lines.

The app trains in a child process rather than on a thread: data preparation (reading the corpus,
SentencePiece training, encoding), garbage collection over millions of token lists and saving
checkpoints all hold the GIL for 50-150 ms at a time, and a thread doing them freezes the window. A
process shares no GIL with the UI, so the window stays responsive whatever the run is doing.

Protocol (text, never pickle): the parent writes one JSON line with the configs, then control lines
("pause", "resume", "stop", and "stop now": stop without the last validation) on the child's stdin;
the child writes one JSON event per line on its stdout, exactly the lines of the run's metrics.jsonl,
so a live run and a replayed one give the GUI the same dicts. If the parent goes away
(stdin closes), the child stops as if told to, saving a model.

With `--check` the child is short-lived and only checks a corpus ("Check corpus" in the app, which
reads the whole corpus and loads SentencePiece: the same GIL problem): one JSON line with the train
config in, one JSON line out, `{"event": "corpus_checked", "counts": {...}, "pid": ...}` or an ERROR
pseudo-event, then it exits.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from typing import IO, Any

from s2s_desktop.errors import S2SError

ERROR = "process_error"  # a pseudo-event: the run could not start or crashed (never in metrics.jsonl)
CORPUS_CHECKED = "corpus_checked"  # the reply of a --check child
CHILD_FLAG = "--s2s-training-child"  # how a frozen (PyInstaller) app is asked to be the child
CHECK_FLAG = "--check"  # after CHILD_FLAG or the module: check a corpus instead of training
STOP_NOW = "stop now"  # the control line that skips the last validation


def child_command(check: bool = False) -> list[str]:
    """The command line of the child: this module, or the frozen bundle itself (see app.main)."""
    flags = [CHECK_FLAG] if check else []
    if getattr(sys, "frozen", False):  # the bundle's executable dispatches on the flag (see app.main)
        return [sys.executable, CHILD_FLAG, *flags]
    return [sys.executable, "-m", "s2s_desktop.engine.training.child", *flags]


def child_env() -> dict[str, str]:
    """The child's environment: unbuffered UTF-8 output, and never mistaken for a torchrun worker."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8")
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        env.pop(var, None)
    return env


class TrainingProcess:
    """One run in a child process, seen from the parent."""

    def __init__(self, model_cfg: dict[str, Any], train_cfg: dict[str, Any], resume: bool, nice: int = 10,
                 idle: bool = False) -> None:
        """`nice` lowers the child's priority; `idle` (Linux) runs it only on CPU time nothing else wants
        (the app's training: the window and its translations come first)."""
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the child
        self._proc = subprocess.Popen(child_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._stderr, env=child_env())
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(self._proc.stdout,), daemon=True,
                                        name="s2s-training-reader")
        self._reader.start()
        self._state: tuple[bool, bool] = (False, False)
        self._hurried = False
        self._reported = False  # a crash is reported once, then next_event says None
        self._send(json.dumps({"model": model_cfg, "train": train_cfg, "resume": resume, "nice": nice,
                               "idle": idle}))

    def _send(self, line: str) -> None:
        try:
            self._proc.stdin.write((line + "\n").encode("utf-8"))
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the child has ended; next_event reports how

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            try:
                self._events.put(json.loads(raw))
            except ValueError:
                continue  # not an event (the protocol owns stdout, but a native library may print)
        self._events.put(None)

    def control(self, pause: bool, stop: bool, now: bool = False) -> None:
        """Pass the GUI's pause/stop state on (only changes are sent); `now`: stop without validating."""
        if now and not self._hurried:
            self._hurried = True
            self._send(STOP_NOW)
            self._state = (False, True)
            return
        if (pause, stop) == self._state:
            return
        if stop and not self._state[1]:
            self._send("stop")
        elif pause != self._state[0]:
            self._send("pause" if pause else "resume")
        self._state = (pause, stop)

    def next_event(self, timeout: float = 0.1) -> dict[str, Any] | None | bool:
        """An event dict; False when nothing arrived within `timeout`; None once the child has ended
        (after an ERROR event when it died without saying why)."""
        try:
            event = self._events.get(timeout=timeout)
        except queue.Empty:
            return False
        if event is not None:
            return event
        code = self._proc.wait()
        if code != 0 and not self._reported:
            self._reported = True
            self._events.put(None)
            return {"event": ERROR, "action": "training",
                    "message": f"the training process ended unexpectedly (exit status {code}){self._last_error()}"}
        self._stderr.close()  # the child is gone: nothing more to read from its stderr
        return None

    def _last_error(self) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read()[-4000:].decode("utf-8", errors="replace").strip().splitlines()
        return f": {lines[-1]}" if lines else ""

    def join(self, timeout: float | None = None) -> bool:
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        self._proc.kill()
        self._proc.wait()


def lower_priority(nice: int, idle: bool) -> None:
    """Called first thing in the child, before torch starts its threads (they inherit it). With `idle`, the
    child runs as SCHED_IDLE: a waking UI or engine thread preempts it at once. Nice alone (weight 110
    against 1024) still left the UI thread waiting 13-28 ms for a core in the soak's longest gaps."""
    if nice:
        try:
            os.nice(nice)
        except (AttributeError, OSError):
            pass
    if idle and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except OSError:
            pass  # not allowed here: nice only


def child_main(argv: list[str] | None = None) -> int:
    """The child: read the configs, train, write events; control lines arrive on stdin meanwhile.
    With --check in `argv` (default: the command line), check a corpus instead (`check_main`)."""
    events_out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints (ours or native) go to stderr
    first = sys.stdin.readline()
    if not first:
        return 0
    if CHECK_FLAG in (sys.argv[1:] if argv is None else argv):
        return check_main(first, events_out)
    job = json.loads(first)
    lower_priority(job.get("nice") or 0, bool(job.get("idle")))
    stop, pause, hurry = threading.Event(), threading.Event(), threading.Event()
    threading.Thread(target=_follow_controls, args=(stop, pause, hurry), daemon=True).start()

    def send(event: dict[str, Any]) -> None:
        events_out.write(json.dumps(event, ensure_ascii=False) + "\n")
        events_out.flush()

    try:
        from s2s_desktop.engine.api import ModelConfig, TrainConfig
        from s2s_desktop.engine.training.loop import train

        for ev in train(ModelConfig(**job["model"]), TrainConfig(**job["train"]), stop, pause, job["resume"], hurry):
            send(ev.to_json())
    except S2SError as exc:
        send({"event": ERROR, "action": "starting the run", "message": str(exc)})
    except Exception as exc:  # noqa: BLE001 - reported to the app as an event
        import traceback

        send({"event": ERROR, "action": "training", "message": f"{type(exc).__name__}: {exc}",
              "traceback": traceback.format_exc()})
    return 0


def check_main(job_line: str, out: IO[str]) -> int:
    """The --check child: one train config (a JSON object) in, one reply line out."""
    action = "checking the corpus"
    try:
        from s2s_desktop.engine.api import TrainConfig
        from s2s_desktop.engine.data.corpus_check import corpus_counts

        reply = {"event": CORPUS_CHECKED, "counts": corpus_counts(TrainConfig.from_dict(json.loads(job_line))).to_dict(),
                 "pid": os.getpid()}
    except S2SError as exc:
        reply = {"event": ERROR, "action": action, "message": str(exc), "pid": os.getpid()}
    except Exception as exc:  # noqa: BLE001 - reported to the app as an event
        import traceback

        reply = {"event": ERROR, "action": action, "message": f"{type(exc).__name__}: {exc}",
                 "traceback": traceback.format_exc(), "pid": os.getpid()}
    out.write(json.dumps(reply, ensure_ascii=False) + "\n")
    out.flush()
    return 0


def _follow_controls(stop: threading.Event, pause: threading.Event, hurry: threading.Event) -> None:
    for line in sys.stdin:
        command = line.strip()
        if command == STOP_NOW:
            hurry.set()  # before `stop`: the trainer that sees the stop already knows to hurry
            pause.clear()
            stop.set()
        elif command == "stop":
            pause.clear()
            stop.set()
        elif command == "pause":
            pause.set()
        elif command == "resume":
            pause.clear()
    pause.clear()  # stdin closed: the app is gone; finish the step, save and end
    stop.set()


if __name__ == "__main__":
    raise SystemExit(child_main())
