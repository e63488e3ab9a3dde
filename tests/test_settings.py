"""The settings file holds the decode options as `api.DecodeOptions`, and still reads files written
when it held the panel's own four fields."""

from __future__ import annotations

import json

from s2s_desktop import paths
from s2s_desktop.engine.api import DecodeOptions
from s2s_desktop.settings import DEFAULT_DECODE, Settings, load_settings, save_settings


def test_decode_options_round_trip() -> None:
    settings = Settings(decode=DecodeOptions(beam=3, nbest=2, max_len_a=2.0, alternatives=0))
    save_settings(settings)
    assert load_settings() == (settings, None)


def test_an_older_file_with_max_length_ratio_still_reads() -> None:
    paths.settings_file().parent.mkdir(parents=True, exist_ok=True)
    old = {"schema_version": 1, "decode": {"beam": 4, "nbest": 9, "length_penalty": 0.8, "max_length_ratio": 2}}
    paths.settings_file().write_text(json.dumps(old), encoding="utf-8")
    settings, warning = load_settings()
    assert warning is None
    assert settings.decode == DecodeOptions(beam=4, nbest=9, length_penalty=0.8, max_len_a=2.0)
    assert settings.decode.clamped().nbest == 4  # the app clamps nbest to the beam (the CLI refuses)
    assert Settings().decode == DEFAULT_DECODE and DEFAULT_DECODE.nbest == 3


def test_a_wrongly_typed_decode_value_falls_back_to_its_default() -> None:
    paths.settings_file().parent.mkdir(parents=True, exist_ok=True)
    paths.settings_file().write_text(json.dumps({"schema_version": 1, "decode": {"beam": "five", "min_len": 2}}))
    assert load_settings()[0].decode == DecodeOptions(nbest=3, min_len=2)
