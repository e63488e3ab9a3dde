"""`s2s serve --library`: the server serves the app's model library (the issue's "every model the app can
open, imported ones too"), one model per language pair, the same one `s2s translate --from --to` picks."""

from __future__ import annotations

import json
import shutil

import pytest

from s2s_desktop import paths
from s2s_desktop.assets import resources_dir
from tests.serve.conftest import call, post_json, start_server, stop_server


def _languages(server) -> dict[str, list[str]]:
    status, body = call(server.url + "languages")
    assert status == 200, body
    return {lang["code"]: lang["targets"] for lang in body}


def test_serve_library_serves_built_in_imported_and_opened_models_once_per_pair(tmp_path, tiny_model_file,
                                                                                  de_en_model_file):
    imported = paths.models_dir() / "opus-mt-de-en.s2s"  # where File > Import model… puts its copies
    imported.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(de_en_model_file, imported)
    opened = tmp_path / "mine-en-de.s2s"
    shutil.copy(tiny_model_file, opened)
    settings = paths.settings_file()
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"schema_version": 1, "recent_models": [str(opened)]}), encoding="utf-8")

    server = start_server(["--library"], tmp_path / "serve.log")
    try:
        languages = _languages(server)
        assert "de" in languages["en"] and "en" in languages["de"]  # no "two models translate" refusal
        status, body = post_json(server.url + "translate", {"q": "one two", "source": "en", "target": "de"})
        assert status == 200 and isinstance(body["translatedText"], str), body
    finally:
        assert stop_server(server) == 0
    served = server.banner
    # en→de: the model opened last in the app wins over the built-in one, as for s2s translate --from en --to de
    assert f"en→de: {opened.resolve()}" in served
    # de→en: built-in before imported (the library's order of preference)
    builtin_de_en = sorted((resources_dir() / "models").glob("de-en*.s2s"))
    if builtin_de_en:
        assert f"de→en: {builtin_de_en[0].resolve()}" in served
    else:
        assert f"de→en: {imported.resolve()}" in served


def test_serve_library_with_an_empty_library_says_so(tmp_path, monkeypatch):
    import s2s_desktop.library as library
    from s2s_desktop.errors import ConfigError
    from s2s_desktop.serve.registry import library_models

    monkeypatch.setattr(library, "resources_dir", lambda: tmp_path)  # an installation without built-in models
    with pytest.raises(ConfigError, match="--library: the model library has no readable model"):
        library_models()
