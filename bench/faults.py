#!/usr/bin/env python3
"""Fault injection in training (issue 20, item 2): SIGKILL at random moments, then a full disk and a
read-only folder on a real size-limited filesystem.

    python bench/faults.py [--trials 40] [--seed 1] [--disk-trials 6] [--out faults.json]

Kill trials: one real `s2s train` run (a small RNN on a generated corpus, a save every --save-every
updates) is killed with SIGKILL once per trial and resumed with `s2s train --resume`. Each kill lands
at a random moment, or in the middle of writing best.s2s / last.s2s, in the middle of writing the resume
state, or while the resumed process is still starting. The child process announces (on stderr) the
moment it is inside a write and pauses there briefly, so that a kill can land mid-write; nothing else
about it is changed. After each kill: best.s2s and last.s2s load, metrics.jsonl replays, no half-written
file is left once resumed; after each resume: the updates lost (the step at the kill minus the step the
run resumed from) are at most one save interval, and the resumed run's losses at the steps it redid are
those the killed run logged (the curve continues). The last process runs to the end.

Disk trials (root on Linux only: a tmpfs mounted here): the run folder on a filesystem that fills up
after a random number of bytes, or that is remounted read-only at a random moment. The run must end
with exit status 2 and a message naming the file and the cause; every file written before must load;
after the space is freed (or the folder made writable) the run resumes and finishes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = "S2S-FAULT"
RESUME_NAME = "resume.safetensors"
PAUSE = 0.08  # seconds the child waits inside a write, so that a kill can land there
WORDS = "zero one two three four five six seven eight nine ten eleven twelve red green blue".split()


# -- the child: `s2s train` with announced writes -------------------------------------------------------
def child(argv: list[str]) -> int:
    """Run `s2s train argv`, announcing each atomic write (and pausing inside it) on stderr."""
    from s2s_desktop.cli import main
    from s2s_desktop.engine.formats import atomic
    from s2s_desktop.engine.training import loop  # noqa: F401 - imports every module that writes

    real = atomic.atomic_write
    rng = random.Random(os.getpid())

    def announced(path, data, error=atomic.CheckpointError):
        chunks = [bytes(data)] if isinstance(data, (bytes, bytearray, memoryview)) else [bytes(c) for c in data]
        whole = b"".join(chunks)
        cut = rng.randrange(len(whole) + 1)  # somewhere inside the data

        def paced():
            yield whole[:cut]
            print(f"{MARK} write {Path(path).name}", file=sys.stderr, flush=True)
            time.sleep(PAUSE)
            yield whole[cut:]

        real(path, paced(), error)

    for module in list(sys.modules.values()):
        if getattr(module, "atomic_write", None) is real and module is not atomic:
            module.atomic_write = announced
    return main(["train", *argv])


# -- the bench ---------------------------------------------------------------------------------------------
def corpus(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 9))]
        lines.append(" ".join(words) + "\t" + " ".join(reversed(words)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


class Training:
    """One `s2s train` process of the bench's run, with its stderr read for the write announcements."""

    def __init__(self, args: list[str], unprivileged: bool = False):
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        # without CAP_DAC_OVERRIDE, root obeys a folder's permissions as any user does
        drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if unprivileged else []
        self.proc = subprocess.Popen([*drop, sys.executable, __file__, "--child", *args], cwd=ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.started = time.monotonic()
        self.writes: list[tuple[float, str]] = []
        self.errors: list[str] = []
        self.event = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            with self.event:
                if line.startswith(MARK):
                    self.writes.append((time.monotonic(), line.split()[2]))
                else:
                    self.errors.append(line.rstrip())
                self.event.notify_all()

    def wait_for_write(self, names: tuple[str, ...], timeout: float) -> bool:
        """Block until the child announces it is inside a write of one of `names`."""
        seen = len(self.writes)
        end = time.monotonic() + timeout
        with self.event:
            while time.monotonic() < end and self.proc.poll() is None:
                if any(n in names for _, n in self.writes[seen:]):
                    return True
                self.event.wait(0.05)
        return False

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def train_args(run: Path, data: Path, steps: int, save_every: int, resume: bool) -> list[str]:
    if resume:
        return ["--out", str(run), "--resume", "--max-steps", str(steps), "--threads", "1", "--quiet"]
    return ["--train", str(data), "--src-lang", "en", "--tgt-lang", "rev", "--out", str(run), "--arch", "rnn",
            "--emb-size", "32", "--encoder-hidden", "64", "--decoder-hidden", "96", "--dropout", "0.1",
            "--vocab-size", "40", "--batch-tokens", "600", "--valid-size", "60", "--valid-every", str(save_every),
            "--log-every", "1", "--max-steps", str(steps), "--patience", "0", "--device", "cpu", "--threads", "1",
            "--seed", "7",
            "--quiet"]


def check_files(run: Path) -> list[str]:
    """Problems with what a kill left: models that do not load, a log that does not replay."""
    from s2s_desktop.engine.formats.checkpoint import load_model
    from s2s_desktop.engine.training.run_folder import read_metrics, summarize_run
    from s2s_desktop.errors import S2SError

    problems = []
    for name in ("best.s2s", "last.s2s"):
        if (run / name).exists():
            try:
                load_model(run / name)
            except S2SError as exc:
                problems.append(f"{name}: {exc}")
    try:
        read_metrics(run / "metrics.jsonl")
        if summarize_run(run) is None:
            problems.append("the run folder is not recognised")
    except (OSError, ValueError) as exc:
        problems.append(f"metrics.jsonl: {exc}")
    return problems


def progress(run: Path) -> tuple[int, dict[int, float], int, int]:
    """(the last step logged, {step: loss} of the latest process, the step that process resumed from, the
    number of processes that started)."""
    from s2s_desktop.engine.api import RunStarted, StepReport
    from s2s_desktop.engine.training.run_folder import read_metrics

    events = read_metrics(run / "metrics.jsonl")
    starts = [i for i, e in enumerate(events) if isinstance(e, RunStarted)]
    latest = events[starts[-1]:] if starts else []
    resumed = latest[0].resumed_from_step if latest else 0
    steps = [e.step for e in events if isinstance(e, StepReport)]
    losses = {e.step: e.loss for e in latest if isinstance(e, StepReport)}
    return (steps[-1] if steps else 0), losses, resumed, len(starts)


def kill_trials(work: Path, trials: int, save_every: int, rng: random.Random) -> dict:
    from s2s_desktop.engine.training.run_folder import RESUME_FILE

    work.mkdir(parents=True, exist_ok=True)
    data, run = work / "pairs.tsv", work / "run"
    corpus(data, 3000, seed=1)
    steps = 1_000_000  # the trials run until killed; the last process is given an end
    first = Training(train_args(run, data, steps, save_every, resume=False))
    while not (run / RESUME_FILE).exists() and first.proc.poll() is None:  # the first save: something to resume
        time.sleep(0.1)
    proc, rows, problems = first, [], []
    for trial in range(trials):
        mode = rng.choice(["random", "random", "model-save", "resume-write", "while-resuming"])
        if mode == "model-save":
            hit = proc.wait_for_write(("best.s2s", "last.s2s"), 120)
        elif mode == "resume-write":
            hit = proc.wait_for_write((RESUME_FILE,), 120)
        else:
            hit = True
            window = (0.2, 4.0) if mode == "while-resuming" else (3.0, 12.0)
            time.sleep(max(0.0, proc.started + rng.uniform(*window) - time.monotonic()))
        if hit and mode in ("model-save", "resume-write"):
            time.sleep(rng.uniform(0, PAUSE))  # inside the write
        if proc.proc.poll() is not None:
            problems.append(f"trial {trial}: the process had exited ({proc.proc.returncode}): {proc.errors[-3:]}")
            break
        proc.kill()
        killed_at, killed_losses, _, starts = progress(run)
        cut_short = {p.name for p in run.iterdir() if p.suffix == ".tmp"}  # what the killed writes left
        left = check_files(run)
        problems += [f"trial {trial} ({mode}), after the kill: {p}" for p in left]
        proc = Training(train_args(run, data, steps, save_every, resume=True))
        while proc.proc.poll() is None:  # until the resumed run has redone what the kill lost
            _, losses, resumed_from, now = progress(run)
            if now > starts and max(losses, default=0) >= killed_at:
                break
            time.sleep(0.1)
        _, losses, resumed_from, _ = progress(run)
        redone = sorted(s for s in losses if s in killed_losses)
        differ = max((abs(losses[s] - killed_losses[s]) for s in redone), default=0.0)
        stray = sorted(cut_short & {p.name for p in run.iterdir()})
        rows.append({"trial": trial, "mode": mode, "hit": hit, "killed_at": killed_at, "resumed_from": resumed_from,
                     "lost": killed_at - resumed_from, "redone_steps": len(redone), "max_loss_diff": differ,
                     "cut_short_writes": sorted(cut_short),
                     "leftovers": stray, "problems": left})
        if killed_at - resumed_from > save_every:
            problems.append(f"trial {trial}: {killed_at - resumed_from} updates lost (save interval {save_every})")
        if differ > 1e-4:
            problems.append(f"trial {trial}: the resumed losses differ by {differ:.2e} from the killed run's")
        if stray:
            problems.append(f"trial {trial}: half-written files left after the resume: {stray}")
        print(f"kill {trial + 1:>3}/{trials} {mode:<14} step {killed_at:>4} -> resumed {resumed_from:>4} "
              f"lost {killed_at - resumed_from:>3} redone {len(redone):>3} Δloss {differ:.1e} {left or ''}", flush=True)
    proc.kill()  # the end: resumed once more, to a step limit, and run to it
    steps = progress(run)[0] + 2 * save_every
    proc = Training(train_args(run, data, steps, save_every, resume=True))
    code = proc.proc.wait()
    final = check_files(run)
    last = progress(run)[0]
    if any(p.suffix == ".tmp" for p in run.iterdir()):
        problems.append(f"temporary files left at the end: {sorted(p.name for p in run.iterdir())}")
    if code != 0 or last != steps:
        problems.append(f"the last process ended with status {code} at step {last} of {steps}: {proc.errors[-3:]}")
    return {"trials": len(rows), "steps": steps, "save_every": save_every, "rows": rows,
            "max_lost": max((r["lost"] for r in rows), default=0),
            "kills_inside_a_write": sum(bool(r["cut_short_writes"]) for r in rows),
            "max_loss_diff": max((r["max_loss_diff"] for r in rows), default=0.0),
            "final_problems": final, "problems": problems}


# -- disk trials --------------------------------------------------------------------------------------------
def mount_tmpfs(where: Path, size_mb: int) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(where)],
                          capture_output=True).returncode == 0


