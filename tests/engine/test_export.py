"""Exports to CTranslate2 and Argos Translate decode as the engine does.

CTranslate2 runs each export through `formats.ctranslate2_run.Ct2Translator` (its own beam search,
asked for what ours ranks) and must give the engine's own output ids: the bundled 3+3 Transformer
(today's defaults: pre-norm, ReLU, interleaved sinusoids, final LayerNorm, scaled, shared and tied
embeddings), random models of every other Transformer variant with separate vocabularies, and an
imported Marian model (post-norm, SiLU, sines-then-cosines, logits bias, its start row and banned pad).
argostranslate installs the .argosmodel files in a process of its own (tests/argos_check.py) and
translates with them as the engine does (greedy: Argos's own beam setting is 1 there).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from s2s_desktop.cli import main
from s2s_desktop.engine.api import EOS_ID, DecodeOptions, ModelConfig, TransformerConfig
from s2s_desktop.engine.decoding.service import Translator
from s2s_desktop.engine.formats.argos_export import export_argos
from s2s_desktop.engine.formats.checkpoint import ModelMeta, save_model
from s2s_desktop.engine.formats.ctranslate2_export import export_ctranslate2
from s2s_desktop.engine.formats.ctranslate2_run import Ct2Translator
from s2s_desktop.engine.models.model import build_model
from s2s_desktop.errors import ExportError
from tests.conftest import NUMBER_WORDS, _word_corpus
from tests.marian_fixture import copy_folder, sharpen

pytest.importorskip("ctranslate2")
pytest_plugins = ("tests.marian_fixture",)  # marian_corpus, marian_folder

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "resources" / "models" / "en-de-tatoeba.s2s"
FLICKR = ROOT.parent / "shared" / "data" / "multi30k" / "raw" / "test_2016_flickr.en.gz"
SENTENCES = [
    "I love you.", "Tom is my friend.", "Where is the station?", "The cat is sleeping on the sofa.",
    "We have to go home now.", "Can you help me?", "It is raining today.", "I don't know what to do.",
    "She bought a new car last week.", "This book is very interesting.", "My father works in a bank.",
    "Please open the window.", "How old are you?", "The children are playing in the garden.",
    "I have never been to Japan.", "He drinks coffee every morning.", "Do you speak German?",
    "The weather was nice yesterday.", "I'm looking for my keys.", "They live in a small house near the river.",
    "What time is it?", "I want to learn French.", "The dog barked all night.", "Tom didn't come to school today.",
    "Mary is reading a letter from her mother.", "We'll meet at the restaurant at eight.", "Is this seat free?",
    "I think it's going to snow.", "Thank you very much for your help.", "The museum is closed on Mondays.",
]


def engine_ids(translator: Translator, texts, opts: DecodeOptions) -> list[list[int]]:
    """Our outputs with the repetition guard off, as CTranslate2 searches here (its no_repeat_ngram_size
    bans every second occurrence, ours only repeats beyond what the source has: not the same rule), and
    without the masking of non-translatables (CTranslate2 reads the source as it is)."""
    opts = dataclasses.replace(opts, repeat_ngram=0, protect=False)
    tok = translator.loaded.tgt_tok
    return [[EOS_ID if p == "</s>" else tok.piece_to_id(p) for p in t.best.tokens] for t in translator.translate(texts, opts)]


def identical(translator: Translator, ct2_dir: Path, texts, opts: DecodeOptions, compute_type="float32") -> tuple[int, int]:
    """(identical outputs, sentences): the engine against CTranslate2 on the export."""
    ct2 = Ct2Translator(ct2_dir, translator.loaded, compute_type)
    ours = engine_ids(translator, texts, opts)
    theirs = ct2.translate_ids(ct2.encode(texts, opts), opts)
    return sum(a == b for a, b in zip(ours, theirs)), len(texts)


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    out = tmp_path_factory.mktemp("ct2") / "bundled"
    export_ctranslate2(BUNDLED, out)
    return Translator.open(str(BUNDLED), "cpu", precision="fp32"), out


@pytest.mark.parametrize("beam", [1, 5])
def test_bundled_model_decodes_identically_in_ctranslate2(bundled, beam):
    translator, out = bundled
    assert identical(translator, out, SENTENCES, DecodeOptions(beam=beam, alternatives=0)) == (30, 30)


def test_two_workers_decode_chunks_side_by_side_with_the_same_outputs_in_order(bundled):
    """Every chunk is queued before any result is read, so CTranslate2's inter_threads workers share them;
    the outputs must still come back per input, in the inputs' order (chunks are sorted by length)."""
    translator, out = bundled
    opts = DecodeOptions(beam=5, alternatives=0)
    texts = SENTENCES[::-1] + ["", *SENTENCES[:5]]  # an empty source in the middle
    one = Ct2Translator(out, translator.loaded, threads=1, workers=1)
    two = Ct2Translator(out, translator.loaded, threads=1, workers=2)
    expected = one.translate(texts, opts, batch_size=4)
    assert two.translate(texts, opts, batch_size=4) == expected
    assert expected[len(SENTENCES)] == "" and expected[len(SENTENCES) - 1] == expected[len(SENTENCES) + 1]
    assert len(set(expected)) > 20


