"""Choosing where the engine runs: `auto` (CUDA when present, else CPU), `cpu`, `cuda` or `cuda:N`."""

from __future__ import annotations

import torch

from s2s_desktop.errors import ConfigError


def available_devices() -> list[str]:
    """Every device a user can pick: "cpu" then "cuda:0", "cuda:1", ..."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return devices


def device_label(device: str) -> str:
    dev = torch.device(device)
    if dev.type == "cuda":
        return f"{dev} ({torch.cuda.get_device_name(dev)})"
    n = torch.get_num_threads()
    return f"cpu ({n} thread{'' if n == 1 else 's'})"


def resolve_device(name: str | None, threads: int | None = None) -> torch.device:
    """Turn a user's device choice into a torch.device, with a clear error if it does not exist."""
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"--threads must be at least 1 (got {threads})")
        torch.set_num_threads(threads)
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} was requested but no CUDA GPU is available; use --device cpu")
        try:
            dev = torch.device(name)
        except RuntimeError as exc:
            raise ConfigError(f"invalid device {name!r}") from exc
        index = dev.index or 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s) found")
        return dev
    raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
