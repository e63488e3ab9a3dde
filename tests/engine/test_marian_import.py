"""A Marian folder imported as a .s2s file decodes as transformers' MarianMTModel.generate() does.

The reference is transformers itself (a dev-only dependency) on the small OPUS-MT-shaped models of
tests/marian_fixture.py: the fixture's own (random weights: every output runs to the length limit, so
the forced </s> decides), and a "sharpened" copy (weights x3, a higher </s> bias) whose outputs are
varied and often end before the limit, so beam search's stopping rule decides. On 300 sentences:
identical output ids for greedy and beam search, the cross-attention of every layer and head and the
per-token probabilities within 1e-4 of transformers' own, teacher-forced on the same output.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from s2s_desktop.engine.api import BOS_ID, EOS_ID, PAD_ID, UNK_ID, DecodeOptions
from s2s_desktop.engine.decoding.search import SearchRules
from s2s_desktop.engine.decoding.service import Translator
from s2s_desktop.engine.formats.checkpoint import load_model, read_header
from s2s_desktop.engine.formats.marian_import import import_marian
from s2s_desktop.errors import InputError, MarianImportError
from tests.marian_fixture import LICENSE, copy_folder, sharpen

pytest.importorskip("transformers")
pytest_plugins = ("tests.marian_fixture",)  # marian_corpus, marian_folder, marian_bin_folder
LIMIT = 20  # output pieces, </s> included: transformers' max_length = LIMIT + 1 (it counts the start token)
TOL = 1e-4


@dataclasses.dataclass
class Reference:
    folder: Path
    model: object  # MarianMTModel (eager attention, so that output_attentions is exact)
    tokenizer: object
    vocab: dict[str, int]


def _reference(folder: Path) -> Reference:
    from transformers import MarianMTModel
    from transformers import MarianTokenizer as HFMarianTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer = HFMarianTokenizer.from_pretrained(str(folder))
    model = MarianMTModel.from_pretrained(str(folder), attn_implementation="eager").eval()
    return Reference(folder, model, tokenizer, json.loads((folder / "vocab.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def texts(marian_corpus) -> list[str]:
    out = [p[0] for p in marian_corpus.pairs[1::10][:300]]
    assert len(out) == 300
    return out


@pytest.fixture(scope="module")
def plain(marian_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("imported") / "plain.s2s"
    return import_marian(marian_folder, out), _reference(marian_folder)


@pytest.fixture(scope="module")
def sharp(marian_folder, tmp_path_factory, texts):
    """The sharpened copy, with the smallest </s> bias (of a few) that ends >= 20% of the greedy outputs early
    in transformers: how often </s> wins depends on the corpus the fixture's SentencePiece models saw."""
    for eos_bias in (3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        folder = sharpen(copy_folder(marian_folder, tmp_path_factory.mktemp("sharp") / "opus-mt-en-de"),
                          eos_bias=eos_bias)
        ref = _reference(folder)
        enc = ref.tokenizer(texts, return_tensors="pt", padding=True)
        with torch.inference_mode():
            rows = ref.model.generate(**enc, num_beams=1, max_length=LIMIT + 1).tolist()
        if sum(0 in row[1:] and row[1:].index(0) + 1 < LIMIT for row in rows) >= len(texts) // 5:
            break
    return import_marian(folder, folder.parent / "sharp.s2s"), ref


def compare(imported, ref: Reference, texts: list[str], beam: int, alpha: float) -> dict:
    """Our output vs generate() with the same beam, length penalty and maximum length, then the
    attention and probabilities vs one teacher-forced forward pass of transformers on our output."""
    translator = Translator.open(imported.path, "cpu", precision="fp32")
    # The repetition guard off: generate() has none here (its no_repeat_ngram_size would ban every repeat);
    # the masking of non-translatables off: generate() reads the source as it is
    opts = DecodeOptions(beam=beam, length_penalty=alpha, max_len_a=0.0, max_len_b=LIMIT, alternatives=0,
                         repeat_ngram=0, protect=False)
    ours = translator.translate(texts, opts)
    enc = ref.tokenizer(texts, return_tensors="pt", padding=True)
    pad = ref.model.config.pad_token_id
    with torch.inference_mode():
        generated = ref.model.generate(**enc, num_beams=beam, length_penalty=alpha, max_length=LIMIT + 1)
    ours_ids = [[ref.vocab[p] for p in t.best.tokens] for t in ours]
    theirs = []
    for row in generated.tolist():
        row = row[1:]  # the start token
        theirs.append(row[: row.index(0) + 1] if 0 in row else row)
    width = max(len(x) for x in ours_ids)
    decoder_in = torch.full((len(texts), width), pad)
    for i, ids in enumerate(ours_ids):
        decoder_in[i, 1 : len(ids)] = torch.tensor(ids[:-1])
    with torch.inference_mode():
        out = ref.model(**enc, decoder_input_ids=decoder_in, output_attentions=True)
    # What generate() chooses from: log-softmax, bad_words_ids [[pad]], renormalize_logits, and at the last
    # position forced_eos_token_id (</s> with probability 1).
    log_probs = torch.log_softmax(out.logits, -1)
    log_probs[..., pad] = float("-inf")
    log_probs = torch.log_softmax(log_probs, -1)
    att = prob = 0.0
    for i, ids in enumerate(ours_ids):
        n, s = len(ids), len(ours[i].source_tokens)
        assert s == int(enc["attention_mask"][i].sum())
        p = log_probs[i, torch.arange(n), torch.tensor(ids)].exp().numpy()
        if n == LIMIT:
            p[-1] = 1.0
        prob = max(prob, float(np.abs(p - ours[i].best.token_probs).max()))
        attention = torch.stack([a[i, :, :n, :s] for a in out.cross_attentions]).numpy()  # (L, H, T, S)
        assert attention.shape == ours[i].best.attention.shape
        att = max(att, float(np.abs(attention - ours[i].best.attention).max()))
    return {"identical": sum(a == b for a, b in zip(ours_ids, theirs)), "ended": sum(len(x) < LIMIT for x in ours_ids),
            "longest": max(max(len(x) for x in theirs), width), "attention": att, "probability": prob}


def _assert_equal(result: dict, n: int) -> None:
    assert result["identical"] == n, result
    assert result["longest"] <= LIMIT, result
    assert result["attention"] < TOL and result["probability"] < TOL, result


@pytest.mark.parametrize("beam, alpha", [(1, 1.0), (4, 1.0)])
def test_outputs_run_to_the_limit_like_generate(plain, texts, beam, alpha):
    result = compare(*plain, texts, beam, alpha)
    _assert_equal(result, len(texts))
    assert result["ended"] == 0 and result["longest"] == LIMIT  # max_length = LIMIT + 1 there, LIMIT here


@pytest.mark.parametrize("beam, alpha", [(1, 1.0), (4, 1.0), (5, 0.6), (3, 0.0)])
def test_outputs_that_end_early_equal_generate(sharp, texts, beam, alpha):
    result = compare(*sharp, texts, beam, alpha)
    _assert_equal(result, len(texts))
    assert result["ended"] >= 20, result  # the stopping rule is exercised, not only the limit


@pytest.mark.parametrize("early_stopping", [True, "never"])
def test_the_early_stopping_setting_is_reproduced(marian_folder, tmp_path, texts, early_stopping):
    folder = sharpen(copy_folder(marian_folder, tmp_path / "opus-mt-en-de"), {"early_stopping": early_stopping})
    imported = import_marian(folder, tmp_path / "m.s2s")
    assert Translator.open(imported.path, "cpu").rules.early_stopping == early_stopping
    _assert_equal(compare(imported, _reference(folder), texts, 4, 1.0), len(texts))


def test_the_banned_pad_and_renormalised_probabilities(marian_folder, tmp_path, texts):
    """With <pad> made the likeliest token, bad_words_ids and renormalize_logits decide everything."""
    from safetensors.torch import load_file, save_file

    folder = copy_folder(marian_folder, tmp_path / "opus-mt-en-de")
    tensors = load_file(folder / "model.safetensors")
    tensors["final_logits_bias"][0, -1] += 8.0  # <pad> is the last id
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    imported, ref = import_marian(folder, tmp_path / "m.s2s"), _reference(folder)
    for beam in (1, 3):
        _assert_equal(compare(imported, ref, texts[:100], beam, 1.0), 100)


def test_bin_folder_imports_to_the_same_model(marian_bin_folder, plain, tmp_path, texts):
    imported = import_marian(marian_bin_folder, tmp_path / "bin.s2s")
    assert any("weights_only=True" in n for n in imported.notices)
    ref = _reference(marian_bin_folder)
    for beam in (1, 4):
        _assert_equal(compare(imported, ref, texts, beam, 1.0), len(texts))
    a, b = load_model(imported.path).model.state_dict(), load_model(plain[0].path).model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# -- the file ---------------------------------------------------------------------------------------
def test_the_file_is_an_ordinary_model_with_provenance(plain, marian_folder):
    imported, ref = plain
    header, _ = read_header(imported.path)
    assert {"tokenizer.src", "tokenizer.tgt", "tokenizer.vocab"} <= set(header)
    loaded = load_model(imported.path)
    meta = loaded.meta
    assert (meta["src_lang"], meta["tgt_lang"]) == ("en", "de")
    origin = meta["provenance"]
    assert origin["imported_from"] == "Hugging Face Marian" and origin["repository"] == "opus-mt-en-de"
    assert (origin["license"], origin["license_text"]) == ("cc-by-4.0", LICENSE)
    assert origin["marian_ids"] == {"pad": len(ref.vocab) - 1, "unk": 1, "eos": 0, "decoder_start": len(ref.vocab) - 1}
    t = loaded.config.transformer
    assert (t.norm_position, t.final_norm, t.activation, t.position_layout, t.scale_embedding) == (
        "post", False, "silu", "concatenated", True)
    assert loaded.config.src_vocab_size == len(ref.vocab) + 1  # the added start row
    assert loaded.search_rules == SearchRules("power", False, (PAD_ID,), True, True)
    assert loaded.length_limits(400, 1024) == (127, 63)  # 128 positions; generation max_length 64
    tok = loaded.src_tok
    specials = [tok.id_to_piece(i) for i in (PAD_ID, UNK_ID, BOS_ID, EOS_ID)]
    assert specials == ["<pad>", "<unk>", "<s>", "</s>"]
    assert [ref.vocab[tok.id_to_piece(i)] for i in range(4, 10)] == list(range(2, 8))  # the others keep their order
    for text in ("Tom is here.", "a <unk> b", "☃"):
        ours = [ref.vocab[p] for p in tok.ids_to_pieces(tok.encode(text))] + [0]
        assert ours == ref.tokenizer(text)["input_ids"]
    bias = loaded.model.output_bias.detach()
    assert bias[BOS_ID] == float("-inf") and torch.isfinite(bias[torch.arange(len(bias)) != BOS_ID]).all()


def test_target_language_choice(marian_folder, tmp_path):
    imported = import_marian(marian_folder, tmp_path / "m.s2s", target_language=">>nld<<")
    assert imported.target_languages == ("deu", "nld") and imported.target_language == "nld"
    translator = Translator.open(imported.path, "cpu")
    assert translator.target_languages == ("deu", "nld") and translator.target_language == "nld"
    raw = DecodeOptions(protect=False)  # the pieces as tokenized ("Hello" can count as a name to protect)
    first = translator.translate(["Hello."], raw)[0].source_tokens[0]
    assert first == ">>nld<<"
    translator = Translator.open(imported.path, "cpu", target_language="deu")
    assert translator.translate(["Hello."], raw)[0].source_tokens[:2] == (">>deu<<", translator.loaded.src_tok.pieces("Hello.")[1])
    translator.target_language = None
    assert translator.translate(["Hello."])[0].source_tokens[0] != ">>deu<<"
    with pytest.raises(InputError, match="fra.*deu, nld"):
        translator.target_language = "fra"
    with pytest.raises(MarianImportError, match=r"vocab\.json.*>>fra<<.*--target-language"):
        import_marian(marian_folder, tmp_path / "x.s2s", target_language="fra")
    assert not (tmp_path / "x.s2s").exists()


def test_a_model_of_ours_has_no_target_language(tmp_path):
    from s2s_desktop.engine.api import ModelConfig
    from s2s_desktop.engine.data.tokenizer import train_tokenizer
    from s2s_desktop.engine.formats.checkpoint import ModelMeta, save_model
    from s2s_desktop.engine.models.model import build_model

    tok = train_tokenizer(["a b c d e f g h", "b c d e f g h i j"] * 20, 30)
    cfg = ModelConfig(arch="transformer", src_vocab_size=tok.vocab_size, tgt_vocab_size=tok.vocab_size, emb_size=8,
                      heads=2, ff_size=8)
    save_model(tmp_path / "m.s2s", build_model(cfg), tok, tok, ModelMeta("en", "de"))
    translator = Translator.open(str(tmp_path / "m.s2s"), "cpu")
    assert translator.target_languages == () and translator.target_language is None
    assert translator.rules == SearchRules()
    with pytest.raises(InputError, match="one language"):
        translator.target_language = "deu"


def test_what_cannot_be_reproduced_is_refused(marian_folder, tmp_path):
    from s2s_desktop.engine.formats.marian import read_marian_folder
    from s2s_desktop.engine.formats.marian_import import _check_supported

    folder = copy_folder(marian_folder, tmp_path / "opus-mt-en-de")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "decoder_attention_heads": 8}))
    with pytest.raises(MarianImportError, match=r"config\.json: encoder_attention_heads \(4\) and decoder_attention_heads"):
        import_marian(folder, tmp_path / "m.s2s")
    found = read_marian_folder(marian_folder)
    found = dataclasses.replace(found, spec=dataclasses.replace(found.spec, decoder_ffn_dim=32))
    with pytest.raises(MarianImportError, match=r"config\.json: encoder_ffn_dim \(64\) and decoder_ffn_dim \(32\)"):
        _check_supported(found)
    assert not (tmp_path / "m.s2s").exists()


