"""Files that ship with the app (the bundled model, icons), found wherever the app runs from.

The same files live in three places: `resources/` in a checkout (and behind an editable install),
`s2s_desktop/resources/` inside an installed wheel (pyproject maps one onto the other), and the same
path under the unpacked folder of a PyInstaller bundle. The first that exists wins.
"""

from __future__ import annotations

import sys
from pathlib import Path

from s2s_desktop.paths import APP_ID

BUNDLED_MODEL = "models/en-de-tatoeba.s2s"
SAMPLE_SENTENCE = "I would like to learn German because my grandmother lives in Berlin."
DATA_CREDIT = "tatoeba.org and www.manythings.org/anki"


def resources_dir() -> Path:
    package = Path(__file__).resolve().parent
    candidates = [package / "resources", package.parent / "resources"]
    if getattr(sys, "frozen", False) and hasattr(sys, "_MEIPASS"):
        candidates.insert(0, Path(sys._MEIPASS) / "s2s_desktop" / "resources")
    for folder in candidates:
        if (folder / "models").is_dir() or (folder / "icons").is_dir():
            return folder
    return candidates[0]


def bundled_model() -> Path | None:
    """The default English→German model, or None when this installation has none."""
    path = resources_dir() / BUNDLED_MODEL
    return path if path.is_file() else None


def app_icon() -> Path | None:
    path = resources_dir() / "icons" / f"{APP_ID}.svg"
    return path if path.is_file() else None
