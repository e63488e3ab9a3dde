"""The Marian folder reader and tokenizer, checked against transformers' own MarianMTModel / MarianTokenizer
on a small model built locally (tests/marian_fixture.py)."""

from __future__ import annotations

import dataclasses
import json
import random
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from s2s_desktop.engine.data.marian_tokenizer import MarianTokenizer
from s2s_desktop.engine.formats import marian_weights
from s2s_desktop.engine.formats.marian import read_marian_folder
from s2s_desktop.errors import MarianImportError, S2SError
from tests.marian_fixture import LANGUAGE_TOKENS, LICENSE, copy_folder

pytest.importorskip("transformers")
pytest_plugins = ("tests.marian_fixture",)  # marian_corpus, marian_folder, marian_bin_folder
EDGE_CASES = [
    "", " ", "Hello", "  Tom   is here.  ", "☃ snowman ☃", "Tom</s>left", "a <unk> b <pad> c", "</s></s>",
    ">>deu<< Hello world.", ">>xyz<< unknown code", "Hi >>deu<< inside", ">>deu<<", ">>deu<<</s>", "Grüß Gott! «Ja»",
    "Tab\there", "1234567890 %&/()", "NEW YORK", "straße STRASSE", "日本語のテキスト",
]


@pytest.fixture(scope="module")
def hf_tokenizer(marian_folder):
    from transformers import MarianTokenizer as HFMarianTokenizer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return HFMarianTokenizer.from_pretrained(str(marian_folder))


@pytest.fixture(scope="module")
def imported(marian_folder):
    return read_marian_folder(marian_folder)


def _labels(hf_tokenizer, text: str) -> list[int]:
    enc = hf_tokenizer(text_target=text)
    return list(enc["labels"] if "labels" in enc else enc["input_ids"])


# -- tokenizer ---------------------------------------------------------------------------------------
def test_tokenizer_ids_equal_marian_tokenizer(imported, hf_tokenizer, marian_corpus):
    ours = MarianTokenizer(imported.tokenizer)
    pairs = list(marian_corpus.pairs[1::10][:300])
    assert len(pairs) == 300
    for text in [p[0] for p in pairs] + EDGE_CASES:
        assert ours.encode(text) == hf_tokenizer(text)["input_ids"], text
        assert ours.tokenize(text) == hf_tokenizer.tokenize(text), text
    for text in [p[1] for p in pairs] + EDGE_CASES:
        assert ours.encode(text, "target") == _labels(hf_tokenizer, text), text
    unknown = ours.encode("☃")
    assert unknown[-2:] == [ours.unk_id, ours.eos_id] and ours.eos_id == 0 and ours.unk_id == 1


def test_tokenizer_decodes_like_marian_tokenizer(imported, hf_tokenizer, marian_corpus):
    ours = MarianTokenizer(imported.tokenizer)
    rng = random.Random(3)
    sequences = [ours.encode(p[1], "target") for p in marian_corpus.pairs[::40][:100]]
    sequences += [[rng.randrange(len(ours)) for _ in range(rng.randint(0, 12))] for _ in range(100)]
    sequences.append([ours.pad_id, 5, ours.unk_id, 9, ours.eos_id, ours.pad_id])
    for ids in sequences:
        for skip in (True, False):
            assert ours.decode(ids, skip_special_tokens=skip) == hf_tokenizer.decode(ids, skip_special_tokens=skip), ids


def test_target_language_prefix(imported, hf_tokenizer):
    ours = MarianTokenizer(imported.tokenizer)
    assert ours.language_tokens == LANGUAGE_TOKENS
    ids = ours.encode("Hello world.", target_language="nld")
    assert ids == hf_tokenizer(">>nld<< Hello world.")["input_ids"]
    assert ours.id_to_piece(ids[0]) == ">>nld<<"