def test_multi_token_bad_words_are_refused(marian_folder, tmp_path):
    folder = copy_folder(marian_folder, tmp_path / "opus-mt-en-de")
    path = folder / "generation_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "bad_words_ids": [[5, 6]]}))
    with pytest.raises(MarianImportError, match=r"generation_config\.json.*bad_words_ids"):
        import_marian(folder, tmp_path / "m.s2s")


def test_generation_settings_not_applied_are_named(marian_folder, tmp_path):
    folder = copy_folder(marian_folder, tmp_path / "opus-mt-en-de")
    path = folder / "generation_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "no_repeat_ngram_size": 3, "top_k": 5}))
    notices = import_marian(folder, tmp_path / "m.s2s").notices
    assert any("no_repeat_ngram_size" in n and "top_k" not in n for n in notices), notices


def test_cli_imports_and_translates(marian_folder, tmp_path, capsys):
    from s2s_desktop.cli import main

    out = tmp_path / "cli.s2s"
    assert main(["import", str(marian_folder), "--out", str(out), "--target-language", "deu"]) == 0
    printed = capsys.readouterr()
    assert "target languages: deu, nld (default: deu)" in printed.out and "note:" in printed.err
    assert main(["translate", "--model", str(out), "--beam", "2", "--json", "--target-language", "nld", "Hi."]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[0])
    assert result["source_tokens"][0] == ">>nld<<"
    assert main(["info", "--model", str(out)]) == 0
    assert "from Hugging Face Marian: opus-mt-en-de" in capsys.readouterr().out
    assert main(["import", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_import_and_translation_never_import_transformers(marian_folder, tmp_path):
    code = (
        "import sys\n"
        "from s2s_desktop.engine.formats.marian_import import import_marian\n"
        "from s2s_desktop.engine.decoding.service import Translator\n"
        f"path = import_marian({str(marian_folder)!r}, {str(tmp_path / 'm.s2s')!r}).path\n"
        "Translator.open(path, 'cpu').translate(['Hello.'])\n"
        "print('LEAKED', sorted(m for m in ('transformers', 'PySide6') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "LEAKED []" in proc.stdout


def test_half_conversion_keeps_an_imported_model_whole(plain, tmp_path):
    from s2s_desktop.engine.formats.checkpoint import average_models

    converted = average_models([plain[0].path], tmp_path / "half.s2s", half=True)
    original = load_model(plain[0].path)
    assert converted.meta["provenance"] == original.meta["provenance"]
    assert converted.meta["tokenizer"] == original.meta["tokenizer"]
    assert converted.search_rules == original.search_rules and converted.src_tok.vocab == original.src_tok.vocab
    a = Translator.open(plain[0].path, "cpu", precision="fp32").translate(["Tom is here."], DecodeOptions(beam=2))
    b = Translator.open(str(tmp_path / "half.s2s"), "cpu", precision="fp32").translate(["Tom is here."],
                                                                                     DecodeOptions(beam=2))
    assert a[0].source_tokens == b[0].source_tokens and len(b[0].best.tokens) == len(a[0].best.tokens)


def test_a_damaged_tokenizer_description_is_a_checkpoint_error(plain, tmp_path):
    import struct

    from s2s_desktop.errors import CheckpointError

    data = Path(plain[0].path).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["meta"])
    for change, expected in ((lambda m: m["tokenizer"].update(kind="bpe"), "tokenizer kind 'bpe'"),
                             (lambda m: m["tokenizer"].update(bos_token="<x>"), "vocabulary must start"),
                             (lambda m: m.update(generation={"rules": {"length_penalty": "odd"}}), "generation rules")):
        broken = json.loads(json.dumps(meta))
        change(broken)
        header["__metadata__"]["meta"] = json.dumps(broken)
        raw = json.dumps(header).encode()  # (data_offsets count from the end of the header)
        path = tmp_path / "broken.s2s"
        path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])
        with pytest.raises(CheckpointError, match=expected):
            load_model(path)


def test_search_rules_round_trip():
    rules = SearchRules("power", "never", (0, 2), True, True)
    assert SearchRules.from_dict(json.loads(json.dumps(rules.to_dict()))) == rules
    assert SearchRules.from_dict({}) == SearchRules()
    with pytest.raises(ValueError):
        SearchRules.from_dict({"length_penalty": "gnmt", "beam": 3})
    with pytest.raises(ValueError):
        SearchRules(early_stopping="sometimes")
