"""The translation facade: results carry what the views show, and no input breaks it."""

import threading

import numpy as np
import pytest

from s2s_desktop.engine.api import DecodeOptions
from s2s_desktop.engine.decoding.service import Translator, clean_text
from s2s_desktop.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def translator(reverse_model_file):
    return Translator.open(str(reverse_model_file), "cpu")


def test_result_carries_tokens_probabilities_attention_and_alternatives(translator):
    (t,) = translator.translate(["one two three"], DecodeOptions(beam=3, nbest=3))
    best = t.best
    assert t.source_tokens[-1] == "</s>" and best.tokens[-1] == "</s>"
    n, s = len(best.tokens), len(t.source_tokens)
    assert best.attention.shape == (1, 1, n, s)
    np.testing.assert_allclose(best.attention.sum(-1), 1.0, rtol=1e-5)
    assert best.token_probs.shape == (n,) and np.all((best.token_probs > 0) & (best.token_probs <= 1))
    assert best.alt_probs.shape[0] == n and len(best.alt_tokens) == n
    for pos in range(n):
        alts = best.alternatives(pos)
        probs = [p for _, p in alts]
        assert probs == sorted(probs, reverse=True)
        # the chosen piece is among the alternatives with the same probability
        chosen = dict(alts).get(best.tokens[pos])
        assert chosen is not None and chosen == pytest.approx(float(best.token_probs[pos]), rel=1e-4)
    assert [c.score for c in t.nbest] == sorted((c.score for c in t.nbest), reverse=True)
    assert t.source_words == ["one", "two", "three", "</s>"]
    words = t.word_attention()
    assert words.shape == (1, 1, len(best.words), len(t.source_words))
    np.testing.assert_allclose(words.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("beam", [1, 4])
def test_forced_prefix_text_is_kept_and_marked(translator, beam):
    (free,) = translator.translate(["one two three"], DecodeOptions(beam=beam))
    (forced,) = translator.translate(["one two three"], DecodeOptions(beam=beam), prefixes=["five six"])
    expected = tuple(translator.loaded.tgt_tok.pieces("five six"))
    assert forced.text.startswith("five six")
    assert forced.best.prefix_length == len(expected) and forced.best.tokens[: len(expected)] == expected
    assert free.best.prefix_length == 0
    # pieces work too, and an unknown piece is named
    piece = translator.loaded.tgt_tok.pieces("seven")[0]
    (by_pieces,) = translator.translate(["one two"], DecodeOptions(beam=beam), prefixes=[[piece]])
    assert by_pieces.best.tokens[0] == piece and by_pieces.best.prefix_length == 1
    with pytest.raises(InputError, match="not in the target vocabulary"):
        translator.translate(["one"], DecodeOptions(beam=beam), prefixes=[["▁Zebra"]])


def test_paragraph_is_split_translated_and_rejoined(translator):
    text = "one two three! four five?\n\nsix seven.\nnine"
    para = translator.translate_paragraph(text, DecodeOptions(beam=2))
    assert len(para.sentences) == 4
    assert para.separators == (" ", "\n\n", "\n", "")
    assert [t.source for t in para.sentences] == ["one two three!", "four five?", "six seven.", "nine"]
    assert para.text.count("\n") == 3
    assert para.text == "".join(t.text + sep for t, sep in zip(para.sentences, para.separators))


@pytest.mark.parametrize(
    "text",
    ["", "   ", "\x00\x00", "one 😀 two", "שלום one", "مرحبا", "one\x07two\x1bthree", "one\u200ftwo", "one\ttwo\r\n"],
)
def test_odd_inputs_never_crash(translator, text):
    (t,) = translator.translate([text], DecodeOptions(beam=2))
    assert isinstance(t.text, str)
    if not clean_text(text):
        assert t.text == "" and t.source_tokens == () and not t.truncated


def test_control_characters_and_nul_are_removed_before_tokenizing():
    assert clean_text("a\x00b\x07c\td\ne") == "abc d e"
    assert clean_text("😀 مرحبا") == "😀 مرحبا"


def test_huge_input_is_truncated_not_hung(translator):
    text = " ".join(["one two three four"] * 2500)  # 10,000 words
    opts = DecodeOptions(beam=2, max_source_tokens=50)
    (t,) = translator.translate([text], opts)
    assert t.truncated
    assert len(t.source_tokens) == 51  # 50 pieces + </s>
    assert len(t.best.tokens) <= 1.5 * 50 + 10


def test_file_translation_with_progress_and_cancel(translator, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("one two\n\nthree four five\n" * 10, encoding="utf-8")
    seen = []
    summary = translator.translate_file(src, tmp_path / "out.txt", DecodeOptions(beam=1),
                                        progress=lambda d, n: seen.append((d, n)), chunk=7)
    out = (tmp_path / "out.txt").read_text(encoding="utf-8").split("\n")[:-1]
    assert summary.lines == 30 and len(out) == 30 and not summary.cancelled
    assert out[1] == ""  # empty lines stay empty and aligned
    assert seen[-1] == (30, 30) and len(seen) == 5
    cancel = threading.Event()
    cancel.set()
    summary = translator.translate_file(src, tmp_path / "never.txt", cancel=cancel)
    assert summary.cancelled and not (tmp_path / "never.txt").exists()


def test_bad_options_are_named(translator):
    with pytest.raises(ConfigError, match="--nbest"):
        translator.translate(["one"], DecodeOptions(beam=2, nbest=3))
    with pytest.raises(ConfigError, match="--beam"):
        translator.translate(["one"], DecodeOptions(beam=0))


def test_info_is_a_model_info_in_the_order_of_s2s_info_json(tiny_model_file):
    from s2s_desktop.engine.api import ModelInfo
    from s2s_desktop.engine.formats.checkpoint import load_model

    info = Translator.open(str(tiny_model_file), "cpu").info()
    assert isinstance(info, ModelInfo)
    # The keys of earlier versions keep their order; new ones are only ever appended.
    assert list(info.to_json())[:15] == ["path", "file_size", "format_version", "app_version", "src_lang", "tgt_lang",
                                         "parameters", "src_vocab", "tgt_vocab", "joint_vocab", "storage", "model",
                                         "training", "device", "precision"]
    assert list(info.to_json())[15:] == ["provenance", "target_languages", "target_language"]
    assert (info.provenance, info.target_languages, info.target_language) == ({}, (), None)
    assert (info.path, info.file_size) == (str(tiny_model_file), tiny_model_file.stat().st_size)
    assert (info.src_lang, info.tgt_lang, info.device) == ("en", "de", "cpu")
    assert info.parameters == load_model(tiny_model_file).model.num_parameters()


@pytest.mark.parametrize("beam", [1, 3])
def test_token_entropy_is_that_of_the_models_full_distribution(reverse_model_file, beam):
    """Each position's entropy equals the entropy of the teacher-forced distribution over the whole
    vocabulary for the chosen prefix (computed here apart from the search), and is bounded by ln V."""
    import torch

    from s2s_desktop.engine.data.batching import make_batch

    translator = Translator.open(str(reverse_model_file), "cpu", precision="fp32")  # int8 steps differ a little
    (t,) = translator.translate(["one two three four"], DecodeOptions(beam=beam))
    best, tok = t.best, translator.loaded.src_tok
    src = tok.encode("one two three four")
    tgt = [translator.loaded.tgt_tok.piece_to_id(p) for p in best.tokens[:-1]]
    batch = make_batch([src], [tgt], np.arange(1), translator.device)
    model = translator.model
    with torch.inference_mode():
        hidden, _ = model.decode(model.encode(batch.src, batch.src_lengths), batch.tgt_in)
        logp = torch.log_softmax(model.logits(hidden).float(), -1)[0]  # (T, V)
        expected = -(logp.exp() * logp).sum(-1).numpy()
    assert best.token_entropy.shape == (len(best.tokens),)
    np.testing.assert_allclose(best.token_entropy, expected, rtol=1e-3, atol=1e-4)
    assert np.all(best.token_entropy <= np.log(logp.shape[-1]) + 1e-5)
    assert t.to_json()["token_entropy"] == pytest.approx(list(best.token_entropy), abs=1e-5)
    # no alternatives asked (the server): no entropy either
    (bare,) = translator.translate(["one two three four"], DecodeOptions(beam=beam, alternatives=0))
    assert bare.best.entropy(0) is None and bare.to_json()["token_entropy"] == []
