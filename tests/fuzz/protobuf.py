"""Field-level mutations of a SentencePiece model (a protobuf `ModelProto`), so that the fuzz properties
change what its fields say (a piece's score or type, a trainer or normalizer option, a length), not only
its bytes. A minimal wire-format reader and writer: no generated code, no protobuf dependency.

ModelProto: 1 pieces (repeated {1 piece: string, 2 score: float, 3 type: enum}), 2 trainer_spec,
3 normalizer_spec, 4 self_test_data, 5 denormalizer_spec.
"""

from __future__ import annotations

import struct

from hypothesis import strategies as st

from tests.fuzz.hostile import EDGE_INTS, hostile

Field = tuple[int, int, object]  # (number, wire type, int for varint / fixed, bytes for length-delimited)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("cut varint")
        b = data[at]
        value |= (b & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not b & 0x80:
            return value, at


def parse(data: bytes) -> list[Field]:
    """The fields of one message (ValueError when `data` is not a well-formed message)."""
    out, at = [], 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 1:
            value, at = int.from_bytes(data[at:at + 8], "little"), at + 8
        elif wire == 5:
            value, at = int.from_bytes(data[at:at + 4], "little"), at + 4
        elif wire == 2:
            n, at = _varint(data, at)
            value, at = data[at:at + n], at + n
        else:
            raise ValueError(f"wire type {wire}")
        if at > len(data) or number == 0:
            raise ValueError("cut field")
        out.append((number, wire, value))
    return out


def _put_varint(n: int) -> bytes:
    n &= 2**64 - 1
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def serialize(fields: list[Field]) -> bytes:
    out = bytearray()
    for number, wire, value in fields:
        out += _put_varint(number << 3 | wire)
        if wire == 0:
            out += _put_varint(value)
        elif wire == 1:
            out += (value % 2**64).to_bytes(8, "little")
        elif wire == 5:
            out += (value % 2**32).to_bytes(4, "little")
        else:
            out += _put_varint(len(value)) + value
    return bytes(out)


FLOATS = st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.0, -1e30, 1e30, -0.0])
TEXTS = st.sampled_from([b"", b"\x00", b"\xff\xfe", "\u2581".encode() * 3, b"a" * 70000, "\U0001f600".encode(),
                         b"<unk>", b"<s>", b"</s>", b"<pad>"]) | st.binary(max_size=40)


@st.composite
def _value(draw, wire: int, value: object) -> object:
    if wire == 0:
        return draw(EDGE_INTS | st.integers(0, 8)) % 2**64
    if wire == 5:
        return struct.unpack("<I", struct.pack("<f", draw(FLOATS)))[0]
    if wire == 1:
        return draw(EDGE_INTS) % 2**64
    if draw(st.booleans()):
        try:  # a nested message (a piece, the trainer or normalizer spec): change one of its fields
            inner = parse(value)
        except ValueError:
            inner = []
        if inner:
            i = draw(st.integers(0, len(inner) - 1))
            number, w, v = inner[i]
            inner[i] = (number, w, draw(_value(w, v)))
            return serialize(inner)
    return draw(TEXTS)


@st.composite
def mutated_sentencepiece(draw, data: bytes):
    """One hostile change to a valid SentencePiece model: a field's value (nested one level), a field
    dropped, repeated or added with an unknown number, a length that lies, flipped bytes, or a cut."""
    fields = parse(data)
    kind = draw(st.sampled_from(["value", "value", "drop", "repeat", "unknown", "length", "flip", "cut"]))
    i = draw(st.integers(0, len(fields) - 1))
    number, wire, value = fields[i]
    what = f"field {i} (#{number})"
    if kind == "value":
        fields[i] = (number, wire, draw(_value(wire, value)))
    elif kind == "drop":
        del fields[i]
    elif kind == "repeat":
        fields[i:i] = [fields[i]] * draw(st.integers(1, 3))
    elif kind == "unknown":
        fields.insert(i, (draw(st.integers(6, 2**29 - 1)), 0, draw(EDGE_INTS) % 2**64))
    if kind in ("value", "drop", "repeat", "unknown"):
        return hostile(serialize(fields), f"{kind} {what}")
    if kind == "length" and wire == 2:
        start = len(serialize(fields[:i]))
        key = _put_varint(number << 3 | wire)
        lie = draw(EDGE_INTS | st.integers(0, len(data))) % 2**64
        return hostile(serialize(fields[:i]) + key + _put_varint(lie) + value + serialize(fields[i + 1:]),
                       f"{what} at {start} claims {lie} bytes")
    if kind == "flip":
        out = bytearray(data)
        at = draw(st.integers(0, len(out) - 1))
        out[at] = draw(st.integers(0, 255))
        return hostile(bytes(out), f"byte {at} set to {out[at]}")
    cut = draw(st.integers(0, len(data) - 1))
    return hostile(data[:cut], f"cut at {cut}")
