"""Named settings: model sizes (`--preset tiny|small|base`) and training recipes (`--recipe NAME`).

The sizes of each architecture are declared with it in registry.py (with their parameter counts).
A recipe is a whole setup that was measured: the architecture, a size, model fields and training
fields. `s2s train --recipe NAME` starts from it (the flags given override its values), and the app's
training form starts from the recipe named after the chosen architecture. docs/benchmarks.md and
resources/models/README.md report what the measured ones gave.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from s2s_desktop.engine.models import registry
from s2s_desktop.errors import ConfigError

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    a.name: {size: dict(fields) for size, fields in a.presets.items()} for a in registry.architectures()
}


def preset(arch: str, name: str) -> dict[str, Any]:
    try:
        return dict(PRESETS[arch][name])
    except KeyError:
        choices = ", ".join(PRESETS.get(arch, {}))
        raise ConfigError(f"--preset {name!r} does not exist for --arch {arch} (choose {choices})") from None


def preset_names() -> tuple[str, ...]:
    """Every size name of any architecture, in declaration order."""
    return tuple(dict.fromkeys(name for sizes in PRESETS.values() for name in sizes))


def sizes(arch: str, name: str | None = None) -> dict[str, Any]:
    """The fields of size `name`, or of the architecture's default size when None ({} if it has none)."""
    name = name or registry.get(arch).default_preset
    return preset(arch, name) if name else {}


@dataclass(frozen=True)
class Recipe:
    name: str
    arch: str
    summary: str  # one line for `s2s train --help`
    preset: str | None = None  # size; None: the architecture's default size
    model: Mapping[str, Any] = field(default_factory=dict)  # ModelConfig fields beyond the size (flat names)
    train: Mapping[str, Any] = field(default_factory=dict)  # TrainConfig fields

    def model_fields(self) -> dict[str, Any]:
        return {**sizes(self.arch, self.preset), **self.model}


_TRANSFORMER_OPTIMISER = dict(lr=5e-3, schedule="inverse-sqrt", warmup_steps=1000, adam_beta2=0.98, clip_norm=25.0,
                              batch_tokens=4096, sp_model_type="bpe")
_JOINT = dict(share_embeddings=True, tie_output=True)

RECIPES: dict[str, Recipe] = {r.name: r for r in (
    # The app's defaults per architecture (the training form starts from these).
    Recipe("transformer", "transformer", "the app's Transformer defaults: small, inverse-sqrt LR 5e-3, BPE",
           model=dict(dropout=0.3, tie_output=True), train=_TRANSFORMER_OPTIMISER),
    Recipe("rnn", "rnn", "the app's RNN defaults: GRU + Luong, plateau LR 1.5e-3",
           model=dict(dropout=0.2),
           train=dict(lr=1.5e-3, schedule="plateau", warmup_steps=100, batch_tokens=3000, adam_beta2=0.999,
                      clip_norm=5.0, sp_model_type="unigram")),
    # docs/benchmarks.md, "Quality in 45 minutes on this CPU": 32.7 validation BLEU on Multi30k.
    Recipe("multi30k-rnn", "rnn", "docs/benchmarks.md: the 45-minute RNN on Multi30k en-de (CPU)",
           model=dict(cell="gru", attention="luong-general"),
           train=dict(max_minutes=45.0, lr=1.5e-3, warmup_steps=100, batch_tokens=3000, valid_every=300, log_every=50,
                      patience=12)),
    # docs/benchmarks.md, "Transformer: CPU recipe": 38.5 lowercased test BLEU averaging the last 5 saves.
    Recipe("multi30k-transformer", "transformer",
           "docs/benchmarks.md: the 50-minute tiny Transformer on Multi30k en-de (CPU; then s2s average)",
           preset="tiny", model=dict(dropout=0.3, **_JOINT),
           train=dict(_TRANSFORMER_OPTIMISER, joint_vocab=True, vocab_size=10000, label_smoothing=0.1,
                      valid_every=250, keep_last=5, patience=0, max_minutes=50.0)),
    # resources/models/README.md: the built-in English-German model (Tatoeba).
    Recipe("tatoeba-transformer", "transformer", "resources/models/README.md: the built-in en-de model (1,500 steps)",
           preset="small", model=dict(dropout=0.1, **_JOINT),
           train=dict(joint_vocab=True, sp_model_type="bpe", vocab_size=8000, batch_tokens=4096, label_smoothing=0.1,
                      lr=3e-3, schedule="cosine", warmup_steps=400, min_lr=1e-5, adam_beta2=0.98, clip_norm=25.0,
                      max_steps=1500, valid_every=150, valid_sample=500, keep_last=4, patience=0)),
)}


def recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ConfigError(f"--recipe {name!r} does not exist (choose {', '.join(RECIPES)})") from None


def default_recipe(arch: str) -> Recipe:
    """The recipe named after the architecture: where the training form starts."""
    return recipe(registry.get(arch).name)
