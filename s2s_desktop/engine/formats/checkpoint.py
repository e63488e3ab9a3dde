"""Model files: one safetensors file holding weights, both SentencePiece models and JSON metadata.

Layout of a `.s2s` file (a valid safetensors file, so standard tools can list it):
  tensors   "model.<name>"    the weights (float32, or float16 when saved with half=True)
            "tokenizer.src"   uint8 bytes of the source SentencePiece model
            "tokenizer.tgt"   uint8 bytes of the target model (absent when the vocabulary is joint)
  metadata  "format" = "s2s-desktop-model", "format_version", "meta" = JSON (model config,
            languages, training summary)
An imported model (formats/marian_import.py) also holds
            "tokenizer.vocab" uint8 bytes of the JSON list of its pieces, in model-id order
  and in "meta": "tokenizer" (kind "marian", its special tokens and target languages), "generation"
  (the search rules and length limits of the original implementation) and "provenance".

Loading never unpickles: the header is checked by hand before safetensors reads the data, so
pickles, foreign files, truncated files and newer formats all get a `CheckpointError` that says what
the file is and what to do.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as st_load

from s2s_desktop import __version__
from s2s_desktop.engine.api import ModelConfig
from s2s_desktop.engine.data.marian_tokenizer import ImportedTokenizer, imported_tokenizers
from s2s_desktop.engine.data.tokenizer import Tokenizer
from s2s_desktop.engine.decoding.search import SearchRules
from s2s_desktop.engine.decoding.shortlist import Shortlist
from s2s_desktop.engine.formats.atomic import atomic_write
from s2s_desktop.engine.formats.model_header import FORMAT_NAME, FORMAT_VERSION, check_header, check_start
from s2s_desktop.engine.formats.safetensors_io import serialize
from s2s_desktop.engine.models.model import Seq2Seq, build_model
from s2s_desktop.errors import CheckpointError, S2SError

MODEL_SUFFIX = ".s2s"


@dataclass
class LoadedModel:
    model: Seq2Seq
    src_tok: Tokenizer
    tgt_tok: Tokenizer
    meta: dict[str, Any]
    path: str = ""
    shortlist: Shortlist | None = None  # the file's target-vocabulary shortlist (decoding/shortlist.py), if any

    @property
    def config(self) -> ModelConfig:
        return self.model.cfg

    @property
    def search_rules(self) -> SearchRules:
        return search_rules(self.meta)

    def length_limits(self, max_source: int, max_output: int) -> tuple[int, int]:
        """The source and output lengths (pieces, EOS included) decoding may use: the given ones, cut to
        what the file allows (an imported model: its position table and generation max_length)."""
        gen = self.meta.get("generation") or {}
        return (min(max_source, gen.get("max_source_tokens", max_source)),
                min(max_output, gen.get("max_output_tokens", max_output)))


@dataclass
class ModelMeta:
    """What a model file says about itself besides its weights."""

    src_lang: str
    tgt_lang: str
    joint_vocab: bool = False
    training: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # more "meta" entries: "generation", "provenance"


EXTRA_META = ("generation", "provenance")  # the entries of ModelMeta.extra that a file may hold


def bytes_tensor(data: bytes) -> torch.Tensor:
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8).copy())


def model_bytes(model: Seq2Seq, src_tok: Tokenizer, tgt_tok: Tokenizer, meta: ModelMeta, half: bool = False) -> bytes:
    """The whole model file in memory."""
    return b"".join(serialize(*_model_tensors(model, src_tok, tgt_tok, meta, half)))


def _model_tensors(model: Seq2Seq, src_tok: Tokenizer, tgt_tok: Tokenizer, meta: ModelMeta, half: bool = False,
                   shortlist: Shortlist | None = None):
    tensors: dict[str, torch.Tensor] = {} if shortlist is None else shortlist.tensors()
    for name, value in model.state_dict().items():
        value = value.detach().to("cpu")
        if half and value.is_floating_point():
            value = value.half()
        tensors["model." + name] = value.contiguous()
    tensors["tokenizer.src"] = bytes_tensor(src_tok.model_bytes)
    if not meta.joint_vocab:
        tensors["tokenizer.tgt"] = bytes_tensor(tgt_tok.model_bytes)
    imported = isinstance(src_tok, ImportedTokenizer)
    if imported:
        tensors["tokenizer.vocab"] = bytes_tensor(json.dumps(list(src_tok.vocab), ensure_ascii=False).encode("utf-8"))
    info = {
        "model": model.cfg.to_dict(),
        "src_lang": meta.src_lang,
        "tgt_lang": meta.tgt_lang,
        "joint_vocab": meta.joint_vocab,
        "training": meta.training,
        "app_version": __version__,
        "storage": "float16" if half else "float32",
    }
    if imported:
        info["tokenizer"] = src_tok.file_meta()
    info.update({k: v for k, v in meta.extra.items() if k in EXTRA_META})
    header = {"format": FORMAT_NAME, "format_version": str(FORMAT_VERSION), "meta": json.dumps(info)}
    return tensors, header


def save_model(path, model: Seq2Seq, src_tok: Tokenizer, tgt_tok: Tokenizer, meta: ModelMeta, half=False,
               shortlist: Shortlist | None = None) -> None:
    atomic_write(path, serialize(*_model_tensors(model, src_tok, tgt_tok, meta, half, shortlist)))


def resave(loaded: LoadedModel, path, shortlist: Shortlist | None) -> LoadedModel:
    """`loaded` written to `path` as it was read (weights, storage, tokenizers, metadata), with `shortlist`
    in place of its own; returns the new file read back."""
    info = loaded.meta
    save_model(path, loaded.model, loaded.src_tok, loaded.tgt_tok, meta_of(info), info.get("storage") == "float16",
               shortlist)
    return load_model(path)


def meta_of(info: dict[str, Any], training: dict[str, Any] | None = None) -> ModelMeta:
    """The ModelMeta that writes a read file's metadata `info` again (`training` in place of its own)."""
    return ModelMeta(info["src_lang"], info["tgt_lang"], info.get("joint_vocab", False),
                     dict(info.get("training", {})) if training is None else training,
                     {k: info[k] for k in EXTRA_META if k in info})


