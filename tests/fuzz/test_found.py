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
