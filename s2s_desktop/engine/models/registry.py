"""The architectures, by name: what the CLI, the training form, the presets and the model description
know about each one, without torch.

Each `Architecture` names its config section (engine/models/model_config.py), its size presets, the
variants the training form offers, a one-line description of a config, the checks across its fields,
and the torch module that builds it: that module has `build(cfg) -> (encoder, decoder)`, a pair that
follows the protocol of engine/models/protocol.py, and is imported only when a model is built.

Adding an architecture: its section in model_config.py, an `Architecture` here, its module beside
rnn.py and transformer.py, and a recipe named after it in presets.py; nothing else names it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from s2s_desktop.engine.models.model_config import SECTIONS, ModelConfig, RnnConfig, TransformerConfig
from s2s_desktop.errors import ConfigError


@dataclass(frozen=True)
class Variant:
    """One entry of the training form's architecture list: a label and the section fields it sets."""

    label: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Architecture:
    name: str  # ModelConfig.arch, --arch, and the name of its ModelConfig section
    label: str  # for people: "RNN", "Transformer"
    summary: str  # one line for --help
    config: type  # its section of ModelConfig
    module: str  # the torch module with build(cfg) -> (encoder, decoder)
    describe: Callable[[ModelConfig], str]  # "Transformer 3+3 layers, d_model 256, ..."
    check: Callable[[ModelConfig], None]  # checks across fields (each field's own are on the field)
    presets: Mapping[str, Mapping[str, Any]]  # size presets: name -> ModelConfig fields (flat names)
    default_preset: str | None = None  # the sizes used when none is chosen (None: the field defaults)
    variants: tuple[Variant, ...] = ()  # what the training form lists (default: one entry, the label)
    scheduled_sampling: bool = False  # whether --teacher-forcing below 1 is possible


_ARCHITECTURES: dict[str, Architecture] = {}


def register(arch: Architecture) -> None:
    if SECTIONS.get(arch.name) is not arch.config:
        raise ValueError(f"architecture {arch.name!r} needs a ModelConfig section {arch.name}: {arch.config.__name__}")
    _ARCHITECTURES[arch.name] = arch


def get(name: str) -> Architecture:
    try:
        return _ARCHITECTURES[name]
    except KeyError:
        raise ConfigError(f"unknown architecture {name!r} (use {' or '.join(_ARCHITECTURES)})") from None


def names() -> tuple[str, ...]:
    """In the order the app offers them."""
    return tuple(_ARCHITECTURES)


def architectures() -> tuple[Architecture, ...]:
    return tuple(_ARCHITECTURES.values())


def implementation(name: str) -> ModuleType:
    """The torch module that builds architecture `name` (imported here, on first use)."""
    return importlib.import_module(get(name).module)


def form_choices() -> list[tuple[str, str, dict[str, Any]]]:
    """(label, arch, section fields) for every entry of the training form's architecture list."""
    return [(v.label, a.name, dict(v.fields)) for a in architectures() for v in (a.variants or (Variant(a.label),))]


def describe_model(cfg: ModelConfig | Mapping[str, Any]) -> str:
    """One line that says what a model is: `s2s info`, `s2s train`'s start and the app's model panel.
    Takes a ModelConfig or its dict (as in a model file's metadata or a RunStarted event)."""
    if not isinstance(cfg, ModelConfig):
        cfg = ModelConfig.from_dict(dict(cfg))
    text = get(cfg.arch).describe(cfg)
    if cfg.share_embeddings and cfg.tie_output:
        text += ", shared and tied embeddings"
    elif cfg.share_embeddings:
        text += ", shared embeddings"
    elif cfg.tie_output:
        text += ", tied output embeddings"
    return text


# -- RNN -----------------------------------------------------------------------------------------


def _describe_rnn(cfg: ModelConfig) -> str:
    r: RnnConfig = cfg.rnn
    return (f"RNN ({r.cell.upper()}, {r.attention} attention), embeddings {cfg.emb_size}, "
            f"encoder {r.encoder_layers}x{r.encoder_hidden}x2, decoder {r.decoder_layers}x{r.decoder_hidden}")