def test_the_export_holds_our_vocabulary_and_start_token(bundled):
    translator, out = bundled
    config = json.loads((out / "config.json").read_text())
    assert config["decoder_start_token"] == "<s>" and config["eos_token"] == "</s>" and config["add_source_eos"]
    vocab = json.loads((out / "shared_vocabulary.json").read_text())  # joint: one list
    tok = translator.loaded.tgt_tok
    assert vocab == [tok.id_to_piece(i) for i in range(tok.vocab_size)]
    assert (out / "sentencepiece.model").read_bytes() == tok.model_bytes


def test_int8_export_is_smaller_and_still_translates(bundled, tmp_path):
    translator, out = bundled
    q = export_ctranslate2(BUNDLED, tmp_path / "int8", quantization="int8")
    assert q.quantization == "int8"
    assert (tmp_path / "int8" / "model.bin").stat().st_size < 0.4 * (out / "model.bin").stat().st_size
    same, n = identical(translator, tmp_path / "int8", SENTENCES, DecodeOptions(beam=1, alternatives=0), "int8")
    assert same >= 0.8 * n, (same, n)


VARIANTS = [
    dict(norm_position="post", activation="gelu", position_layout="concatenated", final_norm=False,
         scale_embedding=False),
    dict(norm_position="post", activation="silu", final_norm=True),  # post-norm with a final LayerNorm
    dict(activation="gelu_tanh", position_layout="concatenated", final_norm=False),
]


@pytest.mark.parametrize("variant, tie", [(VARIANTS[0], False), (VARIANTS[1], True), (VARIANTS[2], False)])
def test_every_transformer_variant_decodes_identically(variant, tie, tiny_tokenizers, tmp_path):
    """Random weights (layer norms and biases perturbed, so a misplaced tensor shows), separate source
    and target vocabularies. Outputs run to the limit, so the EOS there is made free (the rule an
    imported model has) for beam search to be comparable at the limit."""
    src_tok, tgt_tok = tiny_tokenizers
    torch.manual_seed(3)
    cfg = ModelConfig(arch="transformer", src_vocab_size=len(src_tok), tgt_vocab_size=len(tgt_tok), emb_size=32,
                      dropout=0.0, tie_output=tie,
                      transformer=TransformerConfig(heads=4, ff_size=64, encoder_layers=2, decoder_layers=2, **variant))
    model = build_model(cfg).eval()
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn(p.shape, generator=gen))
            elif p.dim() == 2:
                p.mul_(3.0)
            elif "bias" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    path = tmp_path / "variant.s2s"
    save_model(path, model, src_tok, tgt_tok, ModelMeta("en", "de", extra={"generation": {"rules": {"free_forced_eos": True}}}))
    export_ctranslate2(path, tmp_path / "ct2")
    assert not (tmp_path / "ct2" / "shared_vocabulary.json").exists()
    translator = Translator.open(str(path), "cpu", precision="fp32")
    texts = _word_corpus(NUMBER_WORDS, 60)
    for beam in (1, 4):
        assert identical(translator, tmp_path / "ct2", texts, DecodeOptions(beam=beam, max_len_a=0, max_len_b=12,
                                                                           alternatives=0)) == (60, 60)


