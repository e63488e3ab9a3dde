#!/usr/bin/env python3
"""Soak test of the real window (issue 20, item 3): a scripted user works in the app for a long while
and nothing may crash, fail, leak or stutter.

The script drives a real `MainWindow` with the torch engine and the built-in models, offscreen, the way
a user does: it types character by character with translate-as-you-type on (pausing longer than the
debounce between words), pastes a paragraph and presses Translate, translates a text file through
File › Translate a text file…, switches between the en→de and de→en built-ins with ⇄ (and opens the
model it trained with "Use this model"), clicks tokens, layers and heads in the attention inspector,
looks at the self-attentions and the gradient attributions (and the what-if "Decode with it"), and,
every --train-every minutes, starts a short RNN run from the Train tab (a child process) while the
translate-tab work goes on; a scripted action is followed by `ACTION_GAP_MS` of event loop. Meanwhile it records:

- the app process's RSS every 10 s (and the training child's, separately);
- a 10 ms UI-thread heartbeat (`bench_ui_heartbeat.Heartbeat`), its gaps per activity and overall;
- every error: engine and training failures, error banners, Python exceptions (sys/threading
  excepthooks), WARNING+ log records, Qt warnings/criticals, and "stalled: ..." when an action does
  not finish within --stall-seconds.

Goals (printed as `goal_met`): no crash, no error, RSS growth after the warm-up (the first 2 minutes, or
10% of a shorter run) under 50 MB, heartbeat max under 50 ms (start-up excluded: the clock starts once
the first model has translated; the script's own screenshot is excluded too).

    python bench/soak_app.py --minutes 30 [--out soak.json] [--screenshot shot.png]
    python bench/soak_app.py --minutes 3          # every activity at least once, training included

Exit status 0 when the run completed (goals met or not: see the JSON), 1 when the script itself failed.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib.util
import json
import logging
import os
import random
import sys
import tempfile
import threading
import time
import traceback
from array import array
from collections import Counter, defaultdict
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_ui_heartbeat import Heartbeat  # noqa: E402 - found through sys.path above

if importlib.util.find_spec("s2s_desktop") is None:  # a checkout without `pip install -e .`: for us and the child
    sys.path.insert(0, str(HERE.parent))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))

RSS_EVERY_MS = 10_000
GOAL_GROWTH_MIB = 50.0
GOAL_GAP_MS = 50.0
CHAR_MS, WORD_PAUSE_MS = 90, 400  # the debounce is 300 ms: a translation runs while the next word is typed
MAX_ERRORS_KEPT = 100
EXCLUDED_FROM_OVERALL = {"screenshot", "memory_probe"}  # the harness's own work on the UI thread
OFFSCREEN_LIMITS = "This plugin does not support"  # raise(), propagateSizeHints(): no window manager offscreen

EN = ["I would like to learn German because my grandmother lives in Berlin.", "Tom is reading a book in the garden.",
      "Where is the train station?", "We went to the beach last summer.", "Can you help me with my homework?",
      "The weather is nice today.", "She has two brothers and a sister.", "I don't know what to say.",
      "My father drinks coffee every morning.", "It is too late to go to the cinema.",
      "He forgot his umbrella at the office.", "Please close the window, it is cold."]
DE = ["Ich möchte Deutsch lernen, weil meine Großmutter in Berlin wohnt.", "Tom liest ein Buch im Garten.",
      "Wo ist der Bahnhof?", "Wir sind letzten Sommer an den Strand gefahren.", "Kannst du mir bei den Hausaufgaben helfen?",
      "Das Wetter ist heute schön.", "Sie hat zwei Brüder und eine Schwester.", "Ich weiß nicht, was ich sagen soll.",
      "Mein Vater trinkt jeden Morgen Kaffee.", "Es ist zu spät, um ins Kino zu gehen.",
      "Er hat seinen Regenschirm im Büro vergessen.", "Bitte mach das Fenster zu, es ist kalt."]
# A toy en→eo corpus for the training run: word-for-word, so a tiny RNN learns something in a minute.
WORDS = {"adj": {"big": "granda", "small": "malgranda", "red": "ruĝa", "old": "maljuna", "young": "juna",
                 "happy": "feliĉa", "black": "nigra", "green": "verda"},
         "noun": {"cat": "kato", "dog": "hundo", "man": "viro", "woman": "virino", "bird": "birdo", "child": "infano",
                  "horse": "ĉevalo", "teacher": "instruisto", "friend": "amiko", "farmer": "farmisto"},
         "verb": {"sees": "vidas", "likes": "ŝatas", "follows": "sekvas", "helps": "helpas", "finds": "trovas",
                  "calls": "vokas", "hears": "aŭdas", "knows": "konas"}}


# -- measurements ----------------------------------------------------------------------------------
def rss_mib(pid: int | str = "self") -> float | None:
    """VmRSS of a process from /proc, in MiB (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                     "fsmblks", "uordblks", "fordblks", "keepcost")]


