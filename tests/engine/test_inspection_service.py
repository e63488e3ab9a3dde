"""What the inspector asks of the translation service besides translations: a Transformer's encoder
and decoder self-attention, and file translation that splits sentences and reports often."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from s2s_desktop.engine.api import DecodeOptions
from s2s_desktop.engine.data.batching import make_batch
from s2s_desktop.engine.decoding.service import Translator
from s2s_desktop.errors import InputError


@pytest.fixture(scope="module")
def transformer(tiny_transformer_file):
    return Translator.open(str(tiny_transformer_file), "cpu", precision="fp32")


def test_self_attention_shapes_rows_and_causality(transformer):
    (t,) = transformer.translate(["one two three"], DecodeOptions(beam=2))
    sa = transformer.self_attention(t.source, t.best.tokens)
    cfg = transformer.loaded.config.transformer
    s, n = len(t.source_tokens), len(t.best.tokens)
    assert sa.encoder.shape == (cfg.encoder_layers, cfg.heads, s, s)
    assert sa.decoder.shape == (cfg.decoder_layers, cfg.heads, n, n)
    assert sa.decoder_inputs[0] == "<s>" and sa.decoder_inputs[1:] == t.best.tokens[: n - 1]
    np.testing.assert_allclose(sa.encoder.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(sa.decoder.sum(-1), 1.0, atol=1e-5)
    assert np.abs(np.triu(sa.decoder, k=1)).max() == 0  # a position never attends to a later one
    assert not np.allclose(sa.encoder[0, 0], sa.encoder[-1, -1])  # layers and heads differ


def test_teacher_forcing_lines_up_with_the_search(transformer):
    """The positions self_attention decodes are those of the search: its teacher-forced
    cross-attention equals the cross-attention the beam search recorded."""
    (t,) = transformer.translate(["three two one"], DecodeOptions(beam=1))
    loaded = transformer.loaded
    ids = loaded.src_tok.encode_batch(["three two one"])[0]
    target = [loaded.tgt_tok.piece_to_id(p) for p in t.best.tokens[:-1]]
    batch = make_batch([ids], [target], np.arange(1))
    with torch.inference_mode():
        enc = loaded.model.encode(batch.src, batch.src_lengths)
        _, (cross, _) = loaded.model.decode(enc, batch.tgt_in, need_weights=True)
    np.testing.assert_allclose(cross[0].numpy(), t.best.attention, atol=1e-4)


def test_rnn_has_no_self_attention(reverse_model_file):
    rnn = Translator.open(str(reverse_model_file), "cpu")
    with pytest.raises(InputError, match="no self-attention"):
        rnn.self_attention("one two", ("▁two", "</s>"))


def test_file_translation_splits_sentences_and_reports_per_line(reverse_model_file, tmp_path, monkeypatch):
    from s2s_desktop.engine.decoding import service

    monkeypatch.setattr(service, "PROGRESS_SECONDS", 0.0)  # sentences slower than that: one chunk per sentence
    translator = Translator.open(str(reverse_model_file), "cpu")
    src = tmp_path / "in.en"
    src.write_text("one two! three four?\n\nfive\n" * 4, encoding="utf-8")
    split_dst, whole_dst = tmp_path / "split.de", tmp_path / "whole.de"
    seen = []
    summary = translator.translate_file(src, split_dst, DecodeOptions(beam=1), progress=lambda d, n: seen.append(d),
                                         chunk=0, split=True)
    assert summary.lines == 12 and not summary.cancelled
    out = split_dst.read_text(encoding="utf-8").split("\n")[:-1]
    one, two = (translator.translate([x], DecodeOptions(beam=1))[0].text for x in ("one two!", "three four?"))
    assert out[0] == f"{one} {two}" and out[1] == "" and len(out) == 12
    assert seen == sorted(seen) and seen[-1] == 12 and len(seen) == 12  # a report per sentence (4 x 3)
    translator.translate_file(src, whole_dst, DecodeOptions(beam=1), chunk=0)
    whole = whole_dst.read_text(encoding="utf-8").split("\n")[0]
    assert whole == translator.translate(["one two! three four?"], DecodeOptions(beam=1))[0].text


def test_self_attention_of_a_protected_translation():
    """A translation whose items were protected (a price, a URL) holds their text in its tokens; the
    self-attention reads them through the surrogates, as the search did, and its shapes match."""
    from s2s_desktop.assets import bundled_model

    path = bundled_model()
    if path is None:
        pytest.skip("no built-in model in this installation")
    translator = Translator.open(str(path), "cpu", precision="fp32")
    (t,) = translator.translate(["I paid 3.50 euros, see https://example.org/help."], DecodeOptions(beam=2))
    assert "https://example.org/help" in t.text and any("example.org" in p for p in t.best.tokens)
    sa = translator.self_attention(t.source, t.best.tokens)
    s, n = len(t.source_tokens), len(t.best.tokens)
    assert sa.encoder.shape[2:] == (s, s) and sa.decoder.shape[2:] == (n, n)
    assert sa.decoder_inputs[1:] == t.best.tokens[: n - 1]
    # the same pieces without protection give another source: the surrogates were read, not the raw text
    raw = translator.self_attention(t.source, t.best.tokens[:1], protect=False)
    assert raw.encoder.shape[2] != s or not np.allclose(raw.encoder[0, 0], sa.encoder[0, 0])
