"""A SentencePiece model's bytes alone, with hostile fields (a piece's score or type, trainer and
normalizer options, lengths) and hostile bytes: loading, encoding and decoding it either works or raises
the project's own error, in a child process (SentencePiece is C++)."""

from __future__ import annotations

from hypothesis import given

from tests.fuzz.hostile import FUZZ
from tests.fuzz.protobuf import mutated_sentencepiece, parse, serialize


def test_the_field_codec_round_trips_a_real_model(tiny_tokenizers):
    data = tiny_tokenizers[0].model_bytes
    fields = parse(data)
    assert {n for n, _, _ in fields} >= {1, 2, 3} and serialize(fields) == data


def test_a_hostile_sentencepiece_model_is_refused_by_name(tiny_tokenizers, isolated, tmp_path):
    child = isolated("sentencepiece")
    path = tmp_path / "model.spm"
    child.holds(path, tiny_tokenizers[0].model_bytes)
    assert child.tally["ok"] == 1  # the reader accepts the real model

    @FUZZ
    @given(mutated_sentencepiece(tiny_tokenizers[0].model_bytes))
    def prop(data):
        child.holds(path, data)

    prop()