class MemoryProbe:
    """Where RSS growth lives (--trace-memory, a diagnostic run: tracing slows the app, so its heartbeat
    does not count). From the warm-up on it traces Python allocations (tracemalloc) and samples glibc's
    heap every 10 s: bytes malloc hands out (Python objects, torch's CPU tensors, Qt) against bytes it
    holds free; at the end it lists the lines whose allocations since the warm-up are still alive and
    the object types whose counts grew. Growth in "malloc_free" with flat "in use" is the allocator
    keeping freed memory, not a leak."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.samples: list[list[float]] = []  # [s, malloc in use MiB, malloc free MiB, traced MiB]
        self.types_before: Counter[str] | None = None
        try:
            self.libc = ctypes.CDLL("libc.so.6")
            self.libc.mallinfo2.restype = MallInfo2
        except (OSError, AttributeError):
            self.libc = None

    @staticmethod
    def type_counts() -> Counter[str]:
        return Counter(type(o).__qualname__ for o in gc.get_objects())

    def start(self) -> None:
        import tracemalloc

        gc.collect()
        self.types_before = self.type_counts()
        tracemalloc.start(self.frames)

    @property
    def started(self) -> bool:
        return self.types_before is not None

    def sample(self, t: float) -> None:
        import tracemalloc

        mib = 1024 * 1024
        used = free = -1.0
        if self.libc is not None:
            info = self.libc.mallinfo2()
            used, free = (info.uordblks + info.hblkhd) / mib, info.fordblks / mib
        traced = tracemalloc.get_traced_memory()[0] / mib if tracemalloc.is_tracing() else 0.0
        self.samples.append([t, round(used, 1), round(free, 1), round(traced, 1)])

    def report(self) -> dict:
        import tracemalloc

        if not self.started:
            return {}
        gc.collect()
        snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        tracemalloc.stop()
        grown = self.type_counts() - self.types_before
        by_line = snap.statistics("lineno")[:25]
        by_stack = snap.statistics("traceback")[:8]
        return {"samples": self.samples,
                "alive_since_warmup_by_line": [[str(st.traceback[0]), round(st.size / 1024, 1), st.count]
                                               for st in by_line],
                "alive_since_warmup_by_stack": [{"kib": round(st.size / 1024, 1), "count": st.count,
                                                 "stack": [str(f) for f in st.traceback]} for st in by_stack],
                "object_types_grown": grown.most_common(25)}


def training_child_pids() -> list[int]:
    """This process's training children (`python -m s2s_desktop.engine.training.child`, not `--check`)."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == me:
                cmd = (entry / "cmdline").read_bytes()
                if b"training.child" in cmd and b"--check" not in cmd:
                    found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def type_char(widget, ch: str) -> None:
    """Press and release the key of one character. QTest.keyClicks asserts on non-ASCII text (ö, ß)."""
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtGui import QKeyEvent
    from PySide6.QtWidgets import QApplication

    key = Qt.Key(ord(ch.upper())) if ch.isascii() and ch.isprintable() else Qt.Key.Key_unknown
    for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
        QApplication.sendEvent(widget, QKeyEvent(kind, key, Qt.KeyboardModifier.NoModifier, ch))


