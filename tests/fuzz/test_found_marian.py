"""Regression tests for the Marian folders the fuzz property found (issue 20): each is refused by name."""

from __future__ import annotations

import json

import pytest

from s2s_desktop.engine.formats.marian import read_marian_folder
from s2s_desktop.errors import MarianImportError
from tests.fuzz.hostile import join_safetensors, split_safetensors
from tests.marian_fixture import copy_folder

pytest.importorskip("transformers")
pytest_plugins = ("tests.marian_fixture",)  # marian_folder


def test_a_json_list_where_config_json_needs_a_name(marian_folder, tmp_path):
    """activation_function [] raised TypeError (unhashable) in the lookup of the activation."""
    folder = copy_folder(marian_folder, tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "activation_function": []}))
    with pytest.raises(MarianImportError, match="activation_function"):
        read_marian_folder(folder)


def test_a_json_list_as_a_tensor_dtype(marian_folder, tmp_path):
    folder = copy_folder(marian_folder, tmp_path / "m")
    path = folder / "model.safetensors"
    header, body = split_safetensors(path.read_bytes())
    header["final_logits_bias"] = {**header["final_logits_bias"], "dtype": []}
    path.write_bytes(join_safetensors(header, body))
    with pytest.raises(MarianImportError, match="final_logits_bias' has unknown dtype"):
        read_marian_folder(folder)
