"""A full disk (ENOSPC) or a read-only folder (EROFS) at every write a training run makes (issue 20):
the run ends with a message naming the file and the cause, every file written before is intact (the
models and the resume state still load, metrics.jsonl still replays), nothing half-written is left,
and once the disk is fixed the run resumes and finishes."""

from __future__ import annotations

import errno
import os
from collections import Counter

import pytest

from s2s_desktop.engine.api import Failed, Finished, StepReport
from s2s_desktop.engine.formats.checkpoint import load_model
from s2s_desktop.engine.training.loop import train
from s2s_desktop.engine.training.resume_state import load_resume
from s2s_desktop.engine.training.run_folder import METRICS_FILE, RESUME_FILE, continued, read_metrics
from s2s_desktop.errors import S2SError
from tests.engine.faulty_disk import FaultyDisk, FaultyFile, os_with, snapshot
from tests.engine.test_training import SMALL, config, reverse_corpus

pytestmark = pytest.mark.slow


def run(tmp_path, corpus, resume=False):
    """(the events, the S2SError raised before the first event or None)."""
    cfg = config(tmp_path, corpus, max_steps=6, valid_every=3, log_every=2, valid_size=40)
    events = []
    try:
        for event in train(SMALL, cfg, resume=resume):
            events.append(event)
    except S2SError as exc:
        return events, exc
    return events, None


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "reverse.tsv"
    reverse_corpus(path, 200, seed=3)
    return path


@pytest.fixture(scope="module")
def write_ops(corpus, tmp_path_factory):
    """Every write operation of a fault-free run, in order."""
    tmp = tmp_path_factory.mktemp("record")
    with pytest.MonkeyPatch.context() as mp:
        disk = FaultyDisk().install(mp, tmp / "run")
        events, error = run(tmp, corpus)
    assert error is None and isinstance(events[-1], Finished)
    return disk.ops


def fault_points(ops, kinds):
    """The operations of `kinds` to fail: for each file the first of each kind in its first and in its
    second save (when an earlier version exists that the fault must not harm); for metrics.jsonl the
    first before and the first after the first model save."""
    saves, seen, points = Counter(), set(), []
    for i, (name, kind) in enumerate(ops):
        if kind == "create":
            saves[name] += 1
        key = (name, kind, saves["last.s2s"] > 0 if name == METRICS_FILE else saves[name])
        if kind in kinds and key not in seen and key[2] <= 2:
            seen.add(key)
            points.append(i)
    return points


def test_every_write_site_is_recorded(write_ops):
    names = {name for name, _ in write_ops}
    assert {"config.json", "metrics.jsonl", "best.s2s", "last.s2s", RESUME_FILE} <= names
    assert {kind for _, kind in write_ops} == {"create", "write", "replace", "open"}


# A full disk fails writes; a read-only folder fails creating and renaming files.
@pytest.mark.parametrize("code, kinds", [(errno.ENOSPC, {"write"}), (errno.EROFS, {"create", "replace", "open"})],
                         ids=["full-disk", "read-only"])
def test_a_failing_write_anywhere_names_the_file_and_harms_nothing_written_before(code, kinds, corpus, write_ops,
                                                                                 tmp_path):
    message = os.strerror(code)
    tried, resumed = [], []
    for n, i in enumerate(fault_points(write_ops, kinds)):
        name, kind = write_ops[i]
        work = tmp_path / f"{n}"
        work.mkdir()
        with pytest.MonkeyPatch.context() as mp:
            disk = FaultyDisk(fail_at=i, code=code).install(mp, work / "run")
            events, error = run(work, corpus)
        told = str(error) if error else events[-1].message if events and isinstance(events[-1], Failed) else None
        assert told is not None, (name, kind, events[-1:] or error)
        assert name in told and message in told, (name, kind, told)
        after = snapshot(work / "run")
        for file, data in disk.before.items():  # every file written before the fault is intact
            if file == METRICS_FILE:
                assert after[file].startswith(data), (name, kind)
            else:
                assert after.get(file) == data, (name, kind, file)
        assert not [f for f in after if f.endswith(".tmp")], (name, kind, sorted(after))
        for model in ("best.s2s", "last.s2s"):
            if model in after:
                load_model(work / "run" / model)
        if METRICS_FILE in after:
            read_metrics(work / "run" / METRICS_FILE)
        if RESUME_FILE in after:  # the disk is fixed: the run goes on to the end
            load_resume(work / "run")
            events, error = run(work, corpus, resume=True)
            assert error is None and isinstance(events[-1], Finished) and events[-1].step == 6, (name, kind)
            logged = read_metrics(work / "run" / METRICS_FILE)
            steps = [e.step for e in continued(logged) if isinstance(e, StepReport)]
            assert steps == sorted(set(steps)) and steps[-1] == 6  # the curve continues, never doubles back
            resumed.append(len([e for e in logged if isinstance(e, StepReport)]) - len(steps))
        tried.append((name, kind))
    assert {n for n, _ in tried} == {"config.json", METRICS_FILE, "best.s2s", "last.s2s", RESUME_FILE}
    assert len(tried) == len(fault_points(write_ops, kinds)) >= 9
    assert len(resumed) >= 3 and max(resumed) > 0  # some resumes redid logged steps, and those were dropped


