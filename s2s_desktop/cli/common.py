"""Helpers shared by the `s2s` subcommands: usage errors, the default model, clock formatting."""

from __future__ import annotations

EXIT_USAGE = 2


def raise_usage(message: str):
    from s2s_desktop.errors import ConfigError

    raise ConfigError(message)


def clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def model_or_bundled(args) -> str:
    """--model, or the English→German model that ships with the app when none is given."""
    if args.model:
        return args.model
    from s2s_desktop.assets import bundled_model

    path = bundled_model()
    if path is None:
        raise_usage("no --model given, and this installation has no built-in model")
    return str(path)


