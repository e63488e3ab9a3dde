"""Model files with hostile fields: the library's header reader and opening + translating both either
succeed or raise the project's own error, without a crash, a hang or an allocation over the cap."""

from __future__ import annotations

import pytest
from hypothesis import given

from tests.fuzz.hostile import FUZZ, mutated_safetensors


@pytest.fixture(scope="module")
def model_bytes(tiny_model_file) -> bytes:
    return tiny_model_file.read_bytes()


@pytest.mark.parametrize("reader", ["model_header", "translate"])
def test_a_hostile_model_file_is_refused_by_name(reader, model_bytes, isolated, tmp_path_factory):
    child = isolated(reader)
    path = tmp_path_factory.mktemp("fuzz") / "hostile.s2s"

    @FUZZ
    @given(mutated_safetensors(model_bytes, json_fields=("meta",)))
    def prop(data):
        child.holds(path, data)

    assert child.run(path.with_name("missing.s2s")).kind == "named"
    prop()
