"""SentencePiece subword models: trained on the training corpus, serialized into the model file.

The special ids come from `api` (pad 0, unk 1, bos 2, eos 3) so every model agrees on them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

import sentencepiece as spm

from s2s_desktop.engine.api import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from s2s_desktop.errors import TokenizerError

MODEL_TYPES = ("unigram", "bpe")
MAX_SENTENCE_BYTES = 8192  # longer training sentences are skipped by SentencePiece


def sentencepiece_processor(model_bytes: bytes) -> spm.SentencePieceProcessor:
    """Load a serialized SentencePiece model, refusing one that SentencePiece accepts but cannot serve:
    a piece that is not UTF-8 text loads, and then breaks every encode, decode and vocabulary listing."""
    sp = spm.SentencePieceProcessor()
    try:
        sp.LoadFromSerializedProto(model_bytes)
    except Exception as exc:  # sentencepiece raises RuntimeError/OSError with C++ text
        raise TokenizerError(f"The SentencePiece model is corrupt: {exc}") from exc
    try:
        sp.id_to_piece(list(range(sp.get_piece_size())))  # one call: under 1 ms for 8k pieces
    except UnicodeDecodeError as exc:
        raise TokenizerError(f"The SentencePiece model is corrupt: a piece is not UTF-8 text ({exc.reason})") from exc
    return sp


class Tokenizer:
    """A loaded SentencePiece model plus the bytes it was loaded from (to save it again)."""

    def __init__(self, model_bytes: bytes):
        self.model_bytes = bytes(model_bytes)
        self._sp = sentencepiece_processor(self.model_bytes)
        ids = (self._sp.pad_id(), self._sp.unk_id(), self._sp.bos_id(), self._sp.eos_id())
        if ids != (PAD_ID, UNK_ID, BOS_ID, EOS_ID):
            raise TokenizerError(
                f"The SentencePiece model uses special ids pad/unk/bos/eos = {ids}; "
                f"s2s-desktop needs {(PAD_ID, UNK_ID, BOS_ID, EOS_ID)}"
            )

    def __len__(self) -> int:
        return self._sp.get_piece_size()

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text, out_type=int)

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self._sp.encode(list(texts), out_type=int)

    def pieces(self, text: str) -> list[str]:
        return self._sp.encode(text, out_type=str)

    def decode(self, ids: Sequence[int]) -> str:
        return self._sp.decode([int(i) for i in ids if i > EOS_ID or i == UNK_ID])

    def id_to_piece(self, i: int) -> str:
        return self._sp.id_to_piece(int(i))

    def piece_to_id(self, piece: str) -> int | None:
        """The id of a piece, or None when the vocabulary does not have it."""
        i = self._sp.piece_to_id(piece)
        return None if i == UNK_ID and piece != self._sp.id_to_piece(UNK_ID) else int(i)

    def ids_to_pieces(self, ids: Sequence[int]) -> list[str]:
        return [self._sp.id_to_piece(int(i)) for i in ids]


def train_tokenizer(
    sentences: Iterable[str],
    vocab_size: int,
    model_type: str = "unigram",
    character_coverage: float = 1.0,
    max_sentences: int = 2_000_000,
    seed: int = 42,
) -> Tokenizer:
    """Train a SentencePiece model in memory.

    `vocab_size` is a soft limit (`hard_vocab_limit=False`): a corpus too small for the requested size
    gets a smaller vocabulary instead of an error, which matters for tiny user corpora.
    """
    if model_type not in MODEL_TYPES:
        raise TokenizerError(f"Unknown SentencePiece model type {model_type!r}; choose one of {MODEL_TYPES}")
    buffer = io.BytesIO()
    sentences = list(sentences)
    if not sentences:
        raise TokenizerError("Cannot train a SentencePiece model on an empty corpus")
    if all(len(s) > MAX_SENTENCE_BYTES // 4 and len(s.encode("utf-8", "replace")) > MAX_SENTENCE_BYTES for s in sentences):
        raise TokenizerError(f"Cannot train a SentencePiece model: every sentence is longer than {MAX_SENTENCE_BYTES} "
                             "bytes (SentencePiece skips those); split the lines into sentences")
    spm.set_random_generator_seed(seed)  # same corpus + seed -> same vocabulary
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sentences),
            model_writer=buffer,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            pad_id=PAD_ID,
            unk_id=UNK_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            hard_vocab_limit=False,
            input_sentence_size=max_sentences,
            shuffle_input_sentence=True,
            max_sentence_length=MAX_SENTENCE_BYTES,
            num_threads=2,
            minloglevel=2,
        )
    except Exception as exc:
        raise TokenizerError(f"SentencePiece training failed: {exc}") from exc
    return Tokenizer(buffer.getvalue())
