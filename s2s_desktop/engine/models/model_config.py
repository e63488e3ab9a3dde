"""`ModelConfig`: the fields every architecture has, and one section of fields per architecture.

Torch-free (the GUI and the CLI parser read it); `engine.api` re-exports it. In memory the fields of an
architecture live in its section (`cfg.rnn.cell`, `cfg.transformer.heads`); the other sections are None.
On disk (model files, config.json, metrics.jsonl) a config is one flat JSON object, the common fields
and those of its architecture's section, as the CLI flags spell them:

    {"arch": "transformer", "src_vocab_size": 8000, ..., "heads": 4, "ff_size": 1024, ...}

Files written before the sections existed hold every architecture's fields in that object; the fields
of another architecture never had an effect and are ignored on reading (as by the constructor).

A new architecture adds its section class here and one `ModelConfig` field that names it in its
metadata; a new variant of an architecture adds one field, with a default that keeps today's models,
to its section. Fields with `help` become `s2s train` flags; `choices` and `minimum` are checked by
`engine.config.validate_model_config`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from s2s_desktop.errors import ConfigError


def _field(default: Any, help: str = "", *, choices: tuple[str, ...] | None = None, minimum: float | None = None,
           variant: bool = False):
    """`variant`: a field added after files existed; `to_dict` leaves it out at its default, so a model
    that does not use it is written as before (and opens in the versions before the field)."""
    return field(default=default, metadata={"help": help, "choices": choices, "minimum": minimum, "variant": variant})


@dataclass(frozen=True)
class RnnConfig:
    """A bidirectional GRU/LSTM encoder and an attention decoder (Luong: one batched call over the
    target; Bahdanau: step-wise with input feeding)."""

    cell: str = _field("gru", "RNN cell: gru or lstm", choices=("gru", "lstm"))
    attention: str = _field(
        "luong-general", "bahdanau (step-wise, input feeding), luong-dot or luong-general (fast, one batched matmul)",
        choices=("bahdanau", "luong-dot", "luong-general"),
    )
    encoder_hidden: int = _field(256, "encoder RNN size per direction", minimum=1)  # the encoder is bidirectional
    encoder_layers: int = _field(1, "encoder layers", minimum=1)
    decoder_hidden: int = _field(512, "decoder RNN size", minimum=1)
    decoder_layers: int = _field(1, "decoder layers", minimum=1)


@dataclass(frozen=True)
class TransformerConfig:
    """A Transformer with sinusoidal positions; d_model is `ModelConfig.emb_size`.

    The fields after the sizes are the variants an imported model needs (a Hugging Face Marian / OPUS-MT
    model is post-norm, SiLU, sines-then-cosines, without a final LayerNorm); their defaults are the
    models trained here, so every file written before they existed loads as it did, and `to_dict` leaves
    them out at their defaults (a model that uses none of them is written as before)."""

    heads: int = _field(4, "Transformer attention heads (d_model = --emb-size)", minimum=1)
    ff_size: int = _field(1024, "Transformer feed-forward size", minimum=1)
    encoder_layers: int = _field(1, "encoder layers", minimum=1)
    decoder_layers: int = _field(1, "decoder layers", minimum=1)
    norm_position: str = _field("pre", "LayerNorm placement: pre (x + f(LN(x))) or post (LN(x + f(x)), as Marian)",
                                choices=("pre", "post"), variant=True)
    final_norm: bool = _field(True, "a LayerNorm after the last encoder and the last decoder layer", variant=True)
    activation: str = _field("relu", "feed-forward activation: relu, gelu, gelu_tanh or silu (swish)",
                             choices=("relu", "gelu", "gelu_tanh", "silu"), variant=True)
    position_layout: str = _field(
        "interleaved", "sinusoid table: interleaved (sin at even, cos at odd dimensions) or concatenated "
        "(all sines, then all cosines, as Marian)", choices=("interleaved", "concatenated"), variant=True)
    scale_embedding: bool = _field(True, "multiply the embeddings by sqrt(d_model) before adding the positions",
                                   variant=True)


@dataclass(frozen=True, init=False)
class ModelConfig:
    """Architecture and sizes of a model; saved inside every model file.

    Built as `ModelConfig(arch="rnn", emb_size=64, rnn=RnnConfig(cell="lstm"))`, or with the section's
    fields given flat, as files and flags spell them: `ModelConfig(arch="rnn", emb_size=64, cell="lstm")`
    (both at once: the flat ones win). A section may also be given as a dict (`dataclasses.asdict`).
    """

    arch: str = _field("rnn")  # a name in engine/models/registry.py: "rnn" or "transformer"
    src_vocab_size: int = _field(8000, minimum=5)
    tgt_vocab_size: int = _field(8000, minimum=5)
    emb_size: int = _field(256, "embedding size", minimum=1)  # d_model for a Transformer
    dropout: float = _field(0.3, "dropout probability")
    tie_output: bool = _field(False, "the output layer reuses the target embeddings")
    share_embeddings: bool = _field(False, "one embedding matrix for source and target (needs --joint-vocab)")
    # One section per architecture: the one named by `arch` is set, the others are None.
    rnn: RnnConfig | None = field(default=None, metadata={"section": RnnConfig})
    transformer: TransformerConfig | None = field(default=None, metadata={"section": TransformerConfig})

    def __init__(self, **values: Any) -> None:
        for f in fields(self):
            if f.name not in SECTIONS:
                object.__setattr__(self, f.name, values.pop(f.name, f.default))
        if self.arch not in SECTIONS:
            raise ConfigError(f"unknown architecture {self.arch!r} (use {' or '.join(SECTIONS)})")
        section_cls = SECTIONS[self.arch]
        own = {f.name for f in fields(section_cls)}
        section = values.pop(self.arch, None)
        if isinstance(section, Mapping):
            section = section_cls(**section)
        elif section is None:
            section = section_cls()
        elif not isinstance(section, section_cls):
            raise TypeError(f"ModelConfig: {self.arch}= must be a {section_cls.__name__}, not {type(section).__name__}")
        flat = {name: values.pop(name) for name in list(values) if name in own}
        for name in SECTIONS:
            object.__setattr__(self, name, dataclasses.replace(section, **flat) if name == self.arch else None)
            values.pop(name, None)  # another architecture's section: ignored, like its fields
        unknown = sorted(name for name in values if name not in _SECTION_FIELDS)
        if unknown:
            raise TypeError(f"ModelConfig: unknown field(s) {', '.join(unknown)}")

    @property
    def arch_config(self) -> Any:
        """The section of this config's architecture (an RnnConfig, a TransformerConfig, ...)."""
        return getattr(self, self.arch)

    def to_dict(self) -> dict[str, Any]:
        """The flat JSON form: common fields, then the architecture's own."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in SECTIONS}
        section = self.arch_config
        for f in fields(section):
            value = getattr(section, f.name)
            if not (f.metadata.get("variant") and value == f.default):
                out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Any config written so far: flat (with or without other architectures' fields) or nested."""
        where = "model config"
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
        common = {f.name for f in fields(cls)}
        unknown = sorted(k for k in data if k not in common and k not in _SECTION_FIELDS)
        for name, section_cls in SECTIONS.items():
            nested = data.get(name)
            if nested is not None and not isinstance(nested, dict):
                raise ConfigError(f"{where}: {name} must be an object, got {type(nested).__name__}")
            own = {f.name for f in fields(section_cls)}
            unknown += [f"{name}.{k}" for k in sorted(set(nested or ()) - own)]
        if unknown:
            raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}")
        try:
            cfg = cls(**data)
        except TypeError as exc:
            raise ConfigError(f"{where}: {exc}") from exc
        for part in (cfg, cfg.arch_config) if cfg.arch in SECTIONS else (cfg,):
            _check_types(part, where)
        return cfg


def _check_types(part: Any, where: str) -> None:
    """Each field of the type its default has (a file is hostile: "heads": null or "emb_size": 1e400 must
    be refused by name here, not fail somewhere inside torch)."""
    for f in fields(part):
        value, default = getattr(part, f.name), f.default
        if f.name in SECTIONS or default is None or value is None and default is None:
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        else:
            continue
        if not ok:
            raise ConfigError(f"{where}: {f.name} must be a {type(default).__name__} (got {value!r:.80})")


# Architecture name -> its section class, from the fields above (the registry names the same ones).
SECTIONS: dict[str, type] = {f.name: f.metadata["section"] for f in fields(ModelConfig) if "section" in f.metadata}
_SECTION_FIELDS = {f.name for cls in SECTIONS.values() for f in fields(cls)}