DISK_MODES = ("full", "denied", "read-only")
CAUSES = {"full": "No space left on device", "denied": "Permission denied", "read-only": "Read-only file system"}


def disk_trials(work: Path, trials: int, save_every: int, rng: random.Random) -> dict:
    """Modes in turn: "full" (the filesystem has room for a random part of what the run writes), "denied"
    (the run folder made read-only, chmod 0555, at a random moment; the child runs without root's
    CAP_DAC_OVERRIDE so that the permission holds for it), "read-only" (the filesystem remounted
    read-only between a kill and the resume: Linux refuses that while a file is open for writing)."""
    data = work / "pairs.tsv"
    corpus(data, 3000, seed=2)
    rows, problems = [], []
    for trial in range(trials):
        mode = DISK_MODES[trial % len(DISK_MODES)]
        fs = work / f"fs{trial}"
        if not mount_tmpfs(fs, 32):
            return {"skipped": "cannot mount a tmpfs here (needs root on Linux)", "rows": rows, "problems": problems}
        try:
            rows.append(_disk_trial(fs, data, mode, save_every, rng, late=trial % (2 * len(DISK_MODES)) >= len(DISK_MODES)))
        finally:
            subprocess.run(["umount", "-l", str(fs)], capture_output=True)
        row = rows[-1]
        if not row["named"] or row["problems"] or row["resumed"] is False:
            problems.append(f"disk trial {trial} ({mode}): {row}")
        print(f"disk {trial + 1:>2}/{trials} {mode:<9} step {row['failed_at']:>3} exit {row['exit']} "
              f"named {row['named']} resumed {row['resumed']} {row['message'][-110:]!r}", flush=True)
    return {"trials": len(rows), "rows": rows, "problems": problems}


