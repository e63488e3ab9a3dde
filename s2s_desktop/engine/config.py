"""Checking configs once, up front, with errors that name the option (as the CLI spells it), and the
run folder's config.json (what it holds, and reading it back with errors that name the file and field).

`validate(model_cfg, train_cfg)` is the one check every front end and the trainer call: each field,
then the fields that depend on each other (`_cross_checks`).
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from s2s_desktop import __version__
from s2s_desktop.engine import metrics
from s2s_desktop.engine.api import ModelConfig, TrainConfig
from s2s_desktop.engine.formats.atomic import atomic_write
from s2s_desktop.engine.models import registry
from s2s_desktop.errors import ConfigError

SCHEDULES = ("plateau", "inverse-sqrt", "cosine", "constant")
METRICS = metrics.stopping_choices()  # "loss" and the registered metrics
PRECISIONS = ("auto", "fp32", "bf16")
SP_TYPES = ("unigram", "bpe")


def _opt(name: str) -> str:
    return "--" + name.replace("_", "-")


def _choice(obj, name, choices):
    value = getattr(obj, name)
    if value not in choices:
        raise ConfigError(f"{_opt(name)} must be one of {', '.join(choices)} (got {value!r})")


def _at_least(obj, name, low, allow_none=False):
    value = getattr(obj, name)
    if value is None and allow_none:
        return
    if value is None or value < low:
        raise ConfigError(f"{_opt(name)} must be at least {low} (got {value!r})")


def _fraction(obj, name, low=0.0, high=1.0, low_open=False):
    value = getattr(obj, name)
    ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ConfigError(f"{_opt(name)} must be in {bracket}{low}, {high}] (got {value!r})")


def validate_model_config(cfg: ModelConfig) -> None:
    """The fields one by one (the choices and minimums declared on them, common fields first, then the
    architecture's section), then the architecture's own checks across its fields (registry.py)."""
    for part in (cfg, cfg.arch_config):
        for f in fields(part):
            if f.metadata.get("choices"):
                _choice(part, f.name, f.metadata["choices"])
            if f.metadata.get("minimum") is not None:
                _at_least(part, f.name, f.metadata["minimum"])
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"--dropout must be in [0, 1) (got {cfg.dropout})")
    registry.get(cfg.arch).check(cfg)


def validate(model_cfg: ModelConfig, train_cfg: TrainConfig) -> None:
    """Every check of a run's two configs: the fields one by one, then the ones that depend on each other."""
    validate_train_config(train_cfg)
    validate_model_config(model_cfg)
    _cross_checks(model_cfg, train_cfg)


def _cross_checks(model_cfg: ModelConfig, cfg: TrainConfig) -> None:
    """Fields that are only wrong together, within the train config or across the two."""
    tsv, pair = cfg.train_tsv is not None, (cfg.train_src is not None, cfg.train_tgt is not None)
    if tsv == any(pair) or pair[0] != pair[1]:
        raise ConfigError("give the training corpus as --train FILE.tsv or as --train-src FILE --train-tgt FILE")
    vtsv, vpair = cfg.valid_tsv is not None, (cfg.valid_src is not None, cfg.valid_tgt is not None)
    if (vtsv and any(vpair)) or vpair[0] != vpair[1]:
        raise ConfigError("give the validation corpus as --valid FILE.tsv or as --valid-src FILE --valid-tgt FILE")
    if cfg.schedule == "inverse-sqrt" and cfg.warmup_steps < 1:
        raise ConfigError("--schedule inverse-sqrt needs --warmup-steps of at least 1 (e.g. 4000)")
    if cfg.schedule == "cosine" and (cfg.max_steps is None or cfg.max_steps <= cfg.warmup_steps):
        raise ConfigError(
            "--schedule cosine needs --max-steps larger than --warmup-steps (it decays to --min-lr there)"
        )
    if not cfg.joint_vocab and model_cfg.share_embeddings:
        raise ConfigError("--share-embeddings needs --joint-vocab")
    if cfg.teacher_forcing < 1.0 and not registry.get(model_cfg.arch).scheduled_sampling:
        able = " or ".join(a.name for a in registry.architectures() if a.scheduled_sampling)
        raise ConfigError(f"--teacher-forcing below 1 (scheduled sampling) is only available for --arch {able}")


def validate_train_config(cfg: TrainConfig) -> None:
    """The train config's fields one by one (`validate` adds the checks across fields)."""
    for name in ("src_lang", "tgt_lang"):
        value = getattr(cfg, name)
        if not value or not value.strip() or len(value) > 32 or any(c.isspace() for c in value):
            raise ConfigError(f"{_opt(name)} must be a short language code such as 'en' (got {value!r})")
    _choice(cfg, "sp_model_type", SP_TYPES)
    _choice(cfg, "schedule", SCHEDULES)
    _choice(cfg, "early_stopping", METRICS)
    metrics.check_available(cfg.early_stopping)  # a metric whose library is not installed
    _choice(cfg, "precision", PRECISIONS)
    _at_least(cfg, "vocab_size", 16)
    _at_least(cfg, "max_len", 1)
    _at_least(cfg, "max_ratio", 1.0)
    _at_least(cfg, "valid_size", 1)
    _at_least(cfg, "batch_tokens", 8)
    _at_least(cfg, "valid_every", 1)
    _at_least(cfg, "log_every", 1)
    _at_least(cfg, "valid_sample", 0)
    _at_least(cfg, "samples_shown", 0)
    _at_least(cfg, "patience", 0)
    _at_least(cfg, "plateau_patience", 1)
    _at_least(cfg, "keep_last", 0)
    _at_least(cfg, "warmup_steps", 0)
    _at_least(cfg, "max_steps", 1, allow_none=True)
    _at_least(cfg, "max_epochs", 1, allow_none=True)
    _at_least(cfg, "threads", 1, allow_none=True)
    if cfg.max_minutes is not None and cfg.max_minutes <= 0:
        raise ConfigError(f"--max-minutes must be positive (got {cfg.max_minutes})")
    _fraction(cfg, "character_coverage", 0.9, 1.0)
    _fraction(cfg, "lr", 0.0, 10.0, low_open=True)
    _fraction(cfg, "label_smoothing", 0.0, 0.99)
    _fraction(cfg, "teacher_forcing", 0.0, 1.0)
    _fraction(cfg, "plateau_factor", 0.0, 0.99, low_open=True)
    _fraction(cfg, "adam_beta2", 0.0, 0.99999, low_open=True)
    if cfg.clip_norm < 0 or cfg.weight_decay < 0 or cfg.min_lr < 0:
        raise ConfigError("--clip-norm, --weight-decay and --min-lr cannot be negative")
    if not cfg.out_dir:
        raise ConfigError("--out (the run folder) is required")


# -- the run folder's config.json -------------------------------------------------------------------
# Top-level keys of config.json: the two configs, the app version that wrote them, the process count.
RUN_CONFIG_KEYS = ("model", "train", "app_version", "processes")
_KINDS = {"str": ((str,), "a string"), "int": ((int,), "a whole number"), "float": ((int, float), "a number"),
          "bool": ((bool,), "true or false")}


def run_config(model_cfg: ModelConfig, train_cfg: TrainConfig, processes: int = 1) -> dict[str, Any]:
    """What config.json holds: written by the trainer at the start of a run, and by the app before it
    starts `s2s train --config` in several processes."""
    out: dict[str, Any] = {"model": model_cfg.to_dict(), "train": train_cfg.to_dict(), "app_version": __version__}
    if processes > 1:
        out["processes"] = processes
    return out


def write_run_config(path: str | os.PathLike, configs: dict[str, Any]) -> None:
    """Write `run_config(...)` as a config.json (atomically: a reader never sees half a file)."""
    atomic_write(path, json.dumps(configs, indent=2).encode())


def read_run_config(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any]]:
    """The "model" and "train" fields of a config.json (either may be missing: the defaults and the
    options given fill in), checked so that a bad file is reported with its name and the field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not a config file (not UTF-8 text)") from exc
    except ValueError as exc:  # json.JSONDecodeError names the line and column
        raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: expected an object with "model" and "train", got {type(data).__name__}')
    unknown = sorted(set(data) - set(RUN_CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) {', '.join(unknown)} (expected {', '.join(RUN_CONFIG_KEYS)})")
    parts = []
    for key, cls in (("model", ModelConfig), ("train", TrainConfig)):
        part = data.get(key, {})
        if not isinstance(part, dict):
            raise ConfigError(f"{path}: {key} must be an object, got {type(part).__name__}")
        _check_types(cls, part, f"{path}: {key}")
        parts.append(dict(part))
    return parts[0], parts[1]


def _check_types(cls, data: dict[str, Any], where: str) -> None:
    """JSON types against the dataclass's annotations (plain scalars and `X | None`; other fields and
    unknown names are left to `from_dict`)."""
    parts = (cls, *(a.config for a in registry.architectures())) if cls is ModelConfig else (cls,)
    hints = {f.name: f.type for part in parts for f in fields(part)}  # a model's flat form: its section's too
    for name, value in data.items():
        hint = hints.get(name)
        if not isinstance(hint, str):
            continue
        optional = hint.endswith(" | None")
        kinds, label = _KINDS.get(hint.removesuffix(" | None"), (None, ""))
        if kinds is None or (value is None and optional):
            continue
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ConfigError(f"{where}.{name} must be {label}{' or null' if optional else ''} (got {value!r})")
