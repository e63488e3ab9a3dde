"""The weights of a Hugging Face Marian folder: read without running code, checked name by name.

`model.safetensors` is read with the safetensors library after its header has been checked here;
`pytorch_model.bin` only through `torch.load(weights_only=True)` (tensors and plain containers, no
code), and the caller shows the notice it returns. Whatever the file holds is then reduced to one
canonical set of names (see `marian.py` for the table): tied aliases are checked equal and dropped,
static position tables are checked against the sinusoids and dropped, every other unknown name is
refused. Tensors come back as float32 CPU tensors.
"""

from __future__ import annotations

import json
import math
import pickle
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from s2s_desktop.errors import MarianImportError

if TYPE_CHECKING:
    import torch

    from s2s_desktop.engine.formats.marian import MarianSpec

SAFETENSORS = "model.safetensors"
PYTORCH_BIN = "pytorch_model.bin"
MAX_HEADER = 100 * 1024 * 1024
FLOAT_DTYPES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8}
OTHER_DTYPES = {"I8": 1, "U8": 1, "I16": 2, "U16": 2, "I32": 4, "U32": 4, "I64": 8, "U64": 8, "BOOL": 1,
                "F8_E4M3": 1, "F8_E5M2": 1}
BIN_NOTICE = (
    "pytorch_model.bin was read with torch.load(weights_only=True): only tensors were unpickled and no code "
    "ran. Prefer a folder with model.safetensors when the repository offers one."
)
ENCODER_LAYER = (
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "self_attn_layer_norm",
    "fc1", "fc2", "final_layer_norm",
)
DECODER_LAYER = ENCODER_LAYER[:5] + (
    "encoder_attn.q_proj", "encoder_attn.k_proj", "encoder_attn.v_proj", "encoder_attn.out_proj",
    "encoder_attn_layer_norm", "fc1", "fc2", "final_layer_norm",
)
EMBEDDING_ALIASES = ("model.shared.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight")
POSITION_NAMES = ("model.encoder.embed_positions.weight", "model.decoder.embed_positions.weight")


