"""The app's settings: one JSON file with a schema version, read leniently and written atomically.

A corrupt or unreadable file never stops the app: it falls back to the defaults and says why (the
bad file is kept beside as `settings.json.bad` so nothing the user had is silently destroyed).
Unknown keys from a newer version are preserved on save.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from s2s_desktop import paths
from s2s_desktop.engine.api import DecodeOptions
from s2s_desktop.engine.formats.atomic import atomic_write

SCHEMA_VERSION = 1
MAX_RECENT = 10


DEFAULT_DECODE = DecodeOptions(nbest=3)  # the app lists three hypotheses
LEGACY_DECODE_KEYS = {"max_length_ratio": "max_len_a"}  # as written before the decode options had one shape


@dataclass
class Settings:
    schema_version: int = SCHEMA_VERSION
    recent_models: list[str] = field(default_factory=list)
    last_model: str = ""
    device: str = "auto"
    translate_as_you_type: bool = True
    decode: DecodeOptions = DEFAULT_DECODE
    window_geometry: str = ""  # base64 of QWidget.saveGeometry()
    window_state: str = ""  # base64 of QMainWindow.saveState()
    splitter_state: str = ""  # base64 of the translate panel's splitter state
    model_panel_state: str = ""  # base64 of the Translate tab's splitter (translation | Model panel)
    model_panel_visible: bool = True
    run_folders: list[str] = field(default_factory=list)  # extra folders listed in the run history
    training_form: dict[str, Any] = field(default_factory=dict)  # the new-run form's values (TrainingForm.values)
    library_removed: list[str] = field(default_factory=list)  # model files taken off the model library's list
    library_added: list[str] = field(default_factory=list)  # model files added to the library by hand
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    def add_recent(self, path: str) -> None:
        path = os.path.abspath(path)
        self.recent_models = [path] + [p for p in self.recent_models if p != path]
        del self.recent_models[MAX_RECENT:]

    def remove_recent(self, path: str) -> None:
        self.recent_models = [p for p in self.recent_models if p != os.path.abspath(path)]


def _coerce(value: Any, default: Any) -> Any:
    """Keep a stored value only when it has the default's type (bool is not accepted for int)."""
    if isinstance(default, bool):
        return value if isinstance(value, bool) else default
    if isinstance(default, float):
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default
    if isinstance(default, int):
        return value if isinstance(value, int) and not isinstance(value, bool) else default
    if isinstance(default, str):
        return value if isinstance(value, str) else default
    if isinstance(default, list):
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else default
    if isinstance(default, dict):  # the reader of its values checks them one by one
        return {k: v for k, v in value.items() if isinstance(k, str)} if isinstance(value, dict) else default
    return default


def _from_dict(data: dict[str, Any]) -> Settings:
    settings = Settings()
    known = {f.name for f in fields(Settings)}
    for f in fields(Settings):
        if f.name in ("schema_version", "extra", "decode") or f.name not in data:
            continue
        setattr(settings, f.name, _coerce(data[f.name], getattr(settings, f.name)))
    decode = data.get("decode")
    if isinstance(decode, dict):
        names = {f.name for f in fields(DecodeOptions)}
        values = {LEGACY_DECODE_KEYS.get(k, k): v for k, v in decode.items()}
        settings.decode = replace(DEFAULT_DECODE, **{
            k: _coerce(v, getattr(DEFAULT_DECODE, k)) for k, v in values.items() if k in names})
    settings.extra = {k: v for k, v in data.items() if k not in known}
    return settings


def load_settings(path: Path | None = None) -> tuple[Settings, str | None]:
    """(settings, warning): the warning says why the defaults were used, or is None."""
    path = path or paths.settings_file()
    if not path.exists():
        return Settings(), None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("the top level is not a JSON object")
        version = data.get("schema_version")
        if not isinstance(version, int) or version < 1:
            raise ValueError(f"schema_version is {version!r}")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        backup = path.with_name(path.name + ".bad")
        try:
            os.replace(path, backup)
            kept = f"; the old file was kept as {backup}"
        except OSError:
            kept = ""
        return Settings(), f"Settings file {path} could not be read ({exc}); using defaults{kept}."
    return _from_dict(data), None


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write atomically (temporary file + rename). Raises OSError when the disk refuses."""
    path = path or paths.settings_file()
    data = asdict(settings)
    extra = data.pop("extra")
    data = {**extra, **data, "schema_version": SCHEMA_VERSION}
    atomic_write(path, json.dumps(data, indent=2).encode("utf-8"), error=None)
