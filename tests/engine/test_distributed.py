"""Distributed training on CPU: two gloo processes under torchrun train exactly like one process with
twice the batch, write one set of files, resume exactly, and stop promptly when a process dies."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from s2s_desktop.cli import main
from s2s_desktop.engine.api import ModelConfig, TrainConfig
from s2s_desktop.engine.data.batching import EpochBatches
from s2s_desktop.engine.data.dataset import prepare_data
from s2s_desktop.engine.decoding.service import Translator
from s2s_desktop.engine.formats.checkpoint import load_model
from s2s_desktop.engine.training.distributed import Ranks
from s2s_desktop.engine.training.loop import train
from s2s_desktop.engine.training.run_folder import METRICS_FILE, read_metrics
from s2s_desktop.errors import ConfigError

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the tests find worker processes through /proc")

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
B = 100  # --batch-tokens per process: a global batch of 2 x 100 tokens


def _pairs(rng: random.Random, n: int) -> str:
    lines = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 7))]
        lines.append(f"{' '.join(words)}\t{' '.join(reversed(words))}\n")
    return "".join(lines)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    """Reversal pairs, plus one pair too long to share a global batch: that batch holds one sentence,
    fewer than there are processes."""
    folder = tmp_path_factory.mktemp("corpus")
    rng = random.Random(5)
    long = " ".join(WORDS[i % 10] for i in range(40))
    train_tsv, valid_tsv = folder / "train.tsv", folder / "valid.tsv"
    train_tsv.write_text(_pairs(rng, 180) + f"{long}\t{' '.join(reversed(long.split()))}\n", encoding="utf-8")
    valid_tsv.write_text(_pairs(rng, 24), encoding="utf-8")
    return train_tsv, valid_tsv


def _args(corpus, out: Path, *extra: str) -> list[str]:
    train_tsv, valid_tsv = corpus
    return ["train", "--train", str(train_tsv), "--valid", str(valid_tsv), "--src-lang", "en", "--tgt-lang", "xx",
            "--vocab-size", "24", "--max-len", "400", "--emb-size", "32", "--encoder-hidden", "32",
            "--decoder-hidden", "64", "--threads", "1", "--log-every", "1", "--quiet", "--out", str(out), *extra]


def _run(argv: list[str], torchrun: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
    """`s2s train ... --nproc-per-node 2`, or the same under `torchrun -m s2s_desktop.cli`."""
    launcher = ["-m", "torch.distributed.run", "--nproc-per-node", "2"] if torchrun else []
    cmd = [sys.executable, *launcher, "-m", "s2s_desktop.cli", *argv]
    if not torchrun:
        cmd += ["--nproc-per-node", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, check=False)


def _steps(run_dir: Path) -> list[dict]:
    return [e.to_json() for e in read_metrics(run_dir / METRICS_FILE) if e.kind == "step"]


@pytest.fixture(scope="module")
def two_ranks(corpus, tmp_path_factory) -> Path:
    """One epoch on 2 processes x B tokens (dropout 0, so that it can be compared with one process)."""
    run_dir = tmp_path_factory.mktemp("two") / "run"
    proc = _run(_args(corpus, run_dir, "--batch-tokens", str(B), "--dropout", "0", "--max-epochs", "1"))
    assert proc.returncode == 0, proc.stderr
    return run_dir


@pytest.fixture(scope="module")
def one_rank(corpus, tmp_path_factory) -> Path:
    """The same epoch in this process with 2 x B tokens per batch."""
    run_dir = tmp_path_factory.mktemp("one") / "run"
    threads = torch.get_num_threads()
    try:
        assert main(_args(corpus, run_dir, "--batch-tokens", str(2 * B), "--dropout", "0", "--max-epochs", "1")) == 0
    finally:
        torch.set_num_threads(threads)  # --threads 1 set it for this whole process
    return run_dir


def test_the_epoch_holds_a_batch_smaller_than_the_number_of_processes(corpus, tmp_path):
    """The comparison below includes a step where one process has no sentence of its own."""
    cfg = TrainConfig(out_dir=str(tmp_path), src_lang="en", tgt_lang="xx", train_tsv=str(corpus[0]),
                      valid_tsv=str(corpus[1]), vocab_size=24, max_len=400)
    data = prepare_data(cfg)
    batches = EpochBatches(data.train_src, data.train_tgt, 2 * B, cfg.seed).indices(0)
    assert min(len(b) for b in batches) == 1
    assert Ranks(rank=1, world=2).batch_part(np.array([7]))[1] == 0.0  # it trains on a copy, weight 0


def test_two_ranks_train_like_one_rank_with_twice_the_batch(two_ranks, one_rank):
    two, one = _steps(two_ranks), _steps(one_rank)
    assert len(two) == len(one) > 10  # the whole epoch, step by step
    assert [e["tokens_seen"] for e in two] == [e["tokens_seen"] for e in one]  # same global batches
    for a, b in zip(two, one):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5), a["step"]
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4), a["step"]  # same gradient scale
    assert two[-1]["loss"] < two[0]["loss"] - 0.3  # it learned something
    w2, w1 = load_model(two_ranks / "last.s2s").model.state_dict(), load_model(one_rank / "last.s2s").model.state_dict()
    for name in w1:
        torch.testing.assert_close(w2[name], w1[name], rtol=1e-4, atol=1e-5)


def test_rank_zero_writes_one_set_of_files(two_ranks):
    assert sorted(p.name for p in two_ranks.iterdir()) == [
        "best.s2s", "config.json", "last.s2s", "metrics.jsonl", "resume.safetensors"
    ]
    events = [e.to_json() for e in read_metrics(two_ranks / METRICS_FILE)]
    kinds = [e["event"] for e in events]
    assert kinds.count("started") == kinds.count("finished") == 1
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert steps == list(range(1, len(steps) + 1))  # each step logged once
    assert events[0]["device"].endswith("x 2 processes")
    assert events[-1]["reason"] == "max-epochs"


def test_a_model_trained_on_two_ranks_translates_on_one_cpu(two_ranks):
    translator = Translator.open(two_ranks / "best.s2s", "cpu")
    (result,) = translator.translate(["one two three"])
    assert isinstance(result.text, str) and len(result.best.tokens) > 0


def test_resume_needs_the_same_number_of_processes(two_ranks):
    cfg = TrainConfig(out_dir=str(two_ranks), src_lang="-", tgt_lang="-", max_steps=1000)
    with pytest.raises(ConfigError, match="2 process"):
        list(train(ModelConfig(), cfg, resume=True))


def test_a_stopped_distributed_run_resumes_exactly(corpus, tmp_path):
    """With dropout each rank has its own random state; the resume state keeps all of them. The second
    half runs under plain torchrun (`torchrun -m s2s_desktop.cli train`)."""
    common = ["--batch-tokens", str(B), "--dropout", "0.3", "--valid-every", "3"]
    straight = _run(_args(corpus, tmp_path / "a", *common, "--max-steps", "6"))
    first = _run(_args(corpus, tmp_path / "b", *common, "--max-steps", "3"))
    assert straight.returncode == 0 and first.returncode == 0, straight.stderr + first.stderr
    resumed = _run(["train", "--out", str(tmp_path / "b"), "--resume", "--max-steps", "6", "--quiet"], torchrun=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at step 3" in resumed.stdout
    a, b = _steps(tmp_path / "a"), _steps(tmp_path / "b")
    assert [e["step"] for e in b] == list(range(1, 7))
    assert [e["loss"] for e in b] == [e["loss"] for e in a]


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _rank_of(pid: int) -> int | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    ranks = [int(v[5:]) for v in env if v.startswith(b"RANK=")]
    return ranks[0] if ranks else None


def test_a_killed_rank_stops_the_run_with_a_one_line_error(corpus, tmp_path):
    run_dir = tmp_path / "run"
    argv = _args(corpus, run_dir, "--batch-tokens", str(B), "--max-steps", "100000", "--nproc-per-node", "2")
    parent = subprocess.Popen([sys.executable, "-m", "s2s_desktop.cli", *argv], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 90
        while not (run_dir / METRICS_FILE).exists() or len(_steps(run_dir)) < 3:
            assert parent.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.2)
        (victim,) = [pid for pid in _children(parent.pid) if _rank_of(pid) == 1]
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        _, err = parent.communicate(timeout=60)
        seconds = time.monotonic() - killed
    finally:
        if parent.poll() is None:  # the test failed: leave no training processes behind
            for pid in _children(parent.pid):
                os.kill(pid, signal.SIGKILL)
            parent.kill()
    assert seconds < 20, seconds  # a dead peer is noticed at once, not after the process-group timeout
    assert parent.returncode != 0
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    # rank 0 says what it saw; the launcher ends with one line naming the process that died
    assert any("another process of the run probably failed or was killed" in line for line in lines[:-1]), err
    assert lines[-1].startswith("s2s: error: distributed training failed: rank 1 (pid ")
    assert f"(pid {victim}) was killed by SIGKILL" in lines[-1]


def test_the_failure_line_names_the_killed_process_first():
    from types import SimpleNamespace

    from s2s_desktop.engine.training.distributed import _describe_failures

    def line(**exitcodes):
        return _describe_failures(SimpleNamespace(failures={
            int(rank[1:]): SimpleNamespace(exitcode=code, pid=100 + int(rank[1:])) for rank, code in exitcodes.items()
        }))

    assert line(r0=1, r1=-9) == "rank 1 (pid 101) was killed by SIGKILL; rank 0 exited with status 1 (see the error above)"
    assert line(r0=-15, r1=2) == "rank 1 exited with status 2; torchrun stopped rank 0 (see the error above)"
    assert line(r0=-9, r1=1) == "rank 0 (pid 100) was killed by SIGKILL; rank 1 exited with status 1"  # rank 0 said nothing