@pytest.fixture(scope="module")
def marian(marian_folder, marian_corpus, tmp_path_factory):
    from s2s_desktop.engine.formats.marian_import import import_marian

    texts = [p[0] for p in marian_corpus.pairs[1::10][:200]]
    greedy = DecodeOptions(beam=1, max_len_a=0.0, max_len_b=20, alternatives=0)
    # The smallest </s> bias (of a few) that ends >= 20 greedy outputs early: how often </s> wins depends on
    # the corpus the fixture's SentencePiece models saw (Tatoeba, or the synthetic one without ../shared).
    for eos_bias in (3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        work = tmp_path_factory.mktemp("marian_export")
        folder = sharpen(copy_folder(marian_folder, work / "opus-mt-en-de"), {"early_stopping": True}, eos_bias)  # stopped as fairseq
        imported = import_marian(folder, work / "marian.s2s")
        translator = Translator.open(imported.path, "cpu", precision="fp32")
        if sum(ids[-1] == EOS_ID and len(ids) < 20 for ids in engine_ids(translator, texts, greedy)) >= 20:
            break
    export_ctranslate2(imported.path, work / "ct2")
    return translator, work, texts


@pytest.mark.parametrize("beam", [1, 4])
def test_imported_marian_decodes_identically_in_ctranslate2(marian, beam):
    translator, work, texts = marian
    opts = DecodeOptions(beam=beam, length_penalty=1.0, max_len_a=0.0, max_len_b=20, alternatives=0)
    ended = sum(ids[-1] == EOS_ID and len(ids) < 20 for ids in engine_ids(translator, texts, opts))
    assert ended >= 20  # the stopping rule is exercised, not only the limit
    assert identical(translator, work / "ct2", texts, opts) == (200, 200)


def test_imported_marian_keeps_its_start_row_and_banned_pad_out_of_the_output(marian):
    import ctranslate2

    translator, work, _ = marian
    config = json.loads((work / "ct2" / "config.json").read_text())
    vocab = json.loads((work / "ct2" / "shared_vocabulary.json").read_text())
    assert vocab[:4] == ["<pad>", "<unk>", "<s>", "</s>"] and config["decoder_start_token"] == "<s>"
    assert sorted(p.name for p in (work / "ct2").glob("*.spm")) == ["source.spm", "target.spm"]
    ct2 = ctranslate2.Translator(str(work / "ct2"))
    scores = ct2.score_batch([["▁a", "</s>"]], [["<pad>"]])[0].log_probs
    assert scores[0] == -np.inf  # the banned pad (the start row likewise: -inf logits bias)


def test_multilingual_target_language_goes_before_the_source(marian, tmp_path):
    translator, work, texts = marian
    translator.target_language = "nld"
    try:
        export_ctranslate2(translator.loaded, tmp_path / "nld", target_language="nld")
        config = json.loads((tmp_path / "nld" / "config.json").read_text())
        assert config["bos_token"] == ">>nld<<" and config["add_source_bos"] and config["decoder_start_token"] == "<s>"
        for beam in (1, 4):
            opts = DecodeOptions(beam=beam, max_len_a=0.0, max_len_b=20, alternatives=0)
            assert identical(translator, tmp_path / "nld", texts[:40], opts) == (40, 40)
        with pytest.raises(ExportError, match="no target language 'xxx'"):
            export_ctranslate2(translator.loaded, tmp_path / "bad", target_language="xxx")
    finally:
        translator.target_language = None


def test_an_rnn_model_is_refused(tiny_model_file, tmp_path, capsys):
    with pytest.raises(ExportError, match="RNN model; CTranslate2 .* has no specification"):
        export_ctranslate2(tiny_model_file, tmp_path / "out")
    assert main(["export", str(tiny_model_file), "--to", "argos", str(tmp_path / "x.argosmodel")]) == 2
    assert "only Transformer models export" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "x.argosmodel").exists()


def test_without_ctranslate2_the_error_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # import ctranslate2 -> ImportError
    with pytest.raises(ExportError, match=r"needs the ctranslate2 package.*s2s-desktop\[export\]"):
        export_ctranslate2(BUNDLED, tmp_path / "out")


def test_cli_export_both_formats(tmp_path, capsys):
    assert main(["export", str(BUNDLED), "--to", "ctranslate2", str(tmp_path / "ct2"), "--quantization", "int8"]) == 0
    assert "CTranslate2 model (int8)" in capsys.readouterr().out
    assert main(["export", str(BUNDLED), "--to", "ctranslate2", str(tmp_path / "ct2")]) == 2
    assert "already exists (use --force" in capsys.readouterr().err
    assert main(["export", str(BUNDLED), "--to", "ctranslate2", str(tmp_path / "ct2"), "--force"]) == 0
    assert main(["export", str(BUNDLED), "--to", "argos", str(tmp_path / "en_de.argosmodel")]) == 0
    assert "Argos Translate package translate-en_de-1_0" in capsys.readouterr().out
    assert main(["export", str(BUNDLED), "--to", "onnx", str(tmp_path / "x")]) == 2
    assert "unknown format 'onnx'" in capsys.readouterr().err
    assert main(["export", str(BUNDLED), "--to", "argos", str(tmp_path / "x.zip")]) == 2


