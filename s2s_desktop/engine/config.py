"""Checking configs once, up front, with errors that name the option (as the CLI spells it)."""

from __future__ import annotations

from s2s_desktop.engine.api import ModelConfig, TrainConfig
from s2s_desktop.errors import ConfigError

ARCHS = ("rnn", "transformer")
CELLS = ("gru", "lstm")
ATTENTIONS = ("bahdanau", "luong-dot", "luong-general")
SCHEDULES = ("plateau", "inverse-sqrt", "cosine", "constant")
METRICS = ("loss", "bleu", "chrf")
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
    _choice(cfg, "arch", ARCHS)
    _choice(cfg, "cell", CELLS)
    _choice(cfg, "attention", ATTENTIONS)
    for name in ("emb_size", "encoder_hidden", "decoder_hidden", "encoder_layers", "decoder_layers"):
        _at_least(cfg, name, 1)
    for name in ("src_vocab_size", "tgt_vocab_size"):
        _at_least(cfg, name, 5)
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"--dropout must be in [0, 1) (got {cfg.dropout})")
    _at_least(cfg, "heads", 1)
    _at_least(cfg, "ff_size", 1)
    if cfg.arch == "transformer" and cfg.emb_size % cfg.heads:
        raise ConfigError(f"--emb-size (d_model, {cfg.emb_size}) must be divisible by --heads ({cfg.heads})")
    if cfg.arch == "rnn" and cfg.attention == "luong-dot" and cfg.decoder_hidden != 2 * cfg.encoder_hidden:
        raise ConfigError(
            f"--attention luong-dot needs --decoder-hidden = 2 x --encoder-hidden "
            f"({cfg.decoder_hidden} != 2 x {cfg.encoder_hidden}); use luong-general otherwise"
        )


def validate_train_config(cfg: TrainConfig) -> None:
    tsv, pair = cfg.train_tsv is not None, (cfg.train_src is not None, cfg.train_tgt is not None)
    if tsv == any(pair) or pair[0] != pair[1]:
        raise ConfigError("give the training corpus as --train FILE.tsv or as --train-src FILE --train-tgt FILE")
    vtsv, vpair = cfg.valid_tsv is not None, (cfg.valid_src is not None, cfg.valid_tgt is not None)
    if (vtsv and any(vpair)) or vpair[0] != vpair[1]:
        raise ConfigError("give the validation corpus as --valid FILE.tsv or as --valid-src FILE --valid-tgt FILE")
    for name in ("src_lang", "tgt_lang"):
        value = getattr(cfg, name)
        if not value or not value.strip() or len(value) > 32 or any(c.isspace() for c in value):
            raise ConfigError(f"{_opt(name)} must be a short language code such as 'en' (got {value!r})")
    _choice(cfg, "sp_model_type", SP_TYPES)
    _choice(cfg, "schedule", SCHEDULES)
    _choice(cfg, "early_stopping", METRICS)
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
    if cfg.schedule == "inverse-sqrt" and cfg.warmup_steps < 1:
        raise ConfigError("--schedule inverse-sqrt needs --warmup-steps of at least 1 (e.g. 4000)")
    if cfg.schedule == "cosine" and (cfg.max_steps is None or cfg.max_steps <= cfg.warmup_steps):
        raise ConfigError("--schedule cosine needs --max-steps larger than --warmup-steps (it decays to --min-lr there)")
    if not cfg.out_dir:
        raise ConfigError("--out (the run folder) is required")
