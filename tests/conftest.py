"""Fixtures shared by every test: an isolated app home, offscreen Qt, and a tiny model file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Qt must never try to open a real display in tests; set before any test imports PySide6.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

NUMBER_WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
ZAHL_WORTE = ["eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn"]


def _word_corpus(words: list[str], n: int = 200) -> list[str]:
    """Deterministic sentences of 1-6 words drawn from `words`."""
    out = []
    for i in range(n):
        length = 1 + i % 6
        out.append(" ".join(words[(i * 7 + j * 3 + j * j) % len(words)] for j in range(length)))
    return out


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings, recent files and caches go to a fresh folder, never the user's real home."""
    home = tmp_path_factory.mktemp("s2s_home")
    monkeypatch.setenv("S2S_DESKTOP_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_tokenizers():
    """(src_tok, tgt_tok): two small SentencePiece models trained on number words."""
    from s2s_desktop.engine.data.tokenizer import train_tokenizer

    src_tok = train_tokenizer(_word_corpus(NUMBER_WORDS), vocab_size=40)
    tgt_tok = train_tokenizer(_word_corpus(ZAHL_WORTE), vocab_size=40)
    return src_tok, tgt_tok


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizers) -> Path:
    """A valid .s2s file (en -> de) holding a small untrained RNN model."""
    import torch

    from s2s_desktop.engine.api import ModelConfig
    from s2s_desktop.engine.formats.checkpoint import ModelMeta, save_model
    from s2s_desktop.engine.models.model import build_model

    src_tok, tgt_tok = tiny_tokenizers
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(
            emb_size=16,
            encoder_hidden=16,
            decoder_hidden=32,
            src_vocab_size=len(src_tok),
            tgt_vocab_size=len(tgt_tok),
        )
    )
    path = tmp_path_factory.mktemp("model") / "tiny.s2s"
    save_model(path, model, src_tok, tgt_tok, ModelMeta("en", "de"))
    return path


@pytest.fixture(scope="session")
def reverse_model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small model trained for a few seconds to reverse sequences of number words (the outputs are
    real, mostly correct translations, which search and inspection tests need)."""
    import random

    from s2s_desktop.engine.api import Finished, ModelConfig, TrainConfig
    from s2s_desktop.engine.training.loop import train

    folder = tmp_path_factory.mktemp("reverse")
    rng = random.Random(11)
    lines = []
    for _ in range(2000):
        words = [rng.choice(NUMBER_WORDS) for _ in range(rng.randint(2, 6))]
        lines.append(f"{' '.join(words)}\t{' '.join(reversed(words))}\n")
    (folder / "reverse.tsv").write_text("".join(lines), encoding="utf-8")
    cfg = TrainConfig(
        out_dir=str(folder / "run"), src_lang="en", tgt_lang="rev", train_tsv=str(folder / "reverse.tsv"),
        valid_size=50, vocab_size=24, batch_tokens=600, lr=5e-3, max_steps=150, valid_every=150, threads=2,
    )
    model = ModelConfig(emb_size=32, encoder_hidden=48, decoder_hidden=96, dropout=0.0)
    events = list(train(model, cfg))
    assert isinstance(events[-1], Finished), events[-1]
    return Path(events[-1].best_path)


@pytest.fixture(scope="session")
def tiny_transformer_file(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizers) -> Path:
    """A valid .s2s file holding a small untrained Transformer (2+2 layers, 2 heads): its attention
    differs between layers and heads, which inspection tests need."""
    import torch

    from s2s_desktop.engine.api import ModelConfig
    from s2s_desktop.engine.formats.checkpoint import ModelMeta, save_model
    from s2s_desktop.engine.models.model import build_model

    src_tok, tgt_tok = tiny_tokenizers
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="transformer", emb_size=16, heads=2, encoder_layers=2, decoder_layers=2,
                                    ff_size=32, src_vocab_size=len(src_tok), tgt_vocab_size=len(tgt_tok)))
    path = tmp_path_factory.mktemp("transformer") / "tiny-transformer.s2s"
    save_model(path, model, src_tok, tgt_tok, ModelMeta("en", "de"))
    return path
