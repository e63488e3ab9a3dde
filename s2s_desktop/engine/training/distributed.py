"""Training in several processes under torchrun, with PyTorch's DistributedDataParallel.

`s2s train --nproc-per-node N ...` (see `launch`) or `torchrun --nproc-per-node N -m s2s_desktop.cli
train ...` starts N copies of the same training; each finds its place in the environment torchrun
sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR...). The trainer asks a `Ranks` object for everything
that involves the other processes; on a single process every method is a no-op, so a plain run is
untouched by all of this.

- Data: the batches are global, N x --batch-tokens each, from the same pure function of (seed, epoch)
  on every rank; rank r trains on sentences r, r+N, ... of each. Each rank divides its summed loss by
  (tokens of the global batch / N): DDP averages the gradients, so the update is exactly that of the
  global batch's per-token loss, as one process with N x --batch-tokens would make it.
- Control flow: what decides a branch (stop requests, time limits, non-finite losses, early stopping)
  goes through a collective, so every rank takes the same branch and no collective waits for a rank
  that went elsewhere. Reported numbers (loss, tokens/s, validation) are sums over the ranks.
- Files: rank 0 alone writes the run folder.
- Failures: a process that dies closes its connections, so the others' next collective fails at once
  (a `PeerFailure`) and torchrun stops whatever is left; `TIMEOUT` ends a collective whose peer hangs
  alive. An `S2SError` on one rank while a run starts is raised on every rank (`together`).
"""

from __future__ import annotations

import gc
import logging
import os
import re
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from s2s_desktop.engine.device import resolve_device
from s2s_desktop.errors import ConfigError, PeerFailure, S2SError, TrainingError

# Long enough for rank 0 to read the corpus and train SentencePiece, or to save, while the others
# wait; only a rank that hangs without dying takes this long to be noticed.
TIMEOUT = timedelta(minutes=30)
# Seconds torchrun gives the processes to stop and save after Ctrl+C before it kills them.
SHUTDOWN_SECONDS = 120