def read_header(path: str | os.PathLike) -> tuple[dict[str, Any], bytes]:
    """Read and check a model file's bytes and safetensors header; return (header, file bytes). The checks
    are model_header's, which the model library runs on the header alone."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"Model file not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; choose the .s2s model file inside it (e.g. best.s2s)")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"Cannot read model file {path}: {exc.strerror or exc}") from exc
    header_len = check_start(path, data[:9], len(data))
    return check_header(path, data[8 : 8 + header_len], len(data)), data


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedModel:
    header, data = read_header(path)
    try:
        info = json.loads(header["__metadata__"]["meta"])
        _check_meta(info)
        cfg = ModelConfig.from_dict(info["model"])
    except (KeyError, ValueError, TypeError, S2SError) as exc:
        raise CheckpointError(f"{path} has corrupt metadata ({exc})") from exc
    try:
        tensors = st_load(data)
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise CheckpointError(f"{path} is corrupt: {exc}") from exc
    try:
        if info.get("tokenizer") is not None:
            src_tok, tgt_tok = _imported_tokenizers(info["tokenizer"], tensors)
        else:
            src_tok = Tokenizer(tensors.pop("tokenizer.src").numpy().tobytes())
            tgt_bytes = tensors.pop("tokenizer.tgt", None)
            tgt_tok = src_tok if tgt_bytes is None else Tokenizer(tgt_bytes.numpy().tobytes())
    except (KeyError, ValueError, TypeError, AttributeError, S2SError) as exc:
        raise CheckpointError(f"{path} has a missing or corrupt tokenizer ({exc})") from exc
    shortlist = Shortlist.from_tensors(path, tensors, cfg.src_vocab_size, cfg.tgt_vocab_size)
    state = {k[len("model.") :]: v.float() if v.is_floating_point() else v for k, v in tensors.items() if k.startswith("model.")}
    _check_shapes(path, cfg, {k: tuple(v.shape) for k, v in state.items()})
    try:
        model = build_model(cfg)
    except S2SError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0:3]
        raise CheckpointError(f"{path}: the weights do not match the model config ({' '.join(first)})") from exc
    if src_tok.vocab_size != cfg.src_vocab_size or tgt_tok.vocab_size != cfg.tgt_vocab_size:
        raise CheckpointError(f"{path}: the tokenizers do not match the model's vocabulary sizes")
    try:
        search_rules(info)
    except (ValueError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{path}: its generation rules are invalid ({exc})") from exc
    model.to(device).eval()
    if shortlist is not None:
        shortlist = shortlist.with_copies(src_tok, tgt_tok)
    return LoadedModel(model, src_tok, tgt_tok, info, str(path), shortlist)


_META_TYPES = {"src_lang": str, "tgt_lang": str, "training": dict, "provenance": dict, "storage": str,
               "app_version": str, "joint_vocab": bool, "tokenizer": dict, "generation": dict}


def _check_meta(info: Any) -> None:
    """The metadata's own fields of the types every reader assumes (raises TypeError naming the field)."""
    if not isinstance(info, dict):
        raise TypeError("the metadata is not a JSON object")
    for name in ("src_lang", "tgt_lang"):
        value = info.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > 32:
            raise TypeError(f"{name} must be a short language code (got {value!r:.40})")
    for name, kind in _META_TYPES.items():
        if info.get(name) is not None and not isinstance(info[name], kind):
            raise TypeError(f"{name} must be a {kind.__name__} (got {type(info[name]).__name__})")


