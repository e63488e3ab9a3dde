"""Where the app keeps its files: settings, recent models, training runs and logs.

One place decides, on top of platformdirs, so that `S2S_DESKTOP_HOME=/some/folder` moves every file
the app writes under that folder (tests point it at a temporary directory; portable installs can
use it too).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "s2s-desktop"
APP_ID = "io.github.s2s_desktop.S2SDesktop"
HOME_ENV = "S2S_DESKTOP_HOME"


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    """Settings (small JSON files)."""
    home = _home()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Training runs and other things the user would miss if they were deleted."""
    home = _home()
    return home / "data" if home else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def runs_dir() -> Path:
    return data_dir() / "runs"


def models_dir() -> Path:
    """Model files the app writes itself (File > Import model…)."""
    return data_dir() / "models"


def log_dir() -> Path:
    home = _home()
    return home / "logs" if home else Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def settings_file() -> Path:
    return config_dir() / "settings.json"
