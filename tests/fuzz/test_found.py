"""One regression test per input the fuzz properties found (issue 20): each is refused by name now."""

from __future__ import annotations

import json

import pytest

from s2s_desktop.engine.formats.checkpoint import load_model
from s2s_desktop.engine.formats.model_header import read_model_header
from s2s_desktop.engine.training.run_folder import read_metrics, summarize_run
from s2s_desktop.errors import CheckpointError
from tests.fuzz.hostile import join_safetensors, split_safetensors


def rewritten(src, dst, metadata=None, meta=None, model=None, tensor=None):
    header, body = split_safetensors(src.read_bytes())
    md = dict(header["__metadata__"])
    info = json.loads(md["meta"])
    info.update(meta or {})
    info["model"] = {**info["model"], **(model or {})}
    md["meta"] = json.dumps(info)
    md.update(metadata or {})
    header = {**header, "__metadata__": md}
    for name, entry in (tensor or {}).items():
        header[name] = {**header[name], **entry}
    dst.write_bytes(join_safetensors(header, body))
    return dst


@pytest.mark.parametrize("change, words", [
    ({"metadata": {"format_version": None}}, "invalid format version"),
    ({"tensor": {"model.output.bias": {"data_offsets": [0, float("inf")]}}}, "corrupt tensor list"),
    ({"tensor": {"model.output.bias": {"shape": [2**31 - 1, "00"]}}}, "corrupt tensor list|is corrupt"),
])
def test_header_fields_of_the_wrong_type(tiny_model_file, tmp_path, change, words):
    """(The shape ["00"] * 2**31 made the library's header reader build a 4 GB string.)"""
    path = rewritten(tiny_model_file, tmp_path / "m.s2s", **change)
    for reader in (read_model_header, load_model):
        with pytest.raises(CheckpointError, match=words):
            reader(path)


@pytest.mark.parametrize("change, words", [
    ({"model": {"src_vocab_size": None}}, "src_vocab_size must be a int"),
    ({"model": {"dropout": float("nan")}}, "dropout must be a float"),
    ({"model": {"cell": 3}}, "cell must be a str"),
    ({"meta": {"src_lang": -1}}, "src_lang must be a short language code"),
    ({"meta": {"training": [1]}}, "training must be a dict"),
])
def test_metadata_fields_of_the_wrong_type(tiny_model_file, tmp_path, change, words):
    with pytest.raises(CheckpointError, match=words):
        load_model(rewritten(tiny_model_file, tmp_path / "m.s2s", **change))


@pytest.mark.parametrize("model, words", [
    ({"emb_size": 10**9}, r"embed.weight is \[\d+, 16\] in the file, \[\d+, 1000000000\] by the config"),
    ({"encoder_layers": 10**9}, "more layers than the file has tensors"),
    ({"decoder_hidden": 2**62}, "decoder_hidden \\(4611686018427387904\\) is too large"),
])
def test_hostile_sizes_are_refused_before_anything_is_allocated(tiny_model_file, tmp_path, model, words):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match=words):
        load_model(rewritten(tiny_model_file, tmp_path / "m.s2s", model=model))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: nothing the size asks


def test_an_event_with_null_fields_is_skipped_and_the_run_still_summarised(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model": {"arch": "rnn"}, "train": {}}))
    good = {"event": "step", "step": 5, "epoch": 1, "loss": 2.0, "nll": 2.0, "lr": 1e-3, "tokens_per_sec": 10.0,
            "grad_norm": 1.0, "tokens_seen": 100, "elapsed": 3.0}
    bad = {"event": "eval", "step": None, "epoch": None, "loss": None, "ppl": None, "is_best": None, "metric": None,
           "elapsed": None, "decode_seconds": None}
    wrong = {**good, "step": "7"}
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(e) for e in (good, bad, wrong)) + "\n")
    assert [e.step for e in read_metrics(tmp_path / "metrics.jsonl")] == [5]
    assert summarize_run(tmp_path).steps == 5


def test_a_sentencepiece_piece_that_is_not_utf8_is_refused_at_load(tiny_tokenizers):
    """SentencePiece loads such a model, and then every encode, decode and piece listing raised
    UnicodeDecodeError (found by mutating a piece's string field)."""
    from s2s_desktop.engine.data.tokenizer import Tokenizer
    from s2s_desktop.errors import TokenizerError
    from tests.fuzz.protobuf import parse, serialize

    fields = parse(tiny_tokenizers[0].model_bytes)
    i = next(i for i, (number, _, _) in enumerate(fields) if number == 1 and i > 4)  # an ordinary piece
    piece = parse(fields[i][2])
    piece[0] = (1, 2, b"\x80\xff")
    fields[i] = (1, 2, serialize(piece))
    with pytest.raises(TokenizerError, match="not UTF-8"):
        Tokenizer(serialize(fields))


def test_a_corpus_of_only_overlong_lines_gets_a_message_not_sentencepiece_internals():
    from s2s_desktop.engine.data.tokenizer import train_tokenizer
    from s2s_desktop.errors import TokenizerError

    with pytest.raises(TokenizerError, match="every sentence is longer than 8192 bytes"):
        train_tokenizer(["word " * 2000] * 3, 40)


def test_a_model_whose_scores_are_all_nan_raises_a_model_error(tiny_model_file):
    """A corrupt weight (an exponent byte flipped in a Marian file) made every beam score NaN, and the
    service then indexed an empty n-best list (IndexError)."""
    import torch

    from s2s_desktop.engine.api import DecodeOptions
    from s2s_desktop.engine.decoding.service import Translator
    from s2s_desktop.errors import ModelError

    translator = Translator.open(str(tiny_model_file), "cpu", 1, "fp32")
    with torch.no_grad():
        translator.model.output.bias.fill_(float("nan"))
    with pytest.raises(ModelError, match="no finite score"):
        translator.translate(["one two"], DecodeOptions(beam=2))