def _check_rnn(cfg: ModelConfig) -> None:
    r: RnnConfig = cfg.rnn
    if r.attention == "luong-dot" and r.decoder_hidden != 2 * r.encoder_hidden:
        raise ConfigError(
            f"--attention luong-dot needs --decoder-hidden = 2 x --encoder-hidden "
            f"({r.decoder_hidden} != 2 x {r.encoder_hidden}); use luong-general otherwise"
        )


# -- Transformer ---------------------------------------------------------------------------------


_ACTIVATION_NAMES = {"relu": "ReLU", "gelu": "GELU", "gelu_tanh": "GELU (tanh)", "silu": "SiLU"}


def _describe_transformer(cfg: ModelConfig) -> str:
    t: TransformerConfig = cfg.transformer
    text = (f"Transformer {t.encoder_layers}+{t.decoder_layers} layers, d_model {cfg.emb_size}, {t.heads} heads, "
            f"feed-forward {t.ff_size}")
    defaults = TransformerConfig()
    if t.activation != defaults.activation:
        text += f", {_ACTIVATION_NAMES.get(t.activation, t.activation)}"
    if t.norm_position != defaults.norm_position:
        text += f", {t.norm_position}-norm"
    return text


def _check_transformer(cfg: ModelConfig) -> None:
    t: TransformerConfig = cfg.transformer
    if cfg.emb_size % t.heads:
        raise ConfigError(f"--emb-size (d_model, {cfg.emb_size}) must be divisible by --heads ({t.heads})")


# Parameter counts are for 8,000-piece source and target vocabularies (separate, untied); a joint
# vocabulary with shared and tied embeddings is much smaller for the Transformer (docs/benchmarks.md).
register(Architecture(
    name="transformer",
    label="Transformer",
    summary="pre-norm Transformer with sinusoidal positions",
    config=TransformerConfig,
    module="s2s_desktop.engine.models.transformer",
    describe=_describe_transformer,
    check=_check_transformer,
    presets={
        # Wu et al. 2021 "transformer_tiny": 4+4 layers, d 128, 4 heads, ff 256: 4.4M with separate 8k
        # vocabularies, 2.6M with a joint 10k vocabulary and shared, tied embeddings
        "tiny": dict(emb_size=128, heads=4, ff_size=256, encoder_layers=4, decoder_layers=4),
        # 3+3 layers, d 256, ff 1024 (11.7M): the size of the OpenNMT-py comparator in ../shared/bench/peers
        "small": dict(emb_size=256, heads=4, ff_size=1024, encoder_layers=3, decoder_layers=3),
        # the "base" Transformer of Vaswani et al.: 6+6 layers, d 512, 8 heads, ff 2048 (56.4M)
        "base": dict(emb_size=512, heads=8, ff_size=2048, encoder_layers=6, decoder_layers=6),
    },
    default_preset="small",
))

register(Architecture(
    name="rnn",
    label="RNN",
    summary="bidirectional GRU/LSTM encoder and an attention decoder",
    config=RnnConfig,
    module="s2s_desktop.engine.models.rnn",
    describe=_describe_rnn,
    check=_check_rnn,
    presets={
        # 4.9M parameters with separate 8k vocabularies
        "tiny": dict(emb_size=128, encoder_hidden=128, decoder_hidden=256, encoder_layers=1, decoder_layers=1),
        # 11.2M: the benchmark model of docs/benchmarks.md
        "small": dict(emb_size=256, encoder_hidden=256, decoder_hidden=512, encoder_layers=1, decoder_layers=1),
        # 33.2M
        "base": dict(emb_size=512, encoder_hidden=512, decoder_hidden=1024, encoder_layers=2, decoder_layers=1),
    },
    variants=(
        Variant("RNN: GRU + Luong attention (fast)", {"cell": "gru", "attention": "luong-general"}),
        Variant("RNN: GRU + Bahdanau attention", {"cell": "gru", "attention": "bahdanau"}),
        Variant("RNN: LSTM + Luong attention", {"cell": "lstm", "attention": "luong-general"}),
        Variant("RNN: LSTM + Bahdanau attention", {"cell": "lstm", "attention": "bahdanau"}),
    ),
    scheduled_sampling=True,
))