def test_argos_package_installs_and_translates_offline(bundled, marian, marian_corpus, tmp_path):
    """argostranslate installs both packages into a temporary folder and translates with them: its
    output is the engine's greedy output (ARGOS_BEAM_SIZE=1 makes Argos search greedily; its compute type
    "auto" would pick int8 weights on this CPU, so float32 is asked for)."""
    pytest.importorskip("argostranslate")
    bundled_tr, _ = bundled
    marian_tr, _, texts = marian
    a = export_argos(BUNDLED, tmp_path / "en_de.argosmodel")
    m = export_argos(marian_tr.loaded, tmp_path / "marian-en_nld.argosmodel", target_language="nld")
    assert a.metadata["from_code"] == "en" and a.metadata["to_name"] == "German"
    assert m.metadata["to_code"] == "nld" and m.metadata["license"] == "cc-by-4.0"
    assert any("decodes with the source SentencePiece model" in n for n in m.notices)  # separate source/target models
    home = tmp_path / "argos-home"
    request = tmp_path / "request.json"
    marian_texts = texts[:30]
    request.write_text(json.dumps({"packages": [a.path, m.path],
                                   "pairs": [["en", "de", SENTENCES], ["en", "nld", marian_texts]]}))
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache"),
           "XDG_CONFIG_HOME": str(home / "config"), "ARGOS_PACKAGES_DIR": str(home / "packages"),
           "ARGOS_BEAM_SIZE": "1", "ARGOS_DEVICE_TYPE": "cpu", "ARGOS_COMPUTE_TYPE": "float32"}
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "argos_check.py"), str(request)], env=env,
                          capture_output=True, text=True, timeout=300, cwd=str(ROOT))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    folders = sorted(p["folder"] for p in result["installed"])
    assert folders == ["translate-en_de-1_0", "translate-en_nld-1_0"]
    readme = next(p["readme"] for p in result["installed"] if p["to_code"] == "nld")
    assert "Creative Commons Attribution 4.0" in readme and "Hugging Face Marian" in readme
    greedy = DecodeOptions(beam=1, max_len_a=0.0, max_len_b=256, alternatives=0, repeat_ngram=0,
                            protect=False)  # as Argos
    assert result["translations"][0] == [t.text for t in bundled_tr.translate(SENTENCES, greedy)]
    # Argos decodes up to 256 pieces (CTranslate2's default) where the imported model stops at its max_length,
    # and never outputs nothing (min_decoding_length 1): an output cut at the limit is the start of Argos's,
    # an empty one is left out, the others are equal
    limit = 63
    marian_tr.target_language = "nld"
    try:
        ours = marian_tr.translate(marian_texts, DecodeOptions(beam=1, max_len_a=0.0, max_len_b=limit, alternatives=0,
                                                               repeat_ngram=0, protect=False))
    finally:
        marian_tr.target_language = None
    pairs = [(len(t.best.tokens), t.text, argos) for t, argos in zip(ours, result["translations"][1])]
    assert [argos for n, _, argos in pairs if 1 < n < limit] == [text for n, text, _ in pairs if 1 < n < limit]
    assert all(argos.startswith(text) for n, text, argos in pairs if n == limit)
    assert sum(n == limit for n, _, _ in pairs) >= 10
    if marian_corpus.from_tatoeba:  # on the synthetic corpus (no ../shared) the nld outputs end at once or at the limit
        assert sum(1 < n < limit for n, _, _ in pairs) >= 1


def test_argos_refuses_what_it_cannot_package(marian, tmp_path):
    translator, _, _ = marian
    with pytest.raises(ExportError, match="translates into several languages .* --target-language"):
        export_argos(translator.loaded, tmp_path / "m.argosmodel")
    with pytest.raises(ExportError, match="is a .argosmodel file"):
        export_argos(BUNDLED, tmp_path / "m.zip")


