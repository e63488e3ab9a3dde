"""Tests for s2s_desktop.engine.formats.checkpoint: the .s2s round trip and an error for every bad file."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import safetensors
import safetensors.torch
import torch

from s2s_desktop.engine.api import BOS_ID
from s2s_desktop.engine.formats.checkpoint import (
    FORMAT_NAME,
    FORMAT_VERSION,
    ModelMeta,
    load_model,
    read_header,
    save_model,
)
from s2s_desktop.errors import CheckpointError, S2SError


def _file_parts(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    tensors = safetensors.torch.load_file(str(path))
    with safetensors.safe_open(str(path), framework="pt") as fh:
        metadata = dict(fh.metadata())
    return tensors, metadata


def _rewrite(src: Path, dst: Path, tensors=None, **metadata_changes) -> Path:
    """Copy a valid model file to `dst` as a valid safetensors file, changing tensors or metadata."""
    orig_tensors, metadata = _file_parts(src)
    metadata.update(metadata_changes)
    tensors = orig_tensors if tensors is None else tensors
    dst.write_bytes(safetensors.torch.save(tensors, metadata=metadata))
    return dst


def _save(path: Path, model, src_tok, tgt_tok, meta: ModelMeta, half: bool = False) -> Path:
    save_model(path, model, src_tok, tgt_tok, meta, half=half)
    return path


def _encode_and_step(model, tok, text: str):
    ids = tok.encode(text) + [3]
    src = torch.tensor([ids])
    lengths = torch.tensor([len(ids)])
    with torch.inference_mode():
        enc = model.encode(src, lengths)
        state = model.init_state(enc)
        log_probs, att, _ = model.step(torch.tensor([BOS_ID]), state, enc)
    return enc, log_probs, att


def _load_error(path: Path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_model(path)
    return str(info.value)


# --------------------------------------------------------------------------- good files


def _tiny_model(src_tok, tgt_tok):
    from s2s_desktop.engine.api import ModelConfig
    from s2s_desktop.engine.models.model import build_model

    cfg = ModelConfig(
        emb_size=16, encoder_hidden=16, decoder_hidden=32, src_vocab_size=len(src_tok), tgt_vocab_size=len(tgt_tok)
    )
    return build_model(cfg).eval()


def test_round_trip_weights_outputs_tokenizers_meta(tmp_path: Path, tiny_tokenizers) -> None:
    src_tok, tgt_tok = tiny_tokenizers
    torch.manual_seed(0)
    original = _tiny_model(src_tok, tgt_tok)
    path = tmp_path / "m.s2s"
    _save(path, original, src_tok, tgt_tok, ModelMeta("en", "de", training={"steps": 7}))
    loaded = load_model(path)

    assert loaded.config == original.cfg
    ref_state, got_state = original.state_dict(), loaded.model.state_dict()
    assert ref_state.keys() == got_state.keys()
    for name, value in ref_state.items():
        assert got_state[name].dtype == value.dtype, name
        assert torch.equal(got_state[name], value), name

    enc_a, lp_a, att_a = _encode_and_step(original, src_tok, "one two three")
    enc_b, lp_b, att_b = _encode_and_step(loaded.model, loaded.src_tok, "one two three")
    assert torch.equal(enc_a.memory, enc_b.memory)
    assert torch.equal(enc_a.final, enc_b.final)
    assert torch.equal(lp_a, lp_b)
    assert torch.equal(att_a, att_b)

    assert loaded.src_tok.model_bytes == src_tok.model_bytes
    assert loaded.tgt_tok.model_bytes == tgt_tok.model_bytes
    assert loaded.tgt_tok is not loaded.src_tok
    assert loaded.meta["src_lang"] == "en"
    assert loaded.meta["tgt_lang"] == "de"
    assert loaded.meta["training"]["steps"] == 7
    assert loaded.meta["storage"] == "float32"
    assert loaded.path == str(path)
    assert not loaded.model.training


def test_fixture_file_loads_with_its_config(tiny_model_file: Path, tiny_tokenizers) -> None:
    src_tok, tgt_tok = tiny_tokenizers
    loaded = load_model(tiny_model_file)
    assert (loaded.config.emb_size, loaded.config.rnn.encoder_hidden, loaded.config.rnn.decoder_hidden) == (16, 16, 32)
    assert (loaded.config.src_vocab_size, loaded.config.tgt_vocab_size) == (len(src_tok), len(tgt_tok))
    again = load_model(tiny_model_file)
    for name, value in loaded.model.state_dict().items():
        assert torch.equal(again.model.state_dict()[name], value), name


# What every model file and config.json held before the architecture sections: the fields of every
# architecture in one flat object (ModelConfig.to_dict of s2s-desktop 0.x up to this change).
FLAT_FORMAT = {"arch": "rnn", "src_vocab_size": 8000, "tgt_vocab_size": 8000, "emb_size": 256, "dropout": 0.3,
               "cell": "gru", "attention": "luong-general", "encoder_hidden": 256, "encoder_layers": 1,
               "decoder_hidden": 512, "decoder_layers": 1, "heads": 4, "ff_size": 1024, "tie_output": False,
               "share_embeddings": False}


@pytest.mark.parametrize("fixture", ["tiny_model_file", "tiny_transformer_file"])
def test_a_file_of_the_flat_format_opens(request, tmp_path: Path, fixture: str) -> None:
    from s2s_desktop.engine.api import ModelConfig

    path = request.getfixturevalue(fixture)
    _, metadata = _file_parts(path)
    info = json.loads(metadata["meta"])
    info["model"] = {**FLAT_FORMAT, **info["model"]}
    assert len(info["model"]) == len(FLAT_FORMAT)
    flat = _rewrite(path, tmp_path / "flat.s2s", meta=json.dumps(info))
    old, new = load_model(flat), load_model(path)
    assert old.config == new.config == ModelConfig.from_dict(info["model"])
    assert old.config.to_dict().keys() < FLAT_FORMAT.keys()  # saved again, it holds its own fields only
    enc_a, lp_a, att_a = _encode_and_step(old.model, old.src_tok, "one two three")
    enc_b, lp_b, att_b = _encode_and_step(new.model, new.src_tok, "one two three")
    assert torch.equal(enc_a.memory, enc_b.memory) and torch.equal(lp_a, lp_b) and torch.equal(att_a, att_b)


def test_flat_format_fields_land_in_their_sections() -> None:
    from s2s_desktop.engine.api import ModelConfig, RnnConfig, TransformerConfig

    rnn = ModelConfig.from_dict({**FLAT_FORMAT, "cell": "lstm", "heads": 8})
    assert rnn.rnn == RnnConfig(cell="lstm") and rnn.transformer is None
    transformer = ModelConfig.from_dict({**FLAT_FORMAT, "arch": "transformer", "encoder_layers": 3, "heads": 8})
    assert transformer.transformer == TransformerConfig(heads=8, encoder_layers=3) and transformer.rnn is None
    assert transformer.emb_size == 256 and not transformer.tie_output


def test_joint_vocab_stores_one_tokenizer(tmp_path: Path, tiny_tokenizers) -> None:
    src_tok, _ = tiny_tokenizers
    torch.manual_seed(0)
    model = _tiny_model(src_tok, src_tok)
    path = tmp_path / "joint.s2s"
    _save(path, model, src_tok, src_tok, ModelMeta("en", "en", joint_vocab=True))
    header, _ = read_header(path)
    assert "tokenizer.tgt" not in header
    loaded = load_model(path)
    assert loaded.tgt_tok is loaded.src_tok
    assert loaded.meta["joint_vocab"] is True


def test_header_length_with_low_byte_0x80(tmp_path: Path, tiny_tokenizers) -> None:
    from s2s_desktop.engine.formats.checkpoint import model_bytes

    src_tok, tgt_tok = tiny_tokenizers
    model = _tiny_model(src_tok, tgt_tok)
    for pad in range(600):
        data = model_bytes(model, src_tok, tgt_tok, ModelMeta("en", "de", training={"note": "x" * pad}))
        if data[:1] == b"\x80":
            break
    else:
        pytest.fail("could not produce a header length ending in 0x80")
    path = tmp_path / "unlucky.s2s"
    path.write_bytes(data)
    assert load_model(path).meta["training"]["note"] == "x" * pad


def test_header_is_safetensors_with_s2s_metadata(tiny_model_file: Path) -> None:
    header, data = read_header(tiny_model_file)
    assert data == tiny_model_file.read_bytes()
    meta = header["__metadata__"]
    assert meta["format"] == FORMAT_NAME
    assert meta["format_version"] == str(FORMAT_VERSION)
    assert json.loads(meta["meta"])["model"]["decoder_hidden"] == 32
    assert "tokenizer.src" in header and "tokenizer.tgt" in header


def test_fp16_storage_loads_as_float32(tmp_path: Path, tiny_model_file: Path, tiny_tokenizers) -> None:
    src_tok, tgt_tok = tiny_tokenizers
    full = load_model(tiny_model_file)
    assert full.meta["storage"] == "float32"
    half_path = tmp_path / "half.s2s"
    _save(half_path, full.model, src_tok, tgt_tok, ModelMeta("en", "de"), half=True)

    tensors, _ = _file_parts(half_path)
    assert any(v.dtype == torch.float16 for k, v in tensors.items() if k.startswith("model."))
    assert half_path.stat().st_size < tiny_model_file.stat().st_size

    half = load_model(half_path)
    assert half.meta["storage"] == "float16"
    for name, value in full.model.state_dict().items():
        got = half.model.state_dict()[name]
        assert got.dtype == torch.float32, name
        torch.testing.assert_close(got, value, rtol=1e-3, atol=1e-3)


def test_loading_never_unpickles(tiny_model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args, **kwargs):
        raise AssertionError("a model file must never be unpickled")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    loaded = load_model(tiny_model_file)
    assert loaded.meta["src_lang"] == "en"


def test_save_is_atomic_and_replaces(tmp_path: Path, tiny_model_file: Path, tiny_tokenizers) -> None:
    src_tok, tgt_tok = tiny_tokenizers
    loaded = load_model(tiny_model_file)
    path = tmp_path / "sub" / "m.s2s"
    _save(path, loaded.model, src_tok, tgt_tok, ModelMeta("en", "fr"))
    _save(path, loaded.model, src_tok, tgt_tok, ModelMeta("en", "de"))
    assert load_model(path).meta["tgt_lang"] == "de"
    assert sorted(os.listdir(path.parent)) == ["m.s2s"]  # no temporary files left behind


# --------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.s2s"
    msg = _load_error(path)
    assert "not found" in msg and str(path) in msg


def test_directory(tmp_path: Path) -> None:
    msg = _load_error(tmp_path)
    assert "folder" in msg and "best.s2s" in msg


def test_torch_pickle(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"a": torch.zeros(2)}, path)
    msg = _load_error(path)
    assert "pickle" in msg.lower()
    assert str(path) in msg


def test_raw_pickle(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    data = pickle.dumps({"a": [1, 2, 3]}, protocol=2)
    assert data[:1] == b"\x80"
    path.write_bytes(data)
    assert "pickle" in _load_error(path).lower()


def test_random_bytes(tmp_path: Path) -> None:
    path = tmp_path / "random.s2s"
    # Deterministic bytes that start neither like a pickle nor like a zip file.
    path.write_bytes(b"\x13" + bytes((i * 73 + 41) % 256 for i in range(4095)))
    msg = _load_error(path)
    assert "not an s2s-desktop model file" in msg


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.s2s"
    path.write_bytes(b"")
    msg = _load_error(path)
    assert "0 bytes" in msg


def test_truncated_file(tmp_path: Path, tiny_model_file: Path) -> None:
    data = tiny_model_file.read_bytes()
    path = tmp_path / "half.s2s"
    path.write_bytes(data[: len(data) // 2])
    msg = _load_error(path)
    assert "truncated" in msg


def test_truncated_inside_header(tmp_path: Path, tiny_model_file: Path) -> None:
    path = tmp_path / "head.s2s"
    path.write_bytes(tiny_model_file.read_bytes()[:100])
    assert "truncated" in _load_error(path)


def test_foreign_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(3)}, str(path))
    msg = _load_error(path)
    assert "another program" in msg


def test_a_runs_resume_state_is_named_for_what_it_is(tmp_path: Path) -> None:
    """Every front end opens models through read_header: the CLI and the app get the same message."""
    from s2s_desktop.engine.formats.checkpoint import read_header
    from s2s_desktop.engine.training.run_folder import RESUME_FILE, RESUME_FORMAT

    run = tmp_path / "run"
    run.mkdir()
    path = run / RESUME_FILE
    safetensors.torch.save_file({"optim.0": torch.zeros(2)}, str(path), metadata={"format": RESUME_FORMAT})
    with pytest.raises(CheckpointError) as err:
        read_header(path)
    msg = str(err.value)
    assert "another program" not in msg
    assert f"resume state of the training run in {run.resolve()}" in msg and "--resume" in msg
    assert str(run.resolve() / "best.s2s") in msg and str(run.resolve() / "last.s2s") in msg
    assert "resume state" in _load_error(path)  # load_model goes through it


def test_newer_format_version(tmp_path: Path, tiny_model_file: Path) -> None:
    path = _rewrite(tiny_model_file, tmp_path / "future.s2s", format_version="99")
    msg = _load_error(path)
    assert "newer" in msg and "99" in msg


def test_invalid_format_version(tmp_path: Path, tiny_model_file: Path) -> None:
    path = _rewrite(tiny_model_file, tmp_path / "bad_version.s2s", format_version="one")
    assert "format version" in _load_error(path)


def test_corrupt_json_metadata(tmp_path: Path, tiny_model_file: Path) -> None:
    path = _rewrite(tiny_model_file, tmp_path / "meta.s2s", meta="{not json")
    msg = _load_error(path)
    assert "corrupt metadata" in msg


def test_unknown_model_config_field(tmp_path: Path, tiny_model_file: Path) -> None:
    _, metadata = _file_parts(tiny_model_file)
    info = json.loads(metadata["meta"])
    info["model"]["wings"] = 2
    path = _rewrite(tiny_model_file, tmp_path / "cfg.s2s", meta=json.dumps(info))
    msg = _load_error(path)
    assert "corrupt metadata" in msg and "wings" in msg


def test_weights_do_not_match_config(tmp_path: Path, tiny_model_file: Path) -> None:
    tensors, _ = _file_parts(tiny_model_file)
    dropped = sorted(k for k in tensors if k.startswith("model."))[0]
    del tensors[dropped]
    path = _rewrite(tiny_model_file, tmp_path / "missing_weight.s2s", tensors=tensors)
    msg = _load_error(path)
    assert "do not match the model config" in msg
    assert dropped[len("model.") :] in msg


def test_missing_tokenizer(tmp_path: Path, tiny_model_file: Path) -> None:
    tensors, _ = _file_parts(tiny_model_file)
    del tensors["tokenizer.src"]
    path = _rewrite(tiny_model_file, tmp_path / "no_tok.s2s", tensors=tensors)
    assert "tokenizer" in _load_error(path)


def test_checkpoint_error_is_user_error() -> None:
    assert issubclass(CheckpointError, S2SError)


def test_full_disk_keeps_the_old_file_and_names_the_problem(
    tmp_path: Path, tiny_model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails half-way (ENOSPC) raises a CheckpointError naming the file and the cause,
    leaves the previous model intact and no temporary file behind."""
    import errno

    from s2s_desktop.engine.formats.atomic import atomic_write

    target = tmp_path / "best.s2s"
    target.write_bytes(tiny_model_file.read_bytes())
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def fileno(self):
            return self.fh.fileno()

        def write(self, data):
            self.fh.write(data[:10])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: FullDisk(real_fdopen(fd, mode)))
    with pytest.raises(CheckpointError) as info:
        atomic_write(target, b"x" * 1000)
    assert str(target) in str(info.value) and "No space left" in str(info.value)
    assert target.read_bytes() == tiny_model_file.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["best.s2s"]
    assert load_model(target).meta["src_lang"] == "en"


def test_streamed_safetensors_files_read_back_with_the_library(tmp_path):
    """Our chunked writer (which lets the GUI thread run during saves) makes standard files."""
    import torch
    from safetensors.torch import load_file, safe_open

    from s2s_desktop.engine.formats.atomic import atomic_write
    from s2s_desktop.engine.formats.safetensors_io import serialize

    tensors = {
        "w": torch.randn(3, 5), "half": torch.randn(7).half(), "bf": torch.randn(2, 2).bfloat16(),
        "ids": torch.arange(6, dtype=torch.int64).reshape(2, 3), "bytes": torch.tensor([1, 2, 255], dtype=torch.uint8),
        "empty": torch.zeros(0), "flag": torch.tensor([True, False]), "strided": torch.randn(4, 6)[:, ::2],
    }
    path = tmp_path / "x.safetensors"
    atomic_write(path, serialize(tensors, {"format": "test", "n": "1"}))
    back = load_file(path)
    assert set(back) == set(tensors)
    for name, t in tensors.items():
        assert back[name].dtype == t.dtype and torch.equal(back[name], t), name
    with safe_open(path, "pt") as fh:
        assert fh.metadata() == {"format": "test", "n": "1"}
