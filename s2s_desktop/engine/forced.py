"""A model read along a translation it is given (teacher forcing): what alignment and attribution need.

The words are the user's whitespace-separated words: each is encoded on its own, so every piece
knows its word exactly (SentencePiece splits at whitespace anyway, so the pieces are the ones the
whole line would get). Output position t predicts target piece t; the last predicts "</s>".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from s2s_desktop.engine.data.batching import make_batch
from s2s_desktop.engine.decoding.service import CAP
from s2s_desktop.errors import InputError


@dataclass(frozen=True)
class ForcedPair:
    """One sentence pair as the model reads it."""

    source_ids: tuple[int, ...]  # pieces, without the "</s>" the encoder appends
    target_ids: tuple[int, ...]  # pieces, without "</s>"
    source_word: np.ndarray  # (S,) the word index of each source piece
    target_word: np.ndarray  # (T,)
    attention: np.ndarray  # (L, H, T + 1, S + 1) cross-attention: rows output positions, columns source + "</s>"
    token_probs: np.ndarray  # (T + 1,) the model's probability of each target piece, then of "</s>"

    @property
    def source_words(self) -> int:
        return int(self.source_word.max()) + 1 if self.source_word.size else 0

    @property
    def target_words(self) -> int:
        return int(self.target_word.max()) + 1 if self.target_word.size else 0


def encode_words(tok, words: Sequence[str]) -> tuple[list[int], np.ndarray]:
    """The pieces of `words` (each encoded alone) and the word index of each piece."""
    ids: list[int] = []
    owner: list[int] = []
    for w, pieces in enumerate(tok.encode_batch(list(words)) if words else []):
        ids.extend(pieces)
        owner.extend([w] * len(pieces))
    return ids, np.asarray(owner, dtype=np.int64)


def prepare(translator, source: str, target: str, where: str) -> tuple[list[int], np.ndarray, list[int], np.ndarray]:
    """Encode one pair; raises InputError (naming `where`) when a side has no pieces or is too long."""
    loaded = translator.loaded
    src_ids, src_word = encode_words(loaded.src_tok, source.split())
    tgt_ids, tgt_word = encode_words(loaded.tgt_tok, target.split())
    max_source, max_target = loaded.length_limits(CAP, CAP)  # pieces, "</s>" included
    if not src_ids or not tgt_ids:
        raise InputError(f"{where}: the {'source' if not src_ids else 'target'} sentence is empty")
    if len(src_ids) + 1 > max_source or len(tgt_ids) + 1 > max_target:
        raise InputError(f"{where}: {len(src_ids)} source and {len(tgt_ids)} target pieces, more than this model "
                         f"reads ({max_source - 1} and {max_target - 1} at most)")
    return src_ids, src_word, tgt_ids, tgt_word


def cross_attention(model, batch, need_grad: bool = False):
    """(hidden (B, T+1, H), attention (B, L, H, T+1, S+1)) for a batch, teacher-forced."""
    enc = model.encode(batch.src, batch.src_lengths)
    hidden, weights = model.decode(enc, batch.tgt_in, need_weights=True)
    att = weights[0] if isinstance(weights, tuple) else weights  # a Transformer's pair, or an RNN's (B, T, S)
    if att.dim() == 3:
        att = att[:, None, None]
    return hidden, att


def read_pairs(translator, sources: Sequence[str], targets: Sequence[str], batch_size: int = 32,
               first_line: int = 1) -> list[ForcedPair]:
    """Teacher-force every pair (batched by length); `first_line` names lines in errors."""
    if len(sources) != len(targets):
        raise InputError(f"{len(sources)} source sentences but {len(targets)} target sentences")
    encoded = [prepare(translator, s, t, f"line {first_line + i}") for i, (s, t) in enumerate(zip(sources, targets))]
    model = translator.model
    model.eval()
    order = np.argsort([len(e[0]) + len(e[2]) for e in encoded], kind="stable")
    out: list[ForcedPair | None] = [None] * len(encoded)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        batch = make_batch([encoded[i][0] for i in chunk], [encoded[i][2] for i in chunk], np.arange(len(chunk)),
                           translator.device)
        with torch.inference_mode():
            hidden, att = cross_attention(model, batch)
            logp = torch.log_softmax(model.logits(hidden).float(), dim=-1)
            probs = logp.gather(-1, batch.tgt_out.unsqueeze(-1)).squeeze(-1).exp()
        att = att.float().cpu().numpy()
        probs = probs.cpu().numpy()
        for row, i in enumerate(chunk):
            src_ids, src_word, tgt_ids, tgt_word = encoded[i]
            s, t = len(src_ids) + 1, len(tgt_ids) + 1
            out[i] = ForcedPair(tuple(src_ids), tuple(tgt_ids), src_word, tgt_word,
                                np.ascontiguousarray(att[row, :, :, :t, :s]), probs[row, :t].copy())
    return out  # type: ignore[return-value]


def read_pair(translator, source: str, target: str) -> ForcedPair:
    return read_pairs(translator, [source], [target])[0]