def _disk_trial(fs: Path, data: Path, mode: str, save_every: int, rng: random.Random, late: bool) -> dict:
    run, filler = fs / "run", fs / "filler"
    steps = save_every * 6
    args = train_args(run, data, steps, save_every, resume=False)
    if mode == "full":  # room for a random part of what the run writes (each save about 4 MB here), or
        stat = os.statvfs(fs)  # every other time for the first save and part of the second
        room = rng.randint(0, 9_000_000) if late is False else rng.randint(4_400_000, 6_400_000)
        filler.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - room))
        proc = Training(args)
    elif mode == "denied":
        proc = Training(args, unprivileged=True)
        proc.wait_for_write((RESUME_NAME,), 120)  # after the first save, at a random moment
        time.sleep(rng.uniform(0.0, 2.0))
        run.chmod(0o555)
    else:
        proc = Training(args)
        proc.wait_for_write((RESUME_NAME,), 120)
        time.sleep(rng.uniform(0.2, 1.0))
        proc.kill()
        subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        proc = Training(train_args(run, data, steps, save_every, resume=True))
    code = proc.proc.wait(600)
    message = " ".join(proc.errors[-2:])
    failed_at = progress(run)[0] if (run / "metrics.jsonl").exists() else 0
    named = code in (1, 2) and CAUSES[mode] in message and str(run) in message
    left = check_files(run) if run.exists() else []
    if mode == "full":
        filler.unlink()
    elif mode == "denied":
        run.chmod(0o755)
    else:
        subprocess.run(["mount", "-o", "remount,rw", str(fs)], check=True)
    resumed = None  # None: the fault came before the first resume state (the user starts again)
    if code != 0 and (run / RESUME_NAME).exists():
        again = Training(train_args(run, data, steps, save_every, resume=True))
        resumed = again.proc.wait(600) == 0 and progress(run)[0] == steps
    return {"mode": mode, "exit": code, "failed_at": failed_at, "named": named or code == 0,
            "message": message[-300:], "problems": left, "resumed": resumed}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=40, help="SIGKILL trials")
    ap.add_argument("--disk-trials", type=int, default=6, help="full-disk and read-only trials (alternating)")
    ap.add_argument("--save-every", type=int, default=20, help="updates between saves (--valid-every)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="s2s-faults-"))
    os.environ["S2S_DESKTOP_HOME"] = str(work / "home")
    start = time.monotonic()
    result = {"kills": kill_trials(work / "kills", args.trials, args.save_every, rng) if args.trials else None}
    (work / "disk").mkdir()
    result["disk"] = disk_trials(work / "disk", args.disk_trials, args.save_every, rng) if args.disk_trials else None
    result["minutes"] = round((time.monotonic() - start) / 60, 1)
    problems = [p for part in ("kills", "disk") if result[part] for p in result[part].get("problems", [])]
    kills = result["kills"] or {}
    print(json.dumps({"kill_trials": kills.get("trials"), "kills_inside_a_write": kills.get("kills_inside_a_write"),
                      "max_updates_lost": kills.get("max_lost"), "save_interval": args.save_every,
                      "max_loss_diff_on_redone_steps": kills.get("max_loss_diff"),
                      "disk_trials": (result["disk"] or {}).get("trials", (result["disk"] or {}).get("skipped")),
                      "problems": problems, "minutes": result["minutes"]}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