def _check_shapes(path, cfg: ModelConfig, have: dict[str, tuple[int, ...]]) -> None:
    """The model the config describes, built on the meta device (no memory), has exactly the file's tensors:
    a hostile size ("emb_size": 10**9) or layer count is refused here, before anything is allocated."""
    sizes = {k: v for k, v in cfg.to_dict().items() if isinstance(v, int) and not isinstance(v, bool)}
    for name, value in sizes.items():
        if value > 2**31:
            raise CheckpointError(f"{path}: the model config's {name} ({value}) is too large")
    if any(n > len(have) for k, n in sizes.items() if k.endswith("_layers")):  # each layer holds a tensor
        raise CheckpointError(f"{path}: the model config asks for more layers than the file has tensors")
    try:
        with torch.device("meta"):
            skeleton = build_model(cfg)
    except S2SError as exc:
        raise CheckpointError(f"{path}: {exc}") from exc
    except (RuntimeError, ValueError, TypeError, OverflowError) as exc:  # sizes torch cannot even describe
        raise CheckpointError(f"{path}: the model config is invalid ({str(exc).splitlines()[0]})") from exc
    want = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    if want != have:
        missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
        wrong = sorted(k for k in set(want) & set(have) if want[k] != have[k])
        what = (f"missing {missing[0]}" if missing else f"unexpected {extra[0]}" if extra
                else f"{wrong[0]} is {list(have[wrong[0]])} in the file, {list(want[wrong[0]])} by the config")
        raise CheckpointError(f"{path}: the weights do not match the model config ({what})")


def _imported_tokenizers(meta: Any, tensors: dict[str, torch.Tensor]):
    """The tokenizers of an imported model: both SentencePiece models and the vocabulary in model-id order."""
    if not isinstance(meta, dict) or meta.get("kind") != "marian":
        kind = meta.get("kind") if isinstance(meta, dict) else meta
        raise ValueError(f"unknown tokenizer kind {kind!r} (this version reads 'marian')")
    vocab = json.loads(tensors.pop("tokenizer.vocab").numpy().tobytes().decode("utf-8"))
    if not isinstance(vocab, list):
        raise ValueError("tokenizer.vocab is not a list of pieces")
    src = tensors.pop("tokenizer.src").numpy().tobytes()
    tgt = tensors.pop("tokenizer.tgt").numpy().tobytes()
    return imported_tokenizers(src, tgt, vocab, meta)


def search_rules(meta: dict[str, Any]) -> SearchRules:
    """The search rules a model file asks for (an imported model's are those of its original implementation)."""
    rules = (meta.get("generation") or {}).get("rules")
    return SearchRules() if rules is None else SearchRules.from_dict(rules)


def average_models(paths: list[str | os.PathLike], out: str | os.PathLike, half: bool = False) -> LoadedModel:
    """Average the weights of several saves of one model (same config and tokenizers), as in the
    "average the last N checkpoints" recipes; the result's metadata is the last file's, plus the list
    of averaged files. One file with `half` is a plain conversion to float16 storage."""
    if len(paths) < (1 if half else 2):
        raise CheckpointError("averaging needs at least two model files (or one, to convert it with --half)")
    models = [load_model(p) for p in paths]
    first = models[0]
    for path, m in zip(paths[1:], models[1:]):
        if m.config != first.config:
            raise CheckpointError(f"{path} has a different model config than {paths[0]}; only saves of one run can be averaged")
        if m.src_tok.model_bytes != first.src_tok.model_bytes or m.tgt_tok.model_bytes != first.tgt_tok.model_bytes:
            raise CheckpointError(f"{path} has different tokenizers than {paths[0]}; only saves of one run can be averaged")
    states = [m.model.state_dict() for m in models]
    averaged = {
        k: (sum(s[k].float() for s in states) / len(states)).to(v.dtype) if v.is_floating_point() else v
        for k, v in states[-1].items()
    }
    last = models[-1]
    last.model.load_state_dict(averaged)
    info = dict(last.meta)
    training = dict(info.get("training", {}))
    training["averaged_from"] = [str(p) for p in paths]
    meta = meta_of(info, training)
    save_model(out, last.model, last.src_tok, last.tgt_tok, meta, half=half, shortlist=last.shortlist)
    return load_model(out)