# -- spec and weights ---------------------------------------------------------------------------------
def test_reader_returns_the_spec(imported, marian_folder):
    spec = imported.spec
    vocab = json.loads((marian_folder / "vocab.json").read_text(encoding="utf-8"))
    v = len(vocab)
    assert (spec.d_model, spec.encoder_layers, spec.decoder_layers) == (32, 2, 2)
    assert (spec.encoder_attention_heads, spec.decoder_attention_heads, spec.encoder_ffn_dim, spec.decoder_ffn_dim) == (
        4, 4, 64, 64)
    assert (spec.activation_function, spec.activation) == ("swish", "silu")
    assert spec.scale_embedding and spec.static_positions and spec.share_encoder_decoder_embeddings
    assert spec.tie_word_embeddings and spec.final_logits_bias
    assert not spec.normalize_before and not spec.final_layer_norm
    assert (spec.vocab_size, spec.max_position_embeddings) == (v, 128)
    ids = (spec.pad_token_id, spec.eos_token_id, spec.unk_token_id, spec.decoder_start_token_id)
    assert ids == (v - 1, 0, 1, v - 1)
    assert spec.language_tokens == LANGUAGE_TOKENS
    assert (spec.source_lang, spec.target_lang) == ("en", "de")
    assert (spec.repository, spec.license, spec.license_text) == ("opus-mt-en-de", "cc-by-4.0", LICENSE)
    assert spec.readme_preprocessing == "normalization + SentencePiece"
    assert (spec.num_beams, spec.max_length, spec.bad_words_ids) == (4, 64, ((v - 1,),))
    assert spec.forced_eos_token_id == 0 and spec.renormalize_logits
    assert spec.weights_file == "model.safetensors" and imported.notices == ()
    assert imported.tokenizer.vocab[0] == "</s>" and len(imported.tokenizer.vocab) == v


def test_tensors_equal_the_reference_model(imported, marian_folder):
    from transformers import MarianMTModel
    from transformers.utils import logging

    logging.set_verbosity_error()
    reference = MarianMTModel.from_pretrained(str(marian_folder)).eval()
    state = reference.state_dict()
    aliases = {"lm_head.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"}
    assert set(imported.tensors) == {k for k in state if "embed_positions" not in k} - aliases
    assert torch.equal(state["lm_head.weight"], imported.tensors["model.shared.weight"])  # tied
    for name, tensor in imported.tensors.items():
        assert tensor.dtype == torch.float32
        assert torch.equal(tensor, state[name]), name
    assert imported.tensors["final_logits_bias"].abs().max() > 0.1  # OPUS-like: a real output bias
    positions = reference.model.encoder.embed_positions.weight.detach().numpy()
    np.testing.assert_allclose(marian_weights.marian_sinusoids(*positions.shape), positions, rtol=0, atol=1e-6)
    odd = marian_weights.marian_sinusoids(5, 7)
    assert odd.shape == (5, 7) and odd[1, 0] == pytest.approx(np.sin(1.0)) and odd[1, 4] == pytest.approx(np.cos(1.0))


def test_bin_folder_gives_the_same_import(imported, marian_bin_folder):
    from transformers import MarianMTModel
    from transformers.utils import logging

    logging.set_verbosity_error()
    MarianMTModel.from_pretrained(str(marian_bin_folder))  # transformers itself accepts the folder
    other = read_marian_folder(marian_bin_folder)
    assert other.spec.weights_file == "pytorch_model.bin"
    assert other.spec == dataclasses.replace(imported.spec, weights_file="pytorch_model.bin")
    assert len(other.notices) == 1 and "weights_only=True" in other.notices[0]
    assert other.tensors.keys() == imported.tensors.keys()
    assert all(torch.equal(other.tensors[k], imported.tensors[k]) for k in imported.tensors)
    assert other.tokenizer == imported.tokenizer