def test_a_killed_writes_leftovers_go_when_the_run_resumes_and_nothing_else(corpus, tmp_path):
    from s2s_desktop.engine.formats.atomic import remove_leftovers
    from s2s_desktop.engine.training.run_folder import written_by_the_trainer

    events, error = run(tmp_path, corpus)
    assert error is None
    folder = tmp_path / "run"
    ours = ["best.s2s.k3x_9a0q.tmp", "resume.safetensors.abcdefgh.tmp", "step-0000003.s2s.12345678.tmp"]
    theirs = ["notes.txt.abcdefgh.tmp", "best.s2s.tmp", "mine.s2s.abcdefgh.tmp"]
    for name in ours + theirs:
        (folder / name).write_bytes(b"half")
    assert sorted(remove_leftovers(folder, written_by_the_trainer)) == sorted(ours)
    assert all((folder / name).exists() for name in theirs)
    (folder / ours[0]).write_bytes(b"half")
    events, error = run(tmp_path, corpus, resume=True)  # finished already: resumes, and stops at once
    assert not (folder / ours[0]).exists()


def test_atomically_written_files_get_the_mode_a_plain_write_gives(tmp_path):
    """mkstemp creates 0600 files: models saved that way could not be read by another account."""
    from s2s_desktop.engine.formats.atomic import atomic_write

    atomic_write(tmp_path / "new.s2s", b"x")
    (tmp_path / "plain").write_bytes(b"x")
    assert (tmp_path / "new.s2s").stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777 != 0o600
    os.chmod(tmp_path / "new.s2s", 0o640)
    atomic_write(tmp_path / "new.s2s", b"y")  # a replaced file keeps its mode
    assert (tmp_path / "new.s2s").stat().st_mode & 0o777 == 0o640


def test_a_folder_made_read_only_during_a_save_still_gives_the_named_error(tmp_path, monkeypatch):
    """Found by bench/faults.py: the folder became read-only after the temporary file was created, so
    the rename failed and so did deleting the temporary file, whose PermissionError replaced the
    CheckpointError (the CLI then printed only the temporary file's name)."""
    from s2s_desktop.engine.formats import atomic
    from s2s_desktop.errors import CheckpointError

    def denied(*args):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(atomic, "os", os_with(replace=denied, unlink=denied))
    with pytest.raises(CheckpointError, match=f"Could not write {tmp_path / 'best.s2s'}: Permission denied"):
        atomic.atomic_write(tmp_path / "best.s2s", b"data")


def test_after_a_write_cut_short_the_next_event_starts_a_new_line(tmp_path, monkeypatch):
    """A full disk took half of a metrics.jsonl line; the Failed event written next was glued to it,
    and the log lost both."""
    from s2s_desktop.engine.api import Notice
    from s2s_desktop.engine.training.run_folder import MetricsLog
    from s2s_desktop.errors import TrainingError

    log = MetricsLog(tmp_path / METRICS_FILE)
    log.write(Notice(1, "first"))
    log._fh = FaultyFile(log._fh, FaultyDisk(fail_at=0), METRICS_FILE)  # the next write fails half-way
    with pytest.raises(TrainingError, match="No space left on device"):
        log.write(Notice(2, "cut short"))
    log.write(Notice(3, "after"))
    log.close()
    assert [e.message for e in read_metrics(tmp_path / METRICS_FILE)] == ["first", "after"]