def launched() -> bool:
    """True in a process started by torchrun (or any launcher that sets RANK and WORLD_SIZE)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def launched_rank() -> int:
    return int(os.environ.get("RANK", "0")) if launched() else 0


@dataclass
class Ranks:
    """This process's place among the processes of one run; `Ranks()` is a single process."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def join(cls) -> Ranks:
        """Join the process group of the torchrun job this process belongs to (a single process
        otherwise). Control messages go through gloo on the CPU; tensors on a GPU through NCCL."""
        world = int(os.environ.get("WORLD_SIZE", "1")) if launched() else 1
        if world == 1:
            return cls()
        if not dist.is_available():
            raise ConfigError("this build of PyTorch has no torch.distributed; train in one process")
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        try:
            dist.init_process_group(backend, timeout=TIMEOUT)
        except (RuntimeError, ValueError) as exc:
            raise TrainingError(f"the processes of the distributed run could not connect: {_first_line(exc)}") from exc
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))

    def leave(self, finished: bool = False) -> None:
        """Leave the process group. After a run that `finished` on every rank (its control flow is
        collective, so all get here), wait for the others first: no rank tears its connections down
        while rank 0 still saves and a peer's last message is on its way."""
        if self.world > 1 and dist.is_initialized():
            if finished:
                with suppress(RuntimeError):  # a peer gone meanwhile: nothing left to wait for
                    dist.barrier()
            # Free DDP (the run has dropped it) while the interpreter is whole: left to its exit, a
            # process sometimes aborted there, with gloo's threads still running ("terminate called
            # without an active exception", about one run in ten; none in 40 with this).
            gc.collect()
            dist.destroy_process_group()

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, name: str | None, threads: int | None) -> torch.device:
        """`resolve_device`; in a run of several processes each takes the GPU of its local rank."""
        device = resolve_device(name, threads)
        if self.world == 1 or device.type != "cuda":
            return device
        if device.index is not None:
            raise ConfigError(
                f"--device {name} names one GPU, but a run of {self.world} processes uses one GPU each; "
                "use --device cuda (or auto)"
            )
        device = torch.device("cuda", self.local_rank)
        resolve_device(str(device))  # a clear error when this machine has fewer GPUs than processes
        torch.cuda.set_device(device)
        return device

    def label(self, device_label: str) -> str:
        return device_label if self.world == 1 else f"{device_label} x {self.world} processes"

    # -- sharing work --------------------------------------------------------------------------------
    def part(self, items: Sequence) -> Sequence:
        """Items rank, rank + N, ...: this rank's share of a list every rank holds."""
        return items if self.world == 1 else items[self.rank :: self.world]

    def batch_part(self, indices: np.ndarray) -> tuple[np.ndarray, float]:
        """This rank's sentences of a global batch and the weight of their loss. A rank left without
        sentences (a batch smaller than the number of ranks) trains on a copy of the first with
        weight 0: DDP needs every rank's backward pass, and a zero gradient leaves the sum right."""
        mine = self.part(indices)
        return (mine, 1.0) if len(mine) else (indices[:1], 0.0)

    def map(self, fn: Callable[[Sequence], list], items: Sequence) -> list:
        """fn over `items`, each rank taking its `part`; every rank gets all results, in order."""
        if self.world == 1:
            return fn(items)
        parts = self.gather(fn(self.part(items)))
        out: list = [None] * len(items)
        for rank, results in enumerate(parts):
            out[rank :: self.world] = results
        return out

    # -- collectives (no-ops on a single process) ----------------------------------------------------
    def sum(self, *values: float) -> tuple[float, ...]:
        if self.world == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        with self._collective():
            dist.all_reduce(t)
        return tuple(t.tolist())

    def any(self, flag: bool) -> bool:
        """True on every rank when `flag` is true on any of them."""
        if self.world == 1:
            return bool(flag)
        t = torch.tensor([1.0 if flag else 0.0])
        with self._collective():
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def gather(self, value: Any) -> list:
        """Every rank's `value` (picklable), on every rank."""
        if self.world == 1:
            return [value]
        out: list = [None] * self.world
        with self._collective():
            dist.all_gather_object(out, value)
        return out

    def from_main(self, fn: Callable[[], Any]) -> Any:
        """fn() run on rank 0 and sent to all; an S2SError there is raised on rank 0 and becomes a
        PeerFailure on the others (rank 0 reports it)."""
        if self.world == 1:
            return fn()
        box: list = [None]
        if self.is_main:
            try:
                box[0] = ("ok", fn())
            except S2SError as exc:
                box[0] = ("error", str(exc))
                self._broadcast(box)
                raise
        self._broadcast(box)
        status, value = box[0]
        if status == "error":
            raise PeerFailure(f"rank 0 failed: {value}")
        return value

    def _broadcast(self, box: list) -> None:
        with self._collective():
            dist.broadcast_object_list(box, src=0)

    @contextmanager
    def together(self) -> Iterator[None]:
        """Run a block (without collectives) on every rank; an S2SError in any rank's block is raised
        on all of them, so that no rank goes on to a collective that the failed one never joins."""
        try:
            yield
        except S2SError as exc:
            self._agree(str(exc))
            raise
        self._agree(None)

    def _agree(self, error: str | None) -> None:
        if self.world == 1:
            return
        for rank, message in enumerate(self.gather(error)):
            if message is not None and error is None:
                raise PeerFailure(f"rank {rank}: {message}")

    @contextmanager
    def _collective(self, what: str = "a message between the processes") -> Iterator[None]:
        try:
            yield
        except RuntimeError as exc:
            # NCCL reports a lost peer as a DistError, gloo as a RuntimeError from its own code.
            if not isinstance(exc, dist.DistError) and "gloo" not in str(exc):
                raise
            raise PeerFailure(
                f"{what} failed; another process of the run probably failed or was killed ({_first_line(exc)})"
            ) from exc

    # -- training ------------------------------------------------------------------------------------
    def loss_function(self, model: torch.nn.Module, fn: Callable) -> Callable:
        """batch -> fn(model, batch); in a run of several processes through DistributedDataParallel,
        which all-reduces the gradients during the backward pass."""
        if self.world == 1:
            return lambda batch: fn(model, batch)
        from torch.nn.parallel import DistributedDataParallel

        with self._collective("sending the initial weights"):
            # No buffer sync: the only buffer (a Transformer's position table) is a constant each
            # process may grow for itself.
            return DistributedDataParallel(_LossModule(model, fn), forward_sync_buffers=False)

    def backward(self, loss: torch.Tensor) -> None:
        if self.world == 1:
            loss.backward()
            return
        with self._collective("the gradient exchange"):
            loss.backward()

    def seed(self, seed: int) -> None:
        """Different dropout masks on each rank (rank 0 keeps the single-process stream)."""
        if self.rank > 0:
            torch.manual_seed(seed + self.rank)

    def rng_states(self) -> dict[str, torch.Tensor]:
        """Every rank's random state as resume-file tensors (rank 0's is saved as usual)."""
        if self.world == 1:
            return {}
        own = {"torch": torch.get_rng_state().numpy().tobytes()}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            own["cuda"] = torch.cuda.get_rng_state().numpy().tobytes()
        states = self.gather(own)
        return {
            f"rng.rank{rank}.{kind}": torch.frombuffer(bytearray(data), dtype=torch.uint8)
            for rank, state in enumerate(states)
            if rank > 0
            for kind, data in state.items()
        }

    def restore_rng(self, tensors: dict[str, torch.Tensor]) -> None:
        key = f"rng.rank{self.rank}."
        if self.rank > 0 and key + "torch" in tensors:
            torch.set_rng_state(tensors[key + "torch"])
            if key + "cuda" in tensors and torch.cuda.is_available():
                torch.cuda.set_rng_state(tensors[key + "cuda"])