@pytest.mark.slow
@pytest.mark.shared_data
def test_ctranslate2_gives_the_engines_outputs_on_test_2016_flickr(bundled):
    """The issue's figure: greedy identical on >= 99% of test_2016_flickr, beam 5 on >= 97%
    (bench/bench_sameweights.py prints the same shares with its timings)."""
    if not FLICKR.is_file():
        pytest.skip(f"{FLICKR} is absent")
    from s2s_desktop.engine.data.corpus import read_lines

    translator, out = bundled
    texts = read_lines(FLICKR)
    assert len(texts) == 1000
    greedy, n = identical(translator, out, texts, DecodeOptions(beam=1, alternatives=0))
    beam, _ = identical(translator, out, texts, DecodeOptions(beam=5, alternatives=0))
    print(f"test_2016_flickr: greedy identical {greedy}/{n}, beam 5 identical {beam}/{n}")
    assert greedy >= 0.99 * n and beam >= 0.97 * n, (greedy, beam)


@pytest.mark.parametrize("code", [28, 30], ids=["full-disk", "read-only"])
def test_a_failing_disk_leaves_the_previous_exports_and_names_the_file(bundled, tmp_path, monkeypatch, code):
    """ENOSPC or EROFS while CTranslate2 writes (half a model.bin written) or while the Argos zip is written:
    an ExportError naming the output, the earlier export intact and loadable, nothing half-written left."""
    import shutil
    import zipfile

    from ctranslate2.converters import Converter

    ct2_out, argos_out = tmp_path / "ct2", tmp_path / "m.argosmodel"
    shutil.copytree(bundled[1], ct2_out)
    export_argos(BUNDLED, argos_out)
    before = {p.name: p.read_bytes() for p in ct2_out.iterdir()}, argos_out.read_bytes()
    real = Converter.convert

    def failing_convert(self, output_dir, *args, **kwargs):
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / "model.bin").write_bytes(b"\0" * 100)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(Converter, "convert", failing_convert)
    with pytest.raises(ExportError, match=f"{ct2_out}: {os.strerror(code)}"):
        export_ctranslate2(BUNDLED, ct2_out, force=True)
    monkeypatch.setattr(Converter, "convert", real)
    real_write = zipfile.ZipFile.write

    def failing_write(self, *args, **kwargs):
        real_write(self, *args, **kwargs)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(zipfile.ZipFile, "write", failing_write)
    with pytest.raises(ExportError, match=f"{argos_out}: {os.strerror(code)}"):
        export_argos(BUNDLED, argos_out, force=True)
    assert ({p.name: p.read_bytes() for p in ct2_out.iterdir()}, argos_out.read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct2", "m.argosmodel"]
    assert identical(bundled[0], ct2_out, SENTENCES[:3], DecodeOptions(beam=2, alternatives=0)) == (3, 3)


def test_a_shortlist_is_exported_as_the_vocabulary_map_ctranslate2_reads(bundled, tmp_path):
    """The model's shortlist becomes vmap.txt; CTranslate2 with use_vmap, one sentence per batch, scores the
    pieces our --shortlist scores for that sentence, so both give the same translations."""
    from s2s_desktop.engine.decoding.shortlist import build_shortlist
    from s2s_desktop.engine.formats.checkpoint import resave

    translator, _ = bundled
    loaded = translator.loaded
    targets = [t.best.text for t in translator.translate(SENTENCES, DecodeOptions(alternatives=0))]
    shortlist = build_shortlist(loaded.src_tok.encode_batch(SENTENCES), loaded.tgt_tok.encode_batch(targets),
                                loaded.config.src_vocab_size, loaded.config.tgt_vocab_size, frequent=50, per_source=5)
    listed = resave(loaded, tmp_path / "listed.s2s", shortlist)
    out = tmp_path / "listed-ct2"
    export_ctranslate2(listed, out)
    lines = (out / "vmap.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("\t") and len(lines[0].split(" ")) == 50 + EOS_ID + 1
    assert all(len(line.split("\t")) == 2 and line.split("\t")[0] for line in lines[1:])
    opts = DecodeOptions(beam=4, alternatives=0, repeat_ngram=0, protect=False, shortlist=True)
    ours = engine_ids(Translator(listed, torch.device("cpu"), "fp32"), SENTENCES, opts)
    ct2 = Ct2Translator(out, listed, use_vmap=True)
    theirs = ct2.translate_ids(ct2.encode(SENTENCES, opts), opts, batch_size=1)
    assert sum(a == b for a, b in zip(ours, theirs)) >= len(SENTENCES) - 1
    full = engine_ids(translator, SENTENCES, dataclasses.replace(opts, shortlist=False))
    assert ours != full  # (so the shortlist was applied: with 50 frequent pieces, some outputs change)