def test_mapping_covers_our_transformer_but_its_final_norms(imported):
    """The renaming table of marian.py against today's Seq2Seq: every Marian tensor has a place of the
    same shape; what is left over is what the Transformer must learn to leave out."""
    from s2s_desktop.engine.api import ModelConfig
    from s2s_desktop.engine.models.model import build_model

    spec = imported.spec
    model = build_model(ModelConfig(
        arch="transformer", src_vocab_size=spec.vocab_size, tgt_vocab_size=spec.vocab_size, emb_size=spec.d_model,
        heads=spec.encoder_attention_heads, encoder_layers=spec.encoder_layers, decoder_layers=spec.decoder_layers,
        ff_size=spec.encoder_ffn_dim, tie_output=True, share_embeddings=True, dropout=0.0,
    ))
    ours = model.state_dict()
    mapped = marian_weights.s2s_state_dict(imported.tensors, spec)
    for name, tensor in mapped.items():
        assert name in ours and ours[name].shape == tensor.shape, name
    left = {"encoder.norm.weight", "encoder.norm.bias", "decoder.norm.weight", "decoder.norm.bias"}
    assert set(ours) - set(mapped) == left


# -- hostile folders ---------------------------------------------------------------------------------------
def _edit_json(name: str, change):
    def mutate(folder: Path) -> None:
        path = folder / name
        data = json.loads(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(json.dumps(data), encoding="utf-8")
    return mutate


def _edit_tensors(change):
    def mutate(folder: Path) -> None:
        from safetensors.torch import load_file, save_file

        tensors = load_file(folder / "model.safetensors")
        change(tensors)
        save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    return mutate


def _write(name: str, data: bytes):
    return lambda folder: (folder / name).write_bytes(data)


def _remove(name: str):
    return lambda folder: (folder / name).unlink()


def _vocab_plus_one(folder: Path) -> None:
    _edit_json("vocab.json", lambda v: v.__setitem__("▁extra", len(v)))(folder)
    _edit_json("config.json", lambda c: c.update(vocab_size=c["vocab_size"] + 1, decoder_vocab_size=None))(folder)


def _duplicate_id(vocab: dict) -> None:
    vocab["<unk>"] = 0


def _drop_piece(vocab: dict) -> None:
    vocab.pop(next(k for k in vocab if k.startswith("▁")))


def _lm_head(tensors: dict) -> None:
    tensors["lm_head.weight"] = torch.randn_like(tensors["model.shared.weight"])


def _set_nan(tensors: dict) -> None:
    tensors["model.encoder.layers.0.fc2.weight"][0, 0] = float("nan")


HOSTILE = {
    "not marian": (_edit_json("config.json", lambda c: c.update(model_type="bart")), ["config.json", "model_type"]),
    "causal lm": (_edit_json("config.json", lambda c: c.update(architectures=["MarianForCausalLM"])),
                  ["config.json", "architectures"]),
    "d_model string": (_edit_json("config.json", lambda c: c.update(d_model="32")), ["config.json", "d_model"]),
    "layers bool": (_edit_json("config.json", lambda c: c.update(encoder_layers=True)), ["encoder_layers"]),
    "heads": (_edit_json("config.json", lambda c: c.update(decoder_attention_heads=5)), ["decoder_attention_heads"]),
    "activation": (_edit_json("config.json", lambda c: c.update(activation_function="tanh")), ["activation_function"]),
    "pre-norm": (_edit_json("config.json", lambda c: c.update(normalize_before=True)), ["normalize_before"]),
    "learned positions flag": (_edit_json("config.json", lambda c: c.update(static_position_embeddings=False)),
                               ["static_position_embeddings"]),
    "pad out of range": (_edit_json("config.json", lambda c: c.update(pad_token_id=c["vocab_size"])), ["pad_token_id"]),
    "pad not <pad>": (_edit_json("config.json", lambda c: c.update(pad_token_id=5)),
                      ["config.json", "pad_token_id", "<pad>"]),
    "eos not </s>": (_edit_json("config.json", lambda c: c.update(eos_token_id=7)), ["eos_token_id", "</s>"]),
    "no vocab_size": (_edit_json("config.json", lambda c: c.pop("vocab_size")),
                      ["config.json", "vocab_size", "missing"]),
    "decoder vocab": (_edit_json("config.json", lambda c: c.update(decoder_vocab_size=9)), ["decoder_vocab_size"]),
    "config not json": (_write("config.json", b"{"), ["config.json", "JSON"]),
    "config NaN": (_write("config.json", b'{"model_type": "marian", "d_model": NaN}'), ["config.json", "NaN"]),
    "config list": (_write("config.json", b"[]"), ["config.json", "object"]),
    "no config": (_remove("config.json"), ["config.json", "missing"]),
    "no source.spm": (_remove("source.spm"), ["source.spm", "missing"]),
    "no target.spm": (_remove("target.spm"), ["target.spm", "missing"]),
    "bad target.spm": (_write("target.spm", b"not a model"), ["target.spm", "SentencePiece"]),
    "no vocab.json": (_remove("vocab.json"), ["vocab.json", "missing"]),
    "no tokenizer_config": (_remove("tokenizer_config.json"), ["tokenizer_config.json", "missing"]),
    "vocab short": (_edit_json("vocab.json", _drop_piece), ["vocab.json", "vocab_size"]),
    "vocab id twice": (_edit_json("vocab.json", _duplicate_id), ["vocab.json", "used twice"]),
    "vocab string id": (_edit_json("vocab.json", lambda v: v.update({"▁x": "3"})), ["vocab.json", "integer"]),
    "weights smaller than vocab": (_vocab_plus_one, ["model.safetensors", "model.shared.weight", "shape"]),
    "separate vocabs": (_edit_json("tokenizer_config.json", lambda t: t.update(separate_vocabs=True)),
                        ["tokenizer_config.json", "separate_vocabs"]),
    "target_vocab.json": (_write("target_vocab.json", b"{}"), ["separate_vocabs"]),
    "unk not in vocab": (_edit_json("tokenizer_config.json", lambda t: t.update(unk_token="<nope>")),
                         ["vocab.json", "<nope>", "unk_token"]),
    "added token flags": (_edit_json("tokenizer_config.json",
                                     lambda t: t["added_tokens_decoder"]["0"].update(lstrip=True)),
                          ["tokenizer_config.json", "lstrip"]),
    "bad words": (_edit_json("generation_config.json", lambda g: g.update(bad_words_ids=[[10**6]])),
                  ["generation_config.json", "bad_words_ids"]),
    "no weights": (_remove("model.safetensors"), ["model.safetensors"]),
    "sharded": (lambda f: (_remove("model.safetensors")(f), _write("model.safetensors.index.json", b"{}")(f)),
                ["model.safetensors.index.json", "sharded"]),
    "header length": (_write("model.safetensors", (10**12).to_bytes(8, "little") + b"{}"),
                      ["model.safetensors", "header length"]),
    "header json": (_write("model.safetensors", (4).to_bytes(8, "little") + b"{{{{"), ["model.safetensors", "JSON"]),
    "missing tensor": (_edit_tensors(lambda t: t.pop("model.decoder.layers.1.fc1.weight")),
                       ["model.safetensors", "'model.decoder.layers.1.fc1.weight'", "missing"]),
    "missing embeddings": (_edit_tensors(lambda t: t.pop("model.shared.weight")), ["model.shared.weight", "missing"]),
    "extra tensor": (_edit_tensors(lambda t: t.update({"model.encoder.layernorm_embedding.weight": torch.ones(32)})),
                     ["unexpected", "model.encoder.layernorm_embedding.weight"]),
    "wrong shape": (_edit_tensors(lambda t: t.update({"model.encoder.layers.0.fc1.bias": torch.zeros(65)})),
                    ["model.encoder.layers.0.fc1.bias", "(65,)", "(64,)"]),
    "nan": (_edit_tensors(_set_nan), ["model.encoder.layers.0.fc2.weight", "NaN"]),
    "int tensor": (_edit_tensors(lambda t: t.update({"final_logits_bias": torch.zeros(1, 5, dtype=torch.int64)})),
                   ["final_logits_bias", "dtype"]),
    "untied head": (_edit_tensors(_lm_head), ["lm_head.weight", "tie_word_embeddings"]),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_folder_is_refused_naming_file_and_field(case, marian_folder, tmp_path):
    mutate, expected = HOSTILE[case]
    folder = copy_folder(marian_folder, tmp_path / "opus-mt-en-de")
    mutate(folder)
    with pytest.raises(MarianImportError) as info:
        read_marian_folder(folder)
    message = str(info.value)
    assert isinstance(info.value, S2SError)
    for part in expected:
        assert part in message, (part, message)


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def _bin_folder(source: Path, tmp_path: Path, obj) -> Path:
    folder = copy_folder(source, tmp_path / "opus-mt-en-de")
    torch.save(obj, folder / "pytorch_model.bin")
    return folder


def test_pickled_code_in_bin_never_runs(marian_bin_folder, tmp_path):
    marker = tmp_path / "marker"
    state = torch.load(marian_bin_folder / "pytorch_model.bin", weights_only=True)
    folder = _bin_folder(marian_bin_folder, tmp_path, {**state, "evil": _Payload(marker)})
    with pytest.raises(MarianImportError, match=r"pytorch_model\.bin.*weights_only"):
        read_marian_folder(folder)
    assert not marker.exists()


@pytest.mark.parametrize("obj, expected", [
    ([1, 2, 3], "state dict"),
    ({"model.shared.weight": [1.0]}, "expected a tensor"),
])
def test_bin_that_is_not_a_state_dict_is_refused(obj, expected, marian_bin_folder, tmp_path):
    with pytest.raises(MarianImportError, match=expected):
        read_marian_folder(_bin_folder(marian_bin_folder, tmp_path, obj))


def test_bin_garbage_and_learned_positions_are_refused(marian_bin_folder, tmp_path):
    folder = copy_folder(marian_bin_folder, tmp_path / "garbage")
    (folder / "pytorch_model.bin").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(MarianImportError, match=r"pytorch_model\.bin"):
        read_marian_folder(folder)
    state = torch.load(marian_bin_folder / "pytorch_model.bin", weights_only=True)
    state["model.decoder.embed_positions.weight"] = torch.randn_like(state["model.decoder.embed_positions.weight"])
    with pytest.raises(MarianImportError, match="embed_positions.*sinusoid"):
        read_marian_folder(_bin_folder(marian_bin_folder, tmp_path / "positions", state))


def test_bin_is_loaded_only_with_weights_only(marian_bin_folder, monkeypatch):
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    read_marian_folder(marian_bin_folder)
    assert calls == [True]
    for module in ("marian.py", "marian_weights.py"):
        source = (Path(marian_weights.__file__).parent / module).read_text(encoding="utf-8")
        assert not re.search(r"pickle\.loads?\(|allow_pickle|np\.load\(", source), module
        for call in re.findall(r"torch\.load\([^)]*\)", source):
            assert "weights_only=True" in call, call


def test_optional_files_may_be_absent(marian_folder, tmp_path):
    folder = copy_folder(marian_folder, tmp_path / "plain")
    for name in ("README.md", "LICENSE", "generation_config.json"):
        (folder / name).unlink()
    spec = read_marian_folder(folder).spec
    assert (spec.license, spec.license_text, spec.readme_preprocessing) == (None, None, None)
    assert (spec.source_lang, spec.target_lang) == ("en", "de")  # from tokenizer_config.json
    assert spec.repository is None and spec.num_beams is None and spec.bad_words_ids == ()
    with pytest.raises(MarianImportError, match="not a folder"):
        read_marian_folder(folder / "config.json")


def test_reading_never_imports_transformers(marian_folder):
    """transformers is a test-only reference: the app's import path must not need it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from s2s_desktop.engine.formats.marian import read_marian_folder\n"
        "from s2s_desktop.engine.data.marian_tokenizer import MarianTokenizer\n"
        f"folder = read_marian_folder({str(marian_folder)!r})\n"
        "assert MarianTokenizer(folder.tokenizer).encode('Hello')[-1] == 0\n"
        "print('LEAKED', sorted(m for m in ('transformers', 'PySide6') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "LEAKED []" in proc.stdout