class _LossModule(torch.nn.Module):
    """The training loss as a module's forward, the shape DistributedDataParallel wraps."""

    def __init__(self, model: torch.nn.Module, fn: Callable):
        super().__init__()
        self.model = model
        self.fn = fn

    def forward(self, batch):
        return self.fn(self.model, batch)


def _first_line(exc: BaseException) -> str:
    """The gist of an exception: gloo's "[file.cc:123] Connection reset by peer. This is ..." -> its first
    sentence without the source location."""
    text = re.sub(r"^\[[^\]]*\.(cc|cpp|h):\d+\]\s*", "", str(exc).strip())
    text = text.splitlines()[0] if text else type(exc).__name__
    return text.split(". ")[0]


# -- the launcher --------------------------------------------------------------------------------------
def check_launch(nproc_per_node: int, nnodes: int, node_rank: int) -> None:
    if nproc_per_node < 1 or nnodes < 1:
        raise ConfigError(f"--nproc-per-node and --nnodes must be at least 1 (got {nproc_per_node} and {nnodes})")
    if not 0 <= node_rank < nnodes:
        raise ConfigError(f"--node-rank must be between 0 and --nnodes - 1 = {nnodes - 1} (got {node_rank})")


def launch(
    module: str,
    argv: list[str],
    nproc_per_node: int,
    nnodes: int = 1,
    node_rank: int = 0,
    master_addr: str | None = None,
    master_port: int | None = None,
) -> None:
    """Run `python -m MODULE *argv` (the front end that asked, e.g. the CLI) in `nproc_per_node`
    processes on this machine (one of `nnodes`) with torchrun, in this process; returns when they have
    all finished.

    Raises TrainingError with one line when a process fails (torchrun has stopped the others by then),
    and KeyboardInterrupt after Ctrl+C (torchrun passes it on: the processes stop together and save).
    """
    check_launch(nproc_per_node, nnodes, node_rank)
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    args = ["--nproc-per-node", str(nproc_per_node), "--nnodes", str(nnodes), "--node-rank", str(node_rank),
            "--max-restarts", "0", "--shutdown-timeout", str(SHUTDOWN_SECONDS)]
    if master_addr:
        args += ["--master-addr", master_addr]
    if master_port:
        args += ["--master-port", str(master_port)]
    # Share the cores rather than torchrun's default of one thread per process (--threads overrides).
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc_per_node)))
    _quiet_torchrun_logs()  # its failure reports are replaced by the one line raised below
    try:
        torchrun.run(torchrun.parse_args([*args, "-m", module, *argv]))
    except ChildFailedError as exc:
        raise TrainingError(f"distributed training failed: {_describe_failures(exc)}") from None
    except SignalException as exc:
        raise KeyboardInterrupt from exc
    except Exception as exc:  # rendezvous problems: unreachable master, port in use, timeouts
        raise TrainingError(f"torchrun could not start the processes: {_first_line(exc)}") from exc


def _describe_failures(exc) -> str:
    """What happened to each process torchrun saw fail: killed ones first (the likely cause), then
    those that exited with an error, then those torchrun stopped (SIGTERM or SIGINT) because of them.
    Rank 0 prints the errors it knows of, unless it was killed."""
    stop_codes = (-signal.SIGTERM, -signal.SIGINT)
    killed, exited, stopped = [], [], []
    for rank, failure in sorted(exc.failures.items()):
        if failure.exitcode in stop_codes:
            stopped.append(str(rank))
        elif failure.exitcode < 0:
            killed.append(f"rank {rank} (pid {failure.pid}) was killed by {_signal_name(-failure.exitcode)}")
        else:
            exited.append(f"rank {rank} exited with status {failure.exitcode}")
    parts = killed + exited + ([f"torchrun stopped rank {', '.join(stopped)}"] if stopped else [])
    rank0 = exc.failures.get(0)
    rank0_killed = rank0 is not None and rank0.exitcode < 0 and rank0.exitcode not in stop_codes
    return "; ".join(parts) + (" (see the error above)" if exited and not rank0_killed else "")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _quiet_torchrun_logs() -> None:
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
