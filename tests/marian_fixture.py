"""A small but real Hugging Face Marian folder, built locally with transformers (a dev-only dependency).

Shaped like OPUS-MT (post-norm, swish, scaled embeddings, static sinusoids, one vocabulary shared by
encoder, decoder and output layer, a non-zero final_logits_bias, pad = decoder start = last id) but
tiny: d_model 32, 2+2 layers, 4 heads. SentencePiece models are trained on a slice of
../shared/data/tatoeba-deu-eng (a built-in synthetic corpus when that is absent) and vocab.json is
built from both as Marian's converter does: "</s>" 0, "<unk>" 1, the pieces, "<pad>" last. The folder
is proven real by loading it with transformers' own MarianTokenizer. Weights are random with a fixed
seed, and the layer norms and output bias are perturbed so that a mapping mistake shows.

Use it from a test module with `pytest_plugins = ("tests.marian_fixture",)`. It has no asserts for
pytest to rewrite (PYTEST_DONT_REWRITE), so importing its helpers first is fine.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest

TATOEBA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tatoeba-deu-eng" / "deu.txt.gz"
LANGUAGE_TOKENS = (">>deu<<", ">>nld<<")
README = """---
language:
- en
- de
tags:
- translation
license: cc-by-4.0
---

### opus-mt-en-de

* source languages: en
* target languages: de
* model: transformer-align
* pre-processing: normalization + SentencePiece
"""
LICENSE = "Creative Commons Attribution 4.0 International (test fixture)\n"


@dataclass(frozen=True)
class MarianCorpus:
    pairs: tuple[tuple[str, str], ...]  # (English, German)
    source_spm: bytes
    target_spm: bytes
    from_tatoeba: bool


def read_pairs(n: int = 3000) -> tuple[list[tuple[str, str]], bool]:
    """n (en, de) pairs spread over the Tatoeba file (sorted by length), or synthetic ones."""
    if TATOEBA.is_file():
        with gzip.open(TATOEBA, "rt", encoding="utf-8") as f:
            lines = f.read().splitlines()
        step = max(1, len(lines) // n)
        pairs = [tuple(line.split("\t")[:2]) for line in lines[::step][:n]]
        return [p for p in pairs if len(p) == 2], True
    en = "the a cat dog house tree sees likes has small big red green old new quickly today ! ? , .".split()
    de = "der ein Katze Hund Haus Baum sieht mag hat klein groß rot grün alt neu schnell heute ! ? , .".split()
    pairs = []
    for i in range(n):
        k = 3 + i % 9
        idx = [(i * 7 + j * 13 + j * j * (i % 5)) % len(en) for j in range(k)]
        pairs.append((" ".join(en[x] for x in idx).capitalize(), " ".join(de[x] for x in idx).capitalize()))
    return pairs, False


def train_spm(sentences: list[str], vocab_size: int) -> bytes:
    """A unigram model with SentencePiece's default ids (unk 0, <s> 1, </s> 2), as OPUS-MT's are."""
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=buf, vocab_size=vocab_size, model_type="unigram",
        character_coverage=1.0, hard_vocab_limit=False, num_threads=1, minloglevel=2, seed_sentencepiece_size=100000,
    )
    return buf.getvalue()


def marian_vocab(source_spm: bytes, target_spm: bytes, extra: tuple[str, ...] = LANGUAGE_TOKENS) -> dict[str, int]:
    """vocab.json as the converter writes it: Marian's joint vocabulary plus "<pad>" as the last id."""
    import sentencepiece as spm

    vocab = {"</s>": 0, "<unk>": 1}
    for data in (source_spm, target_spm):
        sp = spm.SentencePieceProcessor()
        sp.LoadFromSerializedProto(data)
        for i in range(sp.get_piece_size()):
            if not (sp.is_control(i) or sp.is_unknown(i)):
                vocab.setdefault(sp.id_to_piece(i), len(vocab))
    for token in extra:
        vocab.setdefault(token, len(vocab))
    vocab["<pad>"] = len(vocab)
    return vocab


def build_corpus(vocab_size: int = 400) -> MarianCorpus:
    pairs, real = read_pairs()
    return MarianCorpus(tuple(pairs), train_spm([p[0] for p in pairs], vocab_size),
                        train_spm([p[1] for p in pairs], vocab_size), real)


def build_marian_model(vocab_size: int, seed: int = 0, d_model: int = 32, layers: int = 2, heads: int = 4,
                       ffn: int = 64, max_positions: int = 128):
    """A random MarianMTModel shaped like OPUS-MT (eval mode)."""
    import torch
    from transformers import MarianConfig, MarianMTModel

    pad = vocab_size - 1
    config = MarianConfig(
        vocab_size=vocab_size, decoder_vocab_size=vocab_size, d_model=d_model, encoder_layers=layers,
        decoder_layers=layers, encoder_attention_heads=heads, decoder_attention_heads=heads,
        encoder_ffn_dim=ffn, decoder_ffn_dim=ffn, activation_function="swish", scale_embedding=True,
        max_position_embeddings=max_positions, pad_token_id=pad, eos_token_id=0, decoder_start_token_id=pad,
        forced_eos_token_id=0, share_encoder_decoder_embeddings=True, tie_word_embeddings=True, init_std=0.1,
    )
    torch.manual_seed(seed)
    model = MarianMTModel(config).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(p.shape, generator=gen))
        model.final_logits_bias.copy_(0.5 * torch.randn(model.final_logits_bias.shape, generator=gen))
    return model


