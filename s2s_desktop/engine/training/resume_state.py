"""Resume state of a training run: everything needed to continue exactly where a run stopped.

One file, `resume.safetensors` in the run folder, written atomically: model weights, the optimizer's
moment tensors, the RNG states and both tokenizers as tensors; the step, epoch, batch position,
schedule state and configs as JSON metadata. No pickle is involved, so even this app-written file
cannot run code when it is read back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load

from s2s_desktop.engine.data.tokenizer import Tokenizer
from s2s_desktop.engine.events import check_fields
from s2s_desktop.engine.formats.atomic import atomic_write
from s2s_desktop.engine.formats.checkpoint import bytes_tensor
from s2s_desktop.engine.formats.safetensors_io import serialize
from s2s_desktop.engine.training.run_folder import RESUME_FILE, RESUME_FORMAT
from s2s_desktop.errors import CheckpointError


@dataclass
class Progress:
    """Counters of a run; saved in the resume state and in the model file's training summary."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    tokens_seen: int = 0
    elapsed: float = 0.0  # training seconds, summed over resumes
    best_value: float | None = None  # best metric among scheduled evaluations (drives the schedule)
    bad_evals: int = 0  # scheduled evaluations since the last improvement (early stopping)
    best_file_value: float | None = None  # metric of the model in best.s2s (any evaluation)
    best_step: int = 0
    best_scores: dict[str, float] = field(default_factory=dict)
    lr_scale: float = 1.0  # reduce-on-plateau multiplier
    plateau_bad: int = 0
    kept_steps: list[int] = field(default_factory=list)
    last_eval_step: int = 0


def save_resume(
    run_dir: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    progress: Progress,
    configs: dict[str, Any],
    src_tok: Tokenizer,
    tgt_tok: Tokenizer,
    extra: dict[str, torch.Tensor] | None = None,
) -> None:
    """`extra`: more tensors to keep (the random states of a distributed run's other ranks)."""
    tensors: dict[str, torch.Tensor] = dict(extra or {})
    for name, value in model.state_dict().items():
        tensors["model." + name] = value.detach().cpu().contiguous()
    opt_state = optimizer.state_dict()
    scalars: dict[str, dict[str, float]] = {}
    for idx, per_param in opt_state["state"].items():
        for key, value in per_param.items():
            if torch.is_tensor(value) and value.dim() > 0:
                tensors[f"optim.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = float(value)
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    tensors["tokenizer.src"] = bytes_tensor(src_tok.model_bytes)
    tensors["tokenizer.tgt"] = bytes_tensor(tgt_tok.model_bytes)
    meta = {
        "progress": asdict(progress),
        "optim_groups": opt_state["param_groups"],
        "optim_scalars": scalars,
        "configs": configs,
    }
    atomic_write(run_dir / RESUME_FILE, serialize(tensors, {"format": RESUME_FORMAT, "state": json.dumps(meta)}))


@dataclass
class ResumeState:
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]

    @property
    def configs(self) -> dict[str, Any]:
        return self.meta["configs"]

    @property
    def progress(self) -> Progress:
        return Progress(**self.meta["progress"])

    def tokenizers(self) -> tuple[Tokenizer, Tokenizer]:
        src = Tokenizer(self.tensors["tokenizer.src"].numpy().tobytes())
        tgt_bytes = self.tensors["tokenizer.tgt"].numpy().tobytes()
        return src, (src if tgt_bytes == src.model_bytes else Tokenizer(tgt_bytes))

    def restore(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        prefix = "model."
        model.load_state_dict({k[len(prefix) :]: v for k, v in self.tensors.items() if k.startswith(prefix)})
        state: dict[int, dict[str, Any]] = {}
        for key, value in self.tensors.items():
            if key.startswith("optim."):
                _, idx, name = key.split(".", 2)
                state.setdefault(int(idx), {})[name] = value
        for idx, scalars in self.meta["optim_scalars"].items():
            for name, value in scalars.items():
                state.setdefault(int(idx), {})[name] = torch.tensor(value)
        optimizer.load_state_dict({"state": state, "param_groups": self.meta["optim_groups"]})
        torch.set_rng_state(self.tensors["rng.torch"])
        cuda = [self.tensors[k] for k in sorted(self.tensors) if k.startswith("rng.cuda.")]
        if cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])


def load_resume(run_dir: Path) -> ResumeState:
    path = Path(run_dir) / RESUME_FILE
    if not path.exists():
        raise CheckpointError(f"{run_dir} has no resume state ({RESUME_FILE}); it cannot be resumed")
    try:
        data = path.read_bytes()
        tensors = st_load(data)
        from safetensors import safe_open  # noqa: PLC0415  (only needed here)

        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
        if header.get("format") != RESUME_FORMAT:
            raise CheckpointError(f"{path} is not an s2s-desktop resume file")
        meta = json.loads(header["state"])
        state = ResumeState(tensors, meta)
        _check_state(state)
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(f"{path} is corrupt ({exc}); the run cannot be resumed from it") from exc
    return state


def _check_state(state: ResumeState) -> None:
    """What a resume reads later, read now (a file is hostile: a field of the wrong type is refused here,
    by name, not halfway through restoring a run)."""
    meta = state.meta
    if not isinstance(meta, dict):
        raise TypeError("its state is not a JSON object")
    for name, kind in (("progress", dict), ("configs", dict), ("optim_groups", list), ("optim_scalars", dict)):
        if not isinstance(meta.get(name), kind):
            raise TypeError(f"{name} must be a {kind.__name__}")
    check_fields(state.progress)
    for name in ("tokenizer.src", "tokenizer.tgt"):
        tensor = state.tensors.get(name)
        if tensor is None or tensor.dtype != torch.uint8 or tensor.dim() != 1:
            raise TypeError(f"{name} is missing or not a byte string")
    state.tokenizers()
