"""Hypothesis strategies for hostile values and for mutations of a valid file's fields (not only its bytes)."""

from __future__ import annotations

import json
import os
import struct
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# the CI budget; bench/fuzz.py raises it (S2S_FUZZ_EXAMPLES) and varies the seed
EXAMPLES = int(os.environ.get("S2S_FUZZ_EXAMPLES", "30"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize="S2S_FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])

EDGE_INTS = st.sampled_from([0, -1, 1, 2, 3, 255, 2**31 - 1, 2**31, 2**32, 2**53, 2**63 - 1, 2**63, 2**64, 10**12, -2**63])
SCALARS = (st.none() | st.booleans() | EDGE_INTS | st.integers(-2**70, 2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=40)
           | st.sampled_from(["", "0", "-1", "1e400", "NaN", "\x00", "a" * 5000, "../../etc/passwd", "ünï", "\ud800"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=10)


def dumps(value: Any) -> str:
    """JSON as a hostile writer might produce it: NaN and Infinity tokens, lone surrogates escaped."""
    return json.dumps(value, allow_nan=True)


def paths_of(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path inside nested dicts and lists (the fields a mutation may replace)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths_of(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:6]):
            out += paths_of(v, prefix + (i,))
    return out


def replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = replaced(copy[path[0]], path[1:], new)
    return copy


def split_safetensors(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def join_safetensors(header: dict, body: bytes) -> bytes:
    raw = dumps(header).encode("utf-8", "surrogatepass")
    return struct.pack("<Q", len(raw)) + raw + body


class Hostile(bytes):
    """Bytes whose repr (in a failure report) is the change that made them, not the whole file."""

    what: str = ""

    def __repr__(self) -> str:
        return f"<{len(self)} bytes: {self.what[:400]}>"


def hostile(data: bytes, what: str) -> Hostile:
    out = Hostile(data)
    out.what = what
    return out


@st.composite
def mutated_safetensors(draw, data: bytes, json_fields: tuple[str, ...] = ()) -> Hostile:
    return hostile(*draw(_mutations(data, json_fields)))


@st.composite
def _mutations(draw, data: bytes, json_fields: tuple[str, ...]) -> tuple[bytes, str]:
    """One hostile change to a valid safetensors file: a field of a JSON string inside its metadata, a
    metadata entry, a tensor's shape, dtype or offsets, the header length, flipped bytes, or a cut."""
    header, body = split_safetensors(data)
    kind = draw(st.sampled_from(["json_field", "metadata", "tensor", "length", "flip", "truncate"]))
    if kind == "json_field" and json_fields:
        field = draw(st.sampled_from(json_fields))
        inner = json.loads(header["__metadata__"][field])
        path = draw(st.sampled_from(paths_of(inner) or [()]))
        value = draw(VALUES)
        new = replaced(inner, path, value) if path else value
        meta = {**header["__metadata__"], field: dumps(new)}
        return join_safetensors({**header, "__metadata__": meta}, body), f"{field}{list(path)} = {value!r}"
    if kind in ("metadata", "json_field"):
        key = draw(st.sampled_from(sorted(header["__metadata__"]) + ["format_version", "format"]))
        value = draw(VALUES)
        return (join_safetensors({**header, "__metadata__": {**header["__metadata__"], key: value}}, body),
                f"__metadata__[{key!r}] = {value!r}")
    if kind == "tensor":
        name = draw(st.sampled_from(sorted(k for k in header if k != "__metadata__")))
        field = draw(st.sampled_from(["shape", "dtype", "data_offsets"]))
        value = draw(st.one_of(VALUES, st.lists(EDGE_INTS, min_size=0, max_size=4),
                               st.sampled_from(["F16", "BF16", "I64", "U8", "BOOL", "F8_E4M3", "F64", "X9"])))
        return join_safetensors({**header, name: {**header[name], field: value}}, body), f"{name}.{field} = {value!r}"
    if kind == "length":
        n = draw(EDGE_INTS | st.integers(0, len(data) * 2)) % 2**64
        return struct.pack("<Q", n) + data[8:], f"header length = {n}"
    if kind == "flip":
        out = bytearray(data)
        flips = []
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(out) - 1))
            out[at] = draw(st.integers(0, 255))
            flips.append((at, out[at]))
        return bytes(out), f"bytes set {flips}"
    cut = draw(st.integers(0, len(data) - 1))
    return data[:cut], f"cut at {cut}"