def write_marian_folder(dest: Path, corpus: MarianCorpus, *, weights: str = "safetensors", seed: int = 0,
                        extra_pieces: int = 0, **shape: int) -> Path:
    """A complete Marian folder in `dest`: weights "safetensors" (save_pretrained) or "bin" (a
    torch.save'd state dict with the tied aliases and position tables older exports carry). `shape`
    passes d_model, layers, heads, ffn to `build_model` (OPUS-MT's 6+6 layers x 8 heads with a small
    d_model is cheap: layers=6, heads=8, d_model=64, ffn=128). `extra_pieces` pads vocab.json with pieces
    SentencePiece never produces, to reach OPUS-MT's vocabulary size (58k) with a small SentencePiece model."""
    import torch
    from transformers import GenerationConfig, MarianTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()
    dest.mkdir(parents=True, exist_ok=True)
    vocab = marian_vocab(corpus.source_spm, corpus.target_spm,
                         LANGUAGE_TOKENS + tuple(f"\u2581unused{i}" for i in range(extra_pieces)))
    (dest / "source.spm").write_bytes(corpus.source_spm)
    (dest / "target.spm").write_bytes(corpus.target_spm)
    (dest / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=2), encoding="utf-8")
    (dest / "tokenizer_config.json").write_text(json.dumps({"target_lang": "de", "source_lang": "en"}))
    (dest / "README.md").write_text(README, encoding="utf-8")
    (dest / "LICENSE").write_text(LICENSE, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Recommended: pip install sacremoses."
        tokenizer = MarianTokenizer.from_pretrained(str(dest))  # the proof that the folder is real
    if len(tokenizer) != len(vocab):
        raise AssertionError(f"MarianTokenizer sees {len(tokenizer)} pieces, vocab.json has {len(vocab)}")
    model = build_marian_model(len(vocab), seed, **shape)
    pad = len(vocab) - 1
    if weights == "safetensors":
        tokenizer.save_pretrained(str(dest))  # rewrites tokenizer_config.json the way transformers 5 does
        model.save_pretrained(str(dest))
    elif weights == "bin":
        model.config.architectures = ["MarianMTModel"]
        model.config.save_pretrained(str(dest))
        torch.save(model.state_dict(), dest / "pytorch_model.bin")
    else:
        raise ValueError(weights)
    GenerationConfig(  # what OPUS-MT's generation_config.json says
        bad_words_ids=[[pad]], bos_token_id=0, decoder_start_token_id=pad, eos_token_id=0, forced_eos_token_id=0,
        max_length=64, num_beams=4, pad_token_id=pad, renormalize_logits=True,
    ).save_pretrained(str(dest))
    return dest


@pytest.fixture(scope="session")
def marian_corpus() -> MarianCorpus:
    return build_corpus()


@pytest.fixture(scope="session")
def marian_folder(tmp_path_factory: pytest.TempPathFactory, marian_corpus: MarianCorpus) -> Path:
    """A Marian folder with model.safetensors (read-only by convention: copy it before changing it)."""
    return write_marian_folder(tmp_path_factory.mktemp("marian") / "opus-mt-en-de", marian_corpus)


@pytest.fixture(scope="session")
def marian_bin_folder(tmp_path_factory: pytest.TempPathFactory, marian_corpus: MarianCorpus) -> Path:
    """The same model (same seed) saved as pytorch_model.bin with a minimal tokenizer_config.json."""
    return write_marian_folder(tmp_path_factory.mktemp("marian_bin") / "opus-mt-en-de", marian_corpus, weights="bin")


def sharpen(folder: Path, generation: dict | None = None, eos_bias: float = 3.0) -> Path:
    """The folder's model made peaked (weights x3) with a higher </s> bias, so that outputs often end early;
    `generation` updates generation_config.json. Changes the folder in place: pass a copy."""
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / "model.safetensors")
    for name, t in tensors.items():
        if t.dim() == 2 and name != "final_logits_bias":
            t.mul_(3.0)
    tensors["final_logits_bias"][0, 0] += eos_bias  # </s> (id 0) competes
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    if generation:
        path = folder / "generation_config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **generation}))
    return folder


def copy_folder(src: Path, dest: Path) -> Path:
    """A writable copy of a fixture folder, for tests that break one file."""
    shutil.copytree(src, dest)
    return dest