def marian_sinusoids(length: int, dim: int) -> np.ndarray:
    """(length, dim) float32 position table exactly as MarianSinusoidalPositionalEmbedding builds it:
    angle(pos, j) = pos / 10000^(2*(j//2)/dim) in float64; sines of the even j fill the first
    ceil(dim/2) columns, cosines of the odd j the rest (concatenated, not interleaved)."""
    pos = np.arange(length, dtype=np.float64)[:, None]
    angle = pos / np.power(10000, 2 * (np.arange(dim) // 2) / dim)[None, :]
    half = dim // 2 + dim % 2
    out = np.empty((length, dim), dtype=np.float32)
    out[:, :half] = np.sin(angle[:, 0::2])
    out[:, half:] = np.cos(angle[:, 1::2])
    return out


def find_weights(folder: Path) -> tuple[Path, str | None]:
    """The weights file to read and the notice to show with it (None for safetensors)."""
    for name, notice in ((SAFETENSORS, None), (PYTORCH_BIN, BIN_NOTICE)):
        path = folder / name
        if path.is_file():
            return path, notice
    for index in (SAFETENSORS + ".index.json", PYTORCH_BIN + ".index.json"):
        if (folder / index).is_file():
            raise MarianImportError(f"{folder / index}: sharded weights are not supported (Marian models fit one file)")
    others = [n for n in ("tf_model.h5", "flax_model.msgpack", "model.npz") if (folder / n).is_file()]
    found = f" (found only {', '.join(others)})" if others else ""
    raise MarianImportError(f"{folder}: no {SAFETENSORS} or {PYTORCH_BIN}{found}")


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a Marian weights file, by its name in the file (not yet checked or renamed)."""
    if path.name == SAFETENSORS:
        return _read_safetensors(path)
    return _read_bin(path)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import safe_open

    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise MarianImportError(f"{path}: too short to be a safetensors file ({size} bytes)")
        (n,) = struct.unpack("<Q", head)
        if n < 2 or n > MAX_HEADER or 8 + n > size:
            raise MarianImportError(f"{path}: not a safetensors file (header length {n} for a {size}-byte file)")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MarianImportError(f"{path}: the safetensors header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise MarianImportError(f"{path}: the safetensors header is not a JSON object")
    data_size = size - 8 - n
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        _check_header_entry(path, name, entry, data_size)
    try:
        with safe_open(str(path), framework="pt") as f:
            return {name: f.get_tensor(name) for name in f.keys()}
    except Exception as exc:  # safetensors raises its own SafetensorError with Rust text
        raise MarianImportError(f"{path}: cannot be read as safetensors ({exc})") from exc


def _check_header_entry(path: Path, name: str, entry: object, data_size: int) -> None:
    if not isinstance(entry, dict):
        raise MarianImportError(f"{path}: header entry {name!r} is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or (dtype not in FLOAT_DTYPES and dtype not in OTHER_DTYPES):
        raise MarianImportError(f"{path}: tensor {name!r} has unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(is_int(d) and 0 <= d < 2**40 for d in shape):
        raise MarianImportError(f"{path}: tensor {name!r} has an invalid shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(is_int(o) for o in offsets)):
        raise MarianImportError(f"{path}: tensor {name!r} has invalid data_offsets {offsets!r}")
    start, end = offsets
    itemsize = FLOAT_DTYPES.get(dtype) or OTHER_DTYPES[dtype]
    if not 0 <= start <= end <= data_size or end - start != math.prod(shape) * itemsize:
        raise MarianImportError(
            f"{path}: tensor {name!r} data_offsets {offsets} do not fit its shape {shape} or the file"
        )


def _read_bin(path: Path) -> dict[str, torch.Tensor]:
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise MarianImportError(
            f"{path}: holds objects other than tensors, which weights_only loading refuses ({exc})"
        ) from exc
    except Exception as exc:  # zip errors, truncation, legacy formats torch cannot read
        raise MarianImportError(f"{path}: cannot be read with torch.load(weights_only=True) ({exc})") from exc
    if not isinstance(obj, Mapping):
        raise MarianImportError(f"{path}: expected a state dict (name -> tensor), got {type(obj).__name__}")
    out = {}
    for name, value in obj.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise MarianImportError(
                f"{path}: entry {name!r} is a {type(value).__name__}, expected a tensor named by a string"
            )
        out[name] = value
    return out


def canonical_tensors(raw: dict[str, torch.Tensor], spec: MarianSpec, path: Path) -> dict[str, torch.Tensor]:
    """The tensors under the canonical names of `marian.py`, float32, every shape checked.

    Raises MarianImportError naming the file and tensor for anything missing, misshapen, non-finite,
    contradictory (tied aliases that differ) or unknown."""
    import torch

    raw = dict(raw)
    if raw and not any(k.startswith("model.") for k in raw):  # saved from MarianModel: no "model." prefix
        raw = {(k if k in ("lm_head.weight", "final_logits_bias") else "model." + k): v for k, v in raw.items()}
    d, v = spec.d_model, spec.vocab_size
    out: dict[str, torch.Tensor] = {}

    def take(name: str, shape: tuple[int, ...]) -> torch.Tensor:
        if name not in raw:
            raise MarianImportError(f"{path}: tensor {name!r} is missing")
        return _as_float32(path, name, raw.pop(name), shape)

    for i in range(spec.encoder_layers):
        _take_layer(take, out, f"model.encoder.layers.{i}.", ENCODER_LAYER, d, spec.encoder_ffn_dim)
    for i in range(spec.decoder_layers):
        _take_layer(take, out, f"model.decoder.layers.{i}.", DECODER_LAYER, d, spec.decoder_ffn_dim)

    present = {name: _as_float32(path, name, raw.pop(name), (v, d)) for name in EMBEDDING_ALIASES if name in raw}
    if spec.share_encoder_decoder_embeddings:
        if not present:
            raise MarianImportError(f"{path}: tensor 'model.shared.weight' (the shared embeddings) is missing")
        groups = [list(present)]
    else:
        for name in EMBEDDING_ALIASES[1:]:
            if name not in present:
                raise MarianImportError(
                    f"{path}: tensor {name!r} is missing (config.json share_encoder_decoder_embeddings is false)"
                )
        groups = [["model.encoder.embed_tokens.weight"], ["model.decoder.embed_tokens.weight"]]
        if "model.shared.weight" in present:
            groups[0].insert(0, "model.shared.weight")  # HF keeps `shared` as the encoder's matrix
    for group in groups:
        first = present[group[0]]
        for alias in group[1:]:
            if not torch.equal(first, present[alias]):
                raise MarianImportError(f"{path}: tensors {group[0]!r} and {alias!r} should be one tied matrix")
    if spec.share_encoder_decoder_embeddings:
        out["model.shared.weight"] = present[groups[0][0]]
        target_embedding = out["model.shared.weight"]
    else:
        out["model.encoder.embed_tokens.weight"] = present[groups[0][0]]
        out["model.decoder.embed_tokens.weight"] = target_embedding = present["model.decoder.embed_tokens.weight"]

    if spec.tie_word_embeddings:
        if "lm_head.weight" in raw:
            head = _as_float32(path, "lm_head.weight", raw.pop("lm_head.weight"), (v, d))
            if not torch.equal(head, target_embedding):
                raise MarianImportError(
                    f"{path}: tensor 'lm_head.weight' differs from the target embeddings although config.json "
                    "tie_word_embeddings is true"
                )
    else:
        out["lm_head.weight"] = take("lm_head.weight", (v, d))
    if "final_logits_bias" in raw:
        out["final_logits_bias"] = take("final_logits_bias", (1, v))
    else:
        out["final_logits_bias"] = torch.zeros(1, v)  # what MarianMTModel uses when the file has none

    for name in POSITION_NAMES:
        if name in raw:
            table = take(name, (spec.max_position_embeddings, d))
            if not np.allclose(table.numpy(), marian_sinusoids(*table.shape), atol=1e-4):
                raise MarianImportError(
                    f"{path}: tensor {name!r} is not the static sinusoid table (learned positions are not supported)"
                )
    if raw:
        names = sorted(raw)
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        raise MarianImportError(f"{path}: unexpected tensor(s) {', '.join(map(repr, names[:5]))}{more}")
    return out


def _take_layer(take, out, prefix: str, parts: tuple[str, ...], d: int, ffn: int) -> None:
    for part in parts:
        if part == "fc1":
            shapes = {"weight": (ffn, d), "bias": (ffn,)}
        elif part == "fc2":
            shapes = {"weight": (d, ffn), "bias": (d,)}
        elif part.endswith("layer_norm"):
            shapes = {"weight": (d,), "bias": (d,)}
        else:
            shapes = {"weight": (d, d), "bias": (d,)}
        for kind, shape in shapes.items():
            name = f"{prefix}{part}.{kind}"
            out[name] = take(name, shape)


def _as_float32(path: Path, name: str, t: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    import torch

    if not t.is_floating_point():
        raise MarianImportError(f"{path}: tensor {name!r} has dtype {t.dtype}, expected floating point")
    if tuple(t.shape) != shape:
        raise MarianImportError(f"{path}: tensor {name!r} has shape {tuple(t.shape)}, config.json implies {shape}")
    t = t.detach().to(device="cpu", dtype=torch.float32).contiguous()
    if not bool(torch.isfinite(t).all()):
        raise MarianImportError(f"{path}: tensor {name!r} holds NaN or infinite values")
    return t


def is_int(x: object) -> bool:
    """An int that is not a bool (JSON true would pass isinstance(x, int))."""
    return isinstance(x, int) and not isinstance(x, bool)


def reject_constant(name: str):
    """json.loads parse_constant: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not allowed")


# -- renaming for s2s-desktop's Transformer ---------------------------------------------------------------
_OUR_PARTS = {
    "encoder": {"self_attn": "attn", "self_attn_layer_norm": "norm1", "fc1": "ff.0", "fc2": "ff.3",
                "final_layer_norm": "norm2"},
    "decoder": {"self_attn": "self_attn", "self_attn_layer_norm": "norm1", "encoder_attn": "cross_attn",
                "encoder_attn_layer_norm": "norm2", "fc1": "ff.0", "fc2": "ff.3", "final_layer_norm": "norm3"},
}


def s2s_name(name: str, spec: MarianSpec) -> str:
    """The name a canonical Marian tensor takes in `models.model.Seq2Seq` (table in `marian.py`)."""
    if name == "model.shared.weight" or name == "model.encoder.embed_tokens.weight":
        return "src_embed.weight"
    if name == "model.decoder.embed_tokens.weight":
        return "_tgt_embed.weight"
    if name == "lm_head.weight":
        return "output.weight"
    if name == "final_logits_bias":
        return "output_bias" if spec.tie_word_embeddings else "output.bias"
    side, _, i, rest = name.removeprefix("model.").split(".", 3)  # "encoder", "layers", i, "fc1.weight"
    module, _, leaf = rest.rpartition(".")
    head, _, proj = module.partition(".")  # "self_attn" "q_proj" or "fc1" ""
    ours = _OUR_PARTS[side][head]
    return f"{side}.layers.{i}.{ours}{'.' + proj if proj else ''}.{leaf}"


def s2s_state_dict(tensors: dict[str, torch.Tensor], spec: MarianSpec) -> dict[str, torch.Tensor]:
    """Canonical tensors renamed for `Seq2Seq.load_state_dict` (final_logits_bias flattened to (V,)).
    The model also needs the config fields listed under "What our Transformer must reproduce"."""
    return {s2s_name(k, spec): (t.reshape(-1) if k == "final_logits_bias" else t) for k, t in tensors.items()}
