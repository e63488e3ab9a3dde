"""Writing safetensors files piece by piece.

`safetensors.torch.save` builds the whole file in memory while holding the GIL (about 50 ms for a
45 MB model, 150 ms for a resume state with optimizer moments), which freezes the desktop window
while a model trains on another thread. The format is simple (an 8-byte header length, a JSON
header, then the raw tensor bytes), so this module yields the header and then each tensor's own
memory: the file writes release the GIL. Files are read back with the safetensors library.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator

import torch

DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}


def serialize(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Iterator[memoryview | bytes]:
    """The chunks of a safetensors file holding `tensors` (CPU, any layout) and string `metadata`."""
    flat = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    header: dict[str, object] = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for name, t in flat.items():
        size = t.numel() * t.element_size()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # the data starts 8-byte aligned, as safetensors writes it
    yield struct.pack("<Q", len(raw)) + raw
    for t in flat.values():
        if t.numel():
            yield memoryview(t.view(-1).view(torch.uint8).numpy())
