"""What a .s2s model file says about itself, read from its safetensors header alone, without torch.

The model library (s2s_desktop/library.py) lists every model the app knows, in the window and for
`s2s translate --from --to`; opening each one with torch to learn its languages would take seconds
per file and import torch on the UI thread. The header is a few kilobytes at the start of the file:
reading it is enough to know the languages, the architecture, the parameter count, the training
scores and where an imported model came from, and to tell a foreign, pickled, truncated or newer
file apart with the same messages as `formats/checkpoint.py`, which reads the weights too.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s2s_desktop.engine.training.run_folder import BEST_FILE, LAST_FILE, RESUME_FORMAT
from s2s_desktop.errors import CheckpointError

FORMAT_NAME = "s2s-desktop-model"  # the "format" in a model file's metadata (formats/checkpoint.py writes it)
FORMAT_VERSION = 1  # the newest model format this version reads and the one it writes
MAX_HEADER = 100 * 1024 * 1024


@dataclass(frozen=True)
class ModelHeader:
    """The metadata of one model file (no weights)."""

    path: str
    file_size: int  # bytes
    src_lang: str
    tgt_lang: str
    model: dict[str, Any] = field(default_factory=dict)  # the ModelConfig dict
    parameters: int = 0  # counted from the header's tensor shapes
    storage: str = "float32"  # or "float16"
    training: dict[str, Any] = field(default_factory=dict)  # steps, epochs, best scores, corpus, ...
    provenance: dict[str, Any] = field(default_factory=dict)  # an imported model's origin; {} otherwise
    target_languages: tuple[str, ...] = ()  # a multilingual imported model's codes
    app_version: str | None = None

    @property
    def arch(self) -> str:
        return str(self.model.get("arch", "?"))

    @property
    def best(self) -> dict[str, Any]:
        """The best validation scores the file records (step, loss, ppl, bleu, chrf, ...), or {}."""
        best = self.training.get("best")
        return best if isinstance(best, dict) else {}


def read_model_header(path: str | os.PathLike) -> ModelHeader:
    """The header of a .s2s file; a `CheckpointError` that says what the file is when it is not one."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise CheckpointError(f"{path} is a folder; choose the .s2s model file inside it (e.g. best.s2s)")
        with path.open("rb") as fh:
            header_len = check_start(path, fh.read(9), size)
            fh.seek(8)
            raw = fh.read(header_len)
    except FileNotFoundError:
        raise CheckpointError(f"Model file not found: {path}") from None
    except OSError as exc:
        raise CheckpointError(f"Cannot read model file {path}: {exc.strerror or exc}") from exc
    return _parse(path, size, raw)


def check_start(path: Path, start: bytes, size: int) -> int:
    """The header length from a file's first 9 bytes, or what the file is instead (a pickle, too short,
    not safetensors, truncated). Shared with `checkpoint.read_header`, so both say the same."""
    if len(start) >= 9 and start[8:9] != b"{" and (start[:4] == b"PK\x03\x04" or start[:1] == b"\x80"):
        # (a safetensors header is JSON right after its 8-byte length, whatever that length's first byte)
        raise CheckpointError(
            f"{path} is a PyTorch pickle checkpoint, not an s2s-desktop model file. Pickles can run code, "
            "so s2s-desktop never opens them; use a .s2s file written by `s2s train`."
        )
    if len(start) < 9:
        raise CheckpointError(f"{path} is not an s2s-desktop model file (only {size} bytes; truncated?)")
    (header_len,) = struct.unpack("<Q", start[:8])
    if header_len > MAX_HEADER or 8 + header_len > size:
        if header_len <= MAX_HEADER and start[8:9] == b"{":
            raise CheckpointError(f"{path} is truncated: its header alone needs {8 + header_len} bytes, found {size}")
        raise CheckpointError(f"{path} is not an s2s-desktop model file (not in safetensors format)")
    return header_len


def check_header(path: Path, raw: bytes, size: int) -> dict[str, Any]:
    """The safetensors header (JSON) of a model file of `size` bytes, checked: ours (not a run's resume
    state, not another program's file), a format version this version reads, tensors inside the file."""
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise CheckpointError(f"{path} is not an s2s-desktop model file (unreadable header)") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} is not an s2s-desktop model file (its header is not a JSON object)")
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: its __metadata__ is not a JSON object")
    if metadata.get("format") == RESUME_FORMAT:
        run = path.resolve().parent
        raise CheckpointError(
            f"{path} is the resume state of the training run in {run} (optimiser and schedule state for "
            f"`s2s train --out {run} --resume`), not a model file; open {run / BEST_FILE} or {run / LAST_FILE} "
            "to translate or describe the model")
    if metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is a safetensors file from another program (no s2s-desktop metadata); "
                              "s2s-desktop can only open models it trained or imported")
    try:
        version = int(metadata.get("format_version", ""))
    except (ValueError, TypeError, OverflowError) as exc:
        raise CheckpointError(f"{path} has an invalid format version") from exc
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer s2s-desktop (model format {version}; this version "
                              f"reads up to {FORMAT_VERSION}). Update s2s-desktop to open it.")
    try:
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as exc:
        raise CheckpointError(f"{path} has a corrupt tensor list in its header ({exc})") from exc
    if 8 + len(raw) + end > size:
        raise CheckpointError(f"{path} is truncated: expected {8 + len(raw) + end} bytes, found {size} "
                              "(copy or download it again)")
    return header


def _parse(path: Path, size: int, raw: bytes) -> ModelHeader:
    header = check_header(path, raw, size)
    metadata = header["__metadata__"]
    try:
        shapes = [v["shape"] for k, v in header.items() if k.startswith("model.")]
        if not all(isinstance(s, list) and all(type(n) is int and n >= 0 for n in s) for s in shapes):
            # (checked before multiplying: ["00"] * 2**31 is a 4 GB string)
            raise TypeError("a tensor shape is not a list of whole numbers")
        parameters = sum(math.prod(s) for s in shapes)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise CheckpointError(f"{path} has a corrupt tensor list in its header ({exc})") from exc
    try:
        meta = json.loads(metadata["meta"])
        src, tgt = meta["src_lang"], meta["tgt_lang"]
        model = meta["model"]
        if not (isinstance(src, str) and isinstance(tgt, str) and isinstance(model, dict)):
            raise TypeError("src_lang, tgt_lang or model has the wrong type")
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} has corrupt metadata ({exc})") from exc
    tokenizer = meta.get("tokenizer") if isinstance(meta.get("tokenizer"), dict) else {}
    targets = tuple(str(t) for t in tokenizer.get("target_languages") or ())
    return ModelHeader(str(path), size, src, tgt, model, parameters, str(meta.get("storage") or "float32"),
                       _dict(meta.get("training")), _dict(meta.get("provenance")), targets,
                       meta.get("app_version") if isinstance(meta.get("app_version"), str) else None)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