def gap_stats(gaps: list[float]) -> dict[str, float]:
    """Heartbeat.stop()'s summary of a list of gaps (ms), for any subset of them."""
    if not gaps:
        return {"ticks": 0}
    g = sorted(gaps)
    return {"ticks": len(g), "max_ms": round(g[-1], 1), "p99_ms": round(g[int(0.99 * (len(g) - 1))], 1),
            "p50_ms": round(g[len(g) // 2], 1), "over_50ms": sum(x > GOAL_GAP_MS for x in g)}


# Between two scripted actions the event loop runs this long, as between a person's clicks (faster
# than anyone clicks): back to back, several actions ran in one turn of the loop, one gap that no
# user can cause, and the heartbeat measured the script rather than the app.
ACTION_GAP_MS = 40


class ActivityHeartbeat(Heartbeat):
    """The bench heartbeat, with each gap also filed under the activity running when it ended, so a
    stutter points at what the user was doing (and under "while_training" when a run was live).

    The gaps are kept packed (4 bytes, plus one byte each for the activity and the flags): 30 minutes
    are ~170,000 ticks, and as Python floats in four lists they grew the process being measured by
    ~9 MiB, a fifth of the RSS goal, all of it the harness's own."""

    AFTER_WARMUP, TRAINING = 1, 2

    def __init__(self, timer_cls, clock, warmup_s: float) -> None:
        super().__init__(timer_cls)
        self.clock = clock  # seconds since the soak started
        self.warmup_s = warmup_s
        self.gaps = array("f")  # ms, one per tick
        self.codes = array("B")  # the activity's code in self.code_of, per tick
        self.flags = array("B")  # AFTER_WARMUP | TRAINING, per tick
        self.code_of: dict[str, int] = {}  # activity -> code, in order of first appearance
        self.activity = "idle"
        self.training = False
        self.worst: list[tuple[float, float, str]] = []  # (gap ms, at s, activity), the 10 longest

    def start(self) -> None:
        del self.gaps[:], self.codes[:], self.flags[:]
        self.last = None
        self.timer.start()

    def tick(self) -> None:
        now = time.perf_counter()
        last, self.last = self.last, now
        if last is None:
            return
        gap = (now - last) * 1000
        self.gaps.append(gap)
        self.codes.append(self.code_of.setdefault(self.activity, len(self.code_of)))
        self.flags.append((self.AFTER_WARMUP if self.activity not in EXCLUDED_FROM_OVERALL
                           and self.clock() >= self.warmup_s else 0) | (self.TRAINING if self.training else 0))
        if len(self.worst) < 10 or gap > self.worst[-1][0]:
            self.worst = sorted([*self.worst, (gap, self.clock(), self.activity)], reverse=True)[:10]

    def summary(self) -> dict:
        excluded = {c for a, c in self.code_of.items() if a in EXCLUDED_FROM_OVERALL}
        ticks = list(zip(self.gaps, self.codes, self.flags))
        return {"overall": gap_stats([g for g, c, _ in ticks if c not in excluded]),
                "after_warmup": gap_stats([g for g, _, f in ticks if f & self.AFTER_WARMUP]),
                "per_activity": {a: gap_stats([g for g, c, _ in ticks if c == code])
                                 for a, code in sorted(self.code_of.items())},
                "while_training": gap_stats([g for g, _, f in ticks if f & self.TRAINING]),
                "worst": [[round(g, 1), round(t, 1), a] for g, t, a in self.worst]}


class StallSampler:
    """Where the UI thread is during a long gap: a watchdog thread that, once the heartbeat has not ticked
    for `after_ms`, records the UI thread's Python stack (innermost frames; a stack ending in an event
    loop's exec means Qt's own C++ work: layout, painting, the window system)."""

    def __init__(self, beat: Heartbeat, clock, activity, after_ms: float = 40.0) -> None:
        self.beat, self.clock, self.activity, self.after_ms = beat, clock, activity, after_ms
        self.main = threading.main_thread().ident
        self.main_tid = threading.main_thread().native_id
        self.where: Counter[str] = Counter()
        self.samples: list[dict] = []
        self._stop = threading.Event()
        threading.Thread(target=self._watch, name="stall-sampler", daemon=True).start()

    def _schedstat(self) -> tuple[float, float]:
        """(ms on a CPU, ms runnable but waiting for one) of the UI thread so far (Linux)."""
        try:
            with open(f"/proc/self/task/{self.main_tid}/schedstat") as fh:
                run, wait, _ = fh.read().split()
            return int(run) / 1e6, int(wait) / 1e6
        except (OSError, ValueError):
            return 0.0, 0.0

    def _watch(self) -> None:
        sampled_for, pending = None, None
        marks: list[tuple[float, float, float]] = []  # (time, cpu ms, wait ms), every 5 ms
        while not self._stop.wait(0.005):
            now, last = time.perf_counter(), self.beat.last
            marks = [*marks[-40:], (now, *self._schedstat())]
            if pending is not None and last != pending[0]:  # the gap has ended: how it was spent
                start = next((m for m in reversed(marks) if m[0] <= pending[0]), marks[0])
                end = marks[-1]
                pending[1].update(cpu_ms=round(end[1] - start[1], 1), waiting_for_cpu_ms=round(end[2] - start[2], 1))
                pending = None
            if last is None or (now - last) * 1000 < self.after_ms or sampled_for == last:
                continue
            sampled_for = last
            frame = sys._current_frames().get(self.main)
            stack = traceback.extract_stack(frame)[-5:] if frame else []
            where = " < ".join(f"{Path(f.filename).name}:{f.name}" for f in reversed(stack))
            self.where[where] += 1
            if len(self.samples) < MAX_ERRORS_KEPT:
                self.samples.append({"t": round(self.clock(), 1), "activity": self.activity(), "stack": where})
                pending = (last, self.samples[-1])

    def stop(self) -> None:
        self._stop.set()

    def summary(self) -> dict:
        timed = [x for x in self.samples if "cpu_ms" in x]
        return {"gaps_sampled": sum(self.where.values()), "where": self.where.most_common(12),
                "ui_cpu_ms_mean": round(sum(x["cpu_ms"] for x in timed) / max(len(timed), 1), 1),
                "ui_waiting_for_cpu_ms_mean": round(sum(x["waiting_for_cpu_ms"] for x in timed) / max(len(timed), 1), 1),
                "samples": self.samples}


class Recorder:
    """Errors, warnings and action counts, each stamped with the time and the activity."""

    def __init__(self, clock, activity) -> None:
        self.clock, self.activity = clock, activity
        self.errors: list[dict] = []
        self.error_count = 0
        self.warnings: list[dict] = []
        self.notes = Counter()  # info banners, by their first words
        self.activities = Counter()  # how often each activity ran
        self.actions = Counter()  # what got done: translations, files, switches, clicks, training events
        self.durations: dict[str, list[float]] = defaultdict(list)

    def _entry(self, source: str, message: str) -> dict:
        return {"t": round(self.clock(), 1), "activity": self.activity(), "source": source, "message": message[:600]}

    def error(self, source: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(self._entry(source, message))
        print(f"[soak] ERROR {source}: {message[:300]}", file=sys.stderr, flush=True)

    def warning(self, source: str, message: str) -> None:
        if len(self.warnings) < MAX_ERRORS_KEPT:
            self.warnings.append(self._entry(source, message))

    def count(self, kind: str, n: int = 1) -> None:
        self.actions[kind] += n


class GcPauses:
    """How long each cyclic garbage collection held the UI thread (a collection there is a UI gap)."""

    def __init__(self, clock) -> None:
        self.clock, self.start = clock, 0.0
        self.worst: dict[int, float] = defaultdict(float)
        self.count: Counter[int] = Counter()
        self.long: list[tuple[float, int, float]] = []  # (t, generation, ms) of those over 20 ms
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if phase == "start":
            self.start = time.perf_counter()
            return
        ms, gen = (time.perf_counter() - self.start) * 1000, info["generation"]
        self.count[gen] += 1
        self.worst[gen] = max(self.worst[gen], ms)
        if ms > 20 and len(self.long) < MAX_ERRORS_KEPT:
            self.long.append((round(self.clock(), 1), gen, round(ms, 1)))

    def summary(self) -> dict:
        return {"collections": {str(g): n for g, n in sorted(self.count.items())},
                "max_ms": {str(g): round(v, 1) for g, v in sorted(self.worst.items())}, "over_20ms": self.long}


class RecordingLogHandler(logging.Handler):
    def __init__(self, rec: Recorder) -> None:
        super().__init__(logging.WARNING)
        self.rec = rec

    def emit(self, record: logging.LogRecord) -> None:
        (self.rec.error if record.levelno >= logging.ERROR else self.rec.warning)(
            f"log {record.name}", record.getMessage())


def install_hooks(rec: Recorder) -> object:
    """Record every Python exception (any thread), log record and Qt warning; returns what must stay alive."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    def excepthook(exc_type, exc, tb) -> None:
        rec.error("exception", "".join(traceback.format_exception(exc_type, exc, tb)))

    def thread_hook(args) -> None:
        rec.error(f"exception in thread {args.thread.name if args.thread else '?'}",
                  "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback)))

    def qt_handler(mode, context, message) -> None:
        if mode is QtMsgType.QtWarningMsg and offscreen and message.startswith(OFFSCREEN_LIMITS):
            rec.notes[f"qt (offscreen plugin): {message}"] += 1  # what a headless screen cannot do, not a fault
        elif mode in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
            rec.error(f"qt {mode.name}", f"{message} ({context.file}:{context.line})" if context.file else message)

    offscreen = os.environ.get("QT_QPA_PLATFORM", "").startswith("offscreen")
    sys.excepthook = excepthook
    threading.excepthook = thread_hook
    logging.getLogger().addHandler(RecordingLogHandler(rec))
    qInstallMessageHandler(qt_handler)
    return qt_handler


# -- inputs ----------------------------------------------------------------------------------------
def write_training_corpus(folder: Path, seed: int) -> tuple[Path, Path]:
    """train.tsv (3,000 pairs) and valid.tsv (60): small enough to prepare in seconds."""
    rng = random.Random(seed)
    adj, noun, verb = (list(WORDS[k].items()) for k in ("adj", "noun", "verb"))

    def pair() -> str:
        (a, a2), (n, n2), (v, v2), (m, m2) = rng.choice(adj), rng.choice(noun), rng.choice(verb), rng.choice(noun)
        return f"the {a} {n} {v} the {m} .\tla {a2} {n2} {v2} la {m2}n ."

    folder.mkdir(parents=True, exist_ok=True)
    train, valid = folder / "train.tsv", folder / "valid.tsv"
    train.write_text("".join(pair() + "\n" for _ in range(3000)), encoding="utf-8")
    valid.write_text("".join(pair() + "\n" for _ in range(60)), encoding="utf-8")
    return train, valid


# -- the harness -----------------------------------------------------------------------------------
class Driver:
    """The window, what is recorded about it, and waiting for it without blocking its event loop."""

    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        from PySide6.QtCore import QEventLoop, QTimer
        from PySide6.QtWidgets import QApplication

        self.QEventLoop, self.QTimer = QEventLoop, QTimer
        self.args, self.work = args, work
        self.t0 = time.perf_counter()
        self.activity = "startup"
        self.rec = Recorder(self.elapsed, lambda: self.activity)
        self._hooks = install_hooks(self.rec)
        self.app = QApplication.instance() or QApplication([sys.argv[0]])
        self.warmup_s = min(120.0, 0.1 * args.minutes * 60)  # the first 2 minutes, or 10% of a shorter run
        self.beat = ActivityHeartbeat(QTimer, self.elapsed, self.warmup_s)
        self.gc = GcPauses(self.elapsed)
        self.stalls = StallSampler(self.beat, self.elapsed, lambda: self.activity)
        self.rss: list[list[float]] = []
        self.child_rss: list[list[float]] = []
        self.memory = MemoryProbe(args.trace_memory) if args.trace_memory else None
        self.rss_timer = QTimer(interval=RSS_EVERY_MS)
        self.rss_timer.timeout.connect(self.sample_rss)
        self.training_events = Counter()
        self.training_runs: list[dict] = []
        self.trained_model: str | None = None  # a finished run's best model, opened by the next switch
        self.screenshot_taken = False
        self.cycle = 0
        self.startup_s = 0.0
        self.timeline: list[tuple[float, str]] = []  # (start s, activity): what ran between two RSS samples
        self.window = None

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    # -- waiting (nested event loops, as the benches do) --------------------------------------------
    def pump(self, ms: int) -> None:
        loop = self.QEventLoop()
        self.QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait_signal(self, signal, what: str, trigger=None, check=None, timeout_s: float | None = None,
                    abort=None) -> tuple | None:
        """Connect, run `trigger`, and wait for `signal` (whose arguments pass `check`); a timeout is
        recorded as a stall and returns None, as does `abort` (a failure signal, recorded by its own hook)."""
        got: list[tuple] = []
        aborted: list[tuple] = []
        loop = self.QEventLoop()

        def slot(*a) -> None:
            if not got and (check is None or check(*a)):
                got.append(a)
                loop.quit()

        def stop(*a) -> None:
            aborted.append(a)
            loop.quit()

        signal.connect(slot)
        if abort is not None:
            abort.connect(stop)
        timer = self.QTimer(singleShot=True)
        timer.timeout.connect(loop.quit)
        timer.start(int(1000 * (timeout_s or self.args.stall_seconds)))
        try:
            if trigger is not None:
                trigger()
            if not got and not aborted:
                loop.exec()
        finally:
            timer.stop()
            signal.disconnect(slot)
            if abort is not None:
                abort.disconnect(stop)
        if aborted and not got:
            return None
        if not got:
            self.rec.error("stall", f"stalled: {what} (no answer within {timeout_s or self.args.stall_seconds:g} s)")
            return None
        return got[0]

    def wait_until(self, predicate, what: str, timeout_s: float | None = None) -> bool:
        deadline = time.perf_counter() + (timeout_s or self.args.stall_seconds)
        while not predicate():
            if time.perf_counter() > deadline:
                self.rec.error("stall", f"stalled: {what}")
                return False
            self.pump(20)
        return True

    def elsewhere(self, work, what: str):
        """`work()` on another thread (what another program would do: not the app's UI thread), the
        event loop running meanwhile; its result."""
        result: list = []
        thread = threading.Thread(target=lambda: result.append(work()))
        thread.start()
        self.wait_until(lambda: not thread.is_alive(), what)
        return result[0] if result else None

    def wait_translation(self, source: str, what: str, trigger=None):
        """Wait for the translation of exactly `source`; check the window shows it."""
        got = self.wait_signal(self.window.client.translated, what, trigger,
                               check=lambda result, _s: result.source == source)
        if got is None:
            return None
        self.pump(0)  # the window's own slot has run; let the output paint
        shown = self.window.panel.output.toPlainText()
        if shown != got[0].text:
            self.rec.error("check", f"{what}: the output box shows {shown[:80]!r}, not {got[0].text[:80]!r}")
        return got[0]

    @contextmanager
    def doing(self, kind: str):
        """Label the heartbeat's gaps with `kind`, time it and count it."""
        self.activity = self.beat.activity = kind
        self.timeline.append((self.elapsed(), kind))
        start = time.perf_counter()
        try:
            yield
        finally:
            self.rec.durations[kind].append(time.perf_counter() - start)
            self.rec.activities[kind] += 1
            self.activity = self.beat.activity = "idle"

    def probing(self, work) -> object:
        """Run the harness's own memory probe, its heartbeat gaps filed apart (not the app's)."""
        was, self.activity = self.activity, "memory_probe"
        self.beat.activity = "memory_probe"
        try:
            return work()
        finally:
            self.activity = self.beat.activity = was

    # -- hooks on the window ------------------------------------------------------------------------
    def watch_window(self) -> None:
        """Record whatever the window reports: failures, banners, training events."""
        w = self.window
        w.client.failed.connect(lambda f: self.rec.error("engine", f"{f.action}: {f.message}\n{f.details}".strip()))
        w.training.client.failed.connect(
            lambda f: self.rec.error("training", f"{f.action}: {f.message}\n{f.details}".strip()))
        shown = w.message_bar.show_message

        def banner(text: str, level: str = "error") -> None:
            if level == "error":
                self.rec.error("banner", text)
            elif level == "warning":
                self.rec.warning("banner", text)
            else:
                self.rec.notes[" ".join(text.split()[:3])] += 1
            shown(text, level)

        w.message_bar.show_message = banner  # an observer: the banner still shows as before
        w.training.client.event.connect(self._on_training_event)
        w.training.client.done.connect(self._on_training_done)

    def _on_training_event(self, event) -> None:
        self.training_events[event.kind] += 1
        self.rec.count("training_events")
        run = self.training_runs[-1] if self.training_runs else None
        if run is not None and event.kind in ("finished", "failed"):
            run["ended_s"] = round(self.elapsed(), 1)
            run["outcome"] = getattr(event, "reason", None) or f"failed: {event.message}"
            if event.kind == "finished" and event.best_path:
                self.trained_model = event.best_path

    def _on_training_done(self) -> None:
        self.beat.training = False
        if self.training_runs and "outcome" not in self.training_runs[-1]:
            self.rec.error("training", "the run ended without a finished or failed event")

    def sample_rss(self) -> None:
        t = round(self.elapsed(), 1)
        if self.memory is not None:
            if not self.memory.started and t >= self.warmup_s:
                self.probing(self.memory.start)
            self.memory.sample(t)
        self.rss.append([t, round(rss_mib() or 0.0, 1)])
        for pid in training_child_pids():
            value = rss_mib(pid)
            if value is not None:
                self.child_rss.append([t, round(value, 1)])

    # -- start-up -----------------------------------------------------------------------------------
    def start(self) -> None:
        """A first run: the window, the engine, the built-in model with its sample sentence."""
        from s2s_desktop.gui.main_window import MainWindow

        self.window = MainWindow()
        self.window.resize(1400, 900)
        self.watch_window()
        self.window.show()
        opened = self.wait_signal(self.window.client.model_opened, "opening the built-in model",
                                  trigger=self.window.start_engine, timeout_s=300)
        if opened is None:
            raise RuntimeError("the built-in model did not open")
        if not self.window.panel.output.toPlainText():
            self.wait_signal(self.window.client.translated, "the sample translation", timeout_s=120)
        self.startup_s = round(self.elapsed(), 1)
        self.t0 = time.perf_counter()  # the soak's clock starts here
        self.activity = self.beat.activity = "idle"
        self.beat.start()
        self.sample_rss()
        self.rss_timer.start()


class ScriptedUser(Driver):
    """What the user does, in a cycle, until --minutes have passed."""

    # -- activities ---------------------------------------------------------------------------------
    def sentences(self) -> list[str]:
        info = self.window.model_info
        return DE if info is not None and info.src_lang == "de" else EN

    def type_text(self) -> None:
        """Type a sentence into an emptied source box, as-you-type on; wait for its translation."""
        panel = self.window.panel
        if not panel.as_you_type.isChecked():
            panel.as_you_type.click()
        panel.source.clear()
        panel.source.setFocus()
        text = self.sentences()[self.cycle % len(EN)]
        chars = list(text)
        shown = [0]
        count = lambda *_: shown.__setitem__(0, shown[0] + 1)  # noqa: E731
        self.window.client.translated.connect(count)
        loop = self.QEventLoop()

        def type_next() -> None:
            if not chars:
                loop.quit()
                return
            ch = chars.pop(0)
            type_char(panel.source, ch)
            self.QTimer.singleShot(WORD_PAUSE_MS if ch == " " else CHAR_MS, type_next)

        type_next()
        loop.exec()
        typed = panel.source.toPlainText()
        if typed != text:
            self.rec.error("check", f"typing: the source box holds {typed!r}, not {text!r}")
        if not (panel.result is not None and panel.result.source == typed):
            self.wait_translation(typed, "the translation of the typed sentence")
        self.window.client.translated.disconnect(count)
        self.rec.count("translations_while_typing", shown[0])

    def translate_paragraph(self) -> None:
        """Paste a multi-line paragraph with as-you-type off and press Translate."""
        panel = self.window.panel
        if panel.as_you_type.isChecked():
            panel.as_you_type.click()
        pool = self.sentences()
        lines = [pool[(self.cycle + i) % len(pool)] for i in range(6)]
        text = "\n".join([" ".join(lines[:2]), *lines[2:]])  # two sentences on the first line
        panel.source.setPlainText(text)
        if self.wait_translation(text, "the paragraph's translation", trigger=panel.translate_button.click):
            self.rec.count("translations")

    def click_cell(self, row: int, col: int) -> bool:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        insp = self.window.panel.inspector
        heat = insp.heatmap
        pos = heat.mapFromScene(heat.scene_point_of_cell(row, col))
        QTest.mouseClick(heat.viewport(), Qt.MouseButton.LeftButton, pos=pos)
        hit = insp.row == row
        self.rec.count("inspector_clicks" if hit else "inspector_clicks_missed")
        return hit

    def inspect(self) -> None:
        """Click tokens of two sentences, walk the rows by keyboard, pick layers and heads in the grid,
        look at both self-attentions, decode with an alternative (what-if) and reset, then the n-best list."""
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        from s2s_desktop.gui.attention_math import (
            CROSS,
            DECODER,
            ENCODER,
            INPUT_X_GRADIENT,
            INTEGRATED_GRADIENTS,
            MEAN_OF_HEADS,
        )

        panel, insp = self.window.panel, self.window.panel.inspector
        if panel.result is None or not panel.result.sentences:
            self.rec.error("check", "inspector: no translation to inspect")
            return
        panel.tabs.setCurrentIndex(0)
        for sentence in range(min(2, len(panel.result.sentences))):
            insp.sentence_box.setCurrentIndex(sentence)
            if not self.wait_until(lambda: insp.view is not None and insp.view.matrix.size > 0, "inspector map"):
                return
            self.pump(30)
            rows, cols = insp.view.matrix.shape
            for row in range(0, rows, max(rows // 3, 1)):
                self.click_cell(row, (row * 7) % cols)
                self.pump(60)
        for key in (Qt.Key.Key_Down, Qt.Key.Key_Down, Qt.Key.Key_Right, Qt.Key.Key_Escape):
            QTest.keyClick(insp.heatmap, key)
            self.pump(40)
        layers, heads = insp.grid.shape
        if layers * heads > 1 and insp.grid.isVisible():
            for layer, head in ((layers - 1, 0), (0, heads - 1), (layers // 2, heads // 2)):
                QTest.mouseClick(insp.grid.canvas, Qt.MouseButton.LeftButton, pos=insp.grid.cell_center(layer, head))
                self.pump(40)
                self.rec.count("layer_head_picks" if (insp.layer, insp.head) == (layer, head) else "layer_head_missed")
            insp.head_box.setCurrentIndex(insp.head_box.findData(MEAN_OF_HEADS))
            self.pump(ACTION_GAP_MS)
        insp.words_box.click()
        self.pump(ACTION_GAP_MS)
        self.click_cell(0, 0)
        self.pump(ACTION_GAP_MS)
        insp.words_box.click()
        self.pump(ACTION_GAP_MS)
        if insp.kind_box.isVisible():
            # (an RNN offers no self-attention: only the kinds the model has)
            for kind in [k for k in (ENCODER, DECODER, INPUT_X_GRADIENT, INTEGRATED_GRADIENTS, CROSS)
                         if k in insp.picker.offered()]:
                insp.kind_box.setCurrentIndex(insp.kind_box.findData(kind))
                if self.wait_until(lambda k=kind: insp.view is not None and insp.view.kind == k, f"the {kind} map"):
                    self.rec.count("attention_kinds")
                    self.pump(ACTION_GAP_MS)
                    self.click_cell(0, 0)
                    self.pump(40)
        self.what_if()
        panel.tabs.setCurrentIndex(1)
        self.pump(ACTION_GAP_MS)
        if panel.nbest_list.topLevelItemCount() > 1:
            panel.nbest_list.setCurrentItem(panel.nbest_list.topLevelItem(1))
            self.pump(60)
        panel.tabs.setCurrentIndex(0)
        self.pump(ACTION_GAP_MS)
        insp.hyp_box.setCurrentIndex(0)  # back to the best hypothesis, a token selected
        self.pump(ACTION_GAP_MS)
        if insp.view is not None and insp.view.matrix.shape[0] > 1:
            self.click_cell(1, 0)

    def what_if(self) -> None:
        """Select the second token, choose its second alternative, decode with it, then reset."""
        insp = self.window.panel.inspector
        if insp.view is None or insp.view.matrix.shape[0] < 2 or not self.click_cell(1, 0):
            return
        if insp.alternatives.count() < 2:
            return
        self.pump(ACTION_GAP_MS)
        insp.alternatives.setCurrentRow(1)
        self.pump(ACTION_GAP_MS)
        if self.wait_signal(self.window.client.redecoded, "the what-if re-decode", trigger=insp.use_button.click):
            self.rec.count("redecodes")
            self.pump(50)
            if insp.reset_button.isEnabled():
                insp.reset_button.click()

    def translate_file(self) -> None:
        """File › Translate a text file… on 10 lines and a blank one; the output must have as many lines."""
        w = self.window
        pool = self.sentences()
        lines = [pool[(self.cycle + i) % len(pool)] for i in range(10)]
        lines.insert(5, "")
        src = self.work / f"input-{self.cycle}.txt"
        dst = self.work / f"output-{self.cycle}.txt"
        # The user's file is written by another program, not by the app's UI thread: a write here once
        # took 59 ms of the UI thread's CPU in the kernel (the soak's longest gap, not the app's).
        self.elsewhere(lambda: src.write_text("\n".join(lines) + "\n", encoding="utf-8"), "writing the input file")
        w.ask_file_paths = lambda: (str(src), str(dst))  # the two file dialogs, answered
        got = self.wait_signal(w.client.file_finished, "translating a file", trigger=w.translate_file_action.trigger,
                               timeout_s=max(self.args.stall_seconds, 120), abort=w.client.failed)
        if got is None:
            w.client.cancel_file()
            return
        out = dst.read_text(encoding="utf-8").splitlines() if dst.exists() else []
        if len(out) != len(lines):
            self.rec.error("check", f"file translation: {len(out)} output lines for {len(lines)} input lines")
        else:
            self.rec.count("files")
            self.rec.count("file_lines", len(lines))

    def switch_model(self) -> None:
        """⇄ to the other built-in direction; after a run has finished, its model (Use this model), and
        from there back to the en→de built-in through File › Open recent."""
        from s2s_desktop.assets import bundled_model

        w = self.window
        if self.trained_model:
            self.trained_model = None
            w.tabs.setCurrentWidget(w.training)
            self.pump(200)
            if self.open_and_translate("opening the trained model", w.training.use_button.click):
                self.rec.count("opened_trained_model")
        elif w.panel.swap_button.isEnabled():
            self.open_and_translate("swapping the languages", w.panel.swap_button.click)
        else:
            path = str(bundled_model())
            action = next((a for a in w.recent_menu.actions() if a.toolTip() == path), None)
            self.open_and_translate("reopening the built-in model", action.trigger if action else
                                    lambda: w.open_model(path))
        w.tabs.setCurrentWidget(w.pages)

    def open_and_translate(self, what: str, trigger) -> bool:
        """Open a model by `trigger`, then wait for the source to be translated with it."""
        w = self.window
        if self.wait_signal(w.client.model_opened, what, trigger=trigger, abort=w.client.failed) is None:
            return False
        self.rec.count("switches")
        text = w.panel.source.toPlainText()
        if text.strip() and not (w.panel.result is not None and w.panel.result.source == text):
            self.wait_translation(text, f"{what}: the translation with the new model")
        return True

    def start_training(self) -> None:
        """Fill the Train tab's form (a tiny GRU on the toy corpus, --train-minutes) and press Start."""
        w = self.window
        f = w.training.form
        # The corpus comes from elsewhere (another program writes it, not the app's UI thread: generating
        # it here took 20 ms of a training start's 60 ms gap).
        train, valid = self.elsewhere(lambda: write_training_corpus(self.work / "corpus", seed=len(self.training_runs)),
                                      "writing the training corpus")
        w.tabs.setCurrentWidget(w.training)
        self.pump(300)
        # One field at a time, as a person fills a form (all in one event-loop turn is a gap no one causes).
        for fill in (lambda: f.tsv_mode.setChecked(True), lambda: f.train_tsv.setText(str(train)),
                     lambda: f.valid_tsv.setText(str(valid)), lambda: f.src_lang.setText("en"),
                     lambda: f.tgt_lang.setText("eo"),
                     lambda: f.arch.setCurrentIndex(next(i for i in range(f.arch.count())
                                                         if f.arch.itemText(i).startswith("RNN: GRU"))),
                     lambda: f.preset.setCurrentText("tiny"),
                     lambda: f.run_name.setText(f"soak-{len(self.training_runs) + 1}"),
                     lambda: f.advanced.setChecked(True), lambda: f.vocab.setValue(500),
                     lambda: f.limit_kind.setCurrentText("minutes"), lambda: f.limit.setValue(self.args.train_minutes),
                     lambda: f.valid_every.setValue(40), lambda: f.device.setCurrentText("cpu")):
            fill()
            self.pump(ACTION_GAP_MS)
        if not f.start_button.isEnabled():
            self.rec.error("check", f"training: Start is disabled: {f.problem.text()}")
            w.tabs.setCurrentWidget(w.pages)
            return
        self.training_runs.append({"started_s": round(self.elapsed(), 1)})
        self.beat.training = True
        got = self.wait_signal(w.training.client.event, "the training run's start", trigger=f.start_button.click,
                               check=lambda e: e.kind == "started", timeout_s=max(self.args.stall_seconds, 120),
                               abort=w.training.client.done)
        if got is not None:
            self.training_runs[-1]["run_started_s"] = round(self.elapsed(), 1)
        w.tabs.setCurrentWidget(w.pages)

    def watch_training(self) -> None:
        """A few seconds on the Train tab while the run trains: the live plots redraw."""
        w = self.window
        w.tabs.setCurrentWidget(w.training)
        w.training.bottom_tabs.setCurrentIndex(0)
        self.pump(4000)
        w.tabs.setCurrentWidget(w.pages)

    def builtin_open(self) -> bool:
        from s2s_desktop.library import builtin_files

        info = self.window.model_info
        return info is not None and any(os.path.samefile(info.path, f) for f in builtin_files())

    def screenshot(self) -> None:
        with self.doing("screenshot"):
            self.window.grab().save(self.args.screenshot)
        self.screenshot_taken = True

    # -- the run ------------------------------------------------------------------------------------
    def run(self) -> None:
        duration = self.args.minutes * 60
        next_training = 0.0
        while self.elapsed() < duration:
            training = self.window.training.client.running
            if not training and self.elapsed() >= next_training and self.elapsed() < duration - 30:
                with self.doing("training_start"):
                    self.start_training()
                next_training += self.args.train_every * 60
            for kind, step in (("typing", self.type_text), ("paragraph", self.translate_paragraph),
                               ("inspector", self.inspect), ("file", self.translate_file),
                               ("switch", self.switch_model)):
                with self.doing(kind):
                    step()
                if self.args.screenshot and not self.screenshot_taken and kind == "inspector" \
                        and self.elapsed() >= duration / 2 and self.builtin_open():
                    self.screenshot()
                if self.elapsed() >= duration:
                    break
            if self.window.training.client.running and self.elapsed() < duration:
                with self.doing("watch_training"):
                    self.watch_training()
            self.cycle += 1

    def finish(self) -> bool:
        """Stop a run still training (Stop: it validates and saves), check the app still translates,
        close the window as a user would. True when the app answered to the end."""
        w = self.window
        if w.training.client.running:
            with self.doing("training_stop"):
                self.wait_signal(w.training.client.done, "stopping the training run", trigger=w.training.stop_button.click,
                                 timeout_s=180)
        alive = w.client.thread_running
        probe = "Good night, see you tomorrow." if w.model_info.src_lang != "de" else "Gute Nacht, bis morgen."
        with self.doing("final_probe"):
            if not w.panel.as_you_type.isChecked():
                w.panel.as_you_type.click()
            answered = self.wait_translation(probe, "the final probe translation",
                                             trigger=lambda: w.panel.source.setPlainText(probe)) is not None
        self.rss_timer.stop()
        self.sample_rss()
        self.beat.timer.stop()
        self.memory_report = self.probing(self.memory.report) if self.memory is not None else None
        w.close()
        self.QTimer.singleShot(0, self.app.quit)
        self.app.exec()  # aboutToQuit: the app's own shutdown waits for its threads
        return alive and answered

    def rss_jumps(self, threshold_mib: float = 20.0) -> list[dict]:
        """Samples that grew by more than `threshold_mib`, with the activities run since the previous one:
        where to look when the growth goal is missed."""
        jumps = []
        for (t0, m0), (t1, m1) in zip(self.rss, self.rss[1:]):
            if m1 - m0 > threshold_mib:
                ran = sorted({k for t, k in self.timeline if t0 - 15 <= t <= t1})  # and the one running at t0
                jumps.append({"t": t1, "delta_mib": round(m1 - m0, 1), "activities": ran})
        return jumps

    def summary(self, completed: bool) -> dict:
        minutes, warmup = self.args.minutes, self.warmup_s
        after = [s for s in self.rss if s[0] >= warmup] or self.rss[-1:]
        base = after[0][1] if after else None
        end = sum(s[1] for s in self.rss[-3:]) / len(self.rss[-3:]) if self.rss else None
        growth = round(end - base, 1) if base is not None and end is not None else None
        beat = self.beat.summary()
        no_error = self.rec.error_count == 0
        return {
            "minutes": minutes, "elapsed_s": round(self.elapsed(), 1), "startup_s": self.startup_s,
            "warmup_s": round(warmup, 1),
            "cycles": self.cycle, "activities": dict(sorted(self.rec.activities.items())),
            "actions": dict(sorted(self.rec.actions.items())),
            "activity_seconds": {k: {"mean": round(sum(v) / len(v), 2), "max": round(max(v), 2)}
                                 for k, v in sorted(self.rec.durations.items())},
            "error_count": self.rec.error_count, "errors": self.rec.errors,
            "warnings": self.rec.warnings, "info_messages": dict(self.rec.notes),
            "rss_mib": self.rss, "training_child_rss_mib": self.child_rss,
            "rss_after_warmup_mib": base, "rss_end_mib": round(end, 1) if end is not None else None,
            "growth_mib": growth, "rss_max_mib": max((s[1] for s in self.rss), default=None),
            "rss_jumps": self.rss_jumps(),
            **({"memory_probe": self.memory_report} if self.memory is not None else {}),
            "heartbeat": beat,
            "gc": self.gc.summary(),
            "stalls": self.stalls.summary(),
            "training": {"runs": self.training_runs, "events": dict(self.training_events)},
            "goal_met": {"no_crash": completed, "no_error": no_error,
                         "rss_growth_under_50mib": growth is not None and growth < GOAL_GROWTH_MIB,
                         "heartbeat_max_under_50ms": beat["overall"].get("max_ms", 1e9) < GOAL_GAP_MS},
        }


def brief(summary: dict) -> dict:
    """The summary for the terminal: the RSS lists shortened to their ends."""
    out = dict(summary)
    for key in ("rss_mib", "training_child_rss_mib"):
        samples = summary[key]
        out[key] = samples if len(samples) <= 8 else [*samples[:4], "…", *samples[-4:]]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0, help="how long the scripted user works (after start-up)")
    ap.add_argument("--train-every", type=float, default=10.0, help="minutes between training runs (the first at once)")
    ap.add_argument("--train-minutes", type=int, default=1, help="each run's limit in the form (whole minutes)")
    ap.add_argument("--stall-seconds", type=float, default=60.0, help="an action slower than this is an error")
    ap.add_argument("--out", type=Path, help="also write the full JSON summary here")
    ap.add_argument("--trace-memory", type=int, default=0, metavar="FRAMES",
                    help="diagnose RSS growth: trace Python allocations (this many frames) and glibc's heap from "
                         "the warm-up on (slows the app: not a run for the heartbeat)")
    ap.add_argument("--screenshot", help="save the window once, half-way, after inspector clicks (PNG)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="s2s-soak-"))
    os.environ["S2S_DESKTOP_HOME"] = str(work / "home")  # never the user's settings, runs or logs
    try:
        soak = ScriptedUser(args, work)
        soak.start()
        soak.run()
        completed = soak.finish()
        summary = soak.summary(completed)
    except Exception:  # noqa: BLE001 - the script failed, not (necessarily) the app
        traceback.print_exc()
        return 1
    summary["work_dir"] = str(work)
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    print(json.dumps(brief(summary), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
