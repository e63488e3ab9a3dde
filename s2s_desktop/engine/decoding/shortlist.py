"""A target-vocabulary shortlist: the pieces a batch's translations may use, found from its sources.

The output layer, its softmax and the candidate selection read every target piece at every step (with
8,000 pieces about a quarter of int8 decoding). Most pieces cannot appear in a given sentence's
translation, so beam search can score only the union, over the batch, of
- the `frequent` target pieces of the training corpus (function words, punctuation, common endings) and
  the special ids, and
- for each source piece of the batch, the target pieces that co-occur with it most strongly in the
  training corpus (Dice coefficient, 2 c(s, t) / (c(s) + c(t)), over sentence pairs), and the target
  piece spelled as it is (names, numbers and the surrogates of protect.py are copied),
as CTranslate2's vocabulary map and Marian's lexical shortlists do. The softmax then normalises over the
shortlist; what it changes is measured (bench/bench_sameweights.py: BLEU and identical outputs).

The table is stored in the model file (`shortlist.frequent`, `shortlist.table`; `s2s shortlist`) and
checked like every other field when the file is read.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from s2s_desktop.engine.api import EOS_ID
from s2s_desktop.errors import CheckpointError

SPECIALS = np.arange(EOS_ID + 1)  # PAD, UNK, BOS, EOS: always in, and first, so their columns are their ids


@dataclass(frozen=True)
class Shortlist:
    frequent: np.ndarray  # (F,) int32 target ids always allowed
    table: np.ndarray  # (source vocabulary, M) int32 target ids per source id; -1 pads
    copies: np.ndarray | None = None  # (source vocabulary,) the target id of the same piece, or -1 (`with_copies`)

    def with_copies(self, src_tok, tgt_tok) -> Shortlist:
        """This shortlist with each source piece's own spelling on the target side added (not stored: read
        from the tokenizers)."""
        if src_tok is tgt_tok:
            copies = np.arange(len(self.table), dtype=np.int64)
        else:
            found = (tgt_tok.piece_to_id(src_tok.id_to_piece(i)) for i in range(len(self.table)))
            copies = np.fromiter((-1 if t is None else t for t in found), dtype=np.int64, count=len(self.table))
        return Shortlist(self.frequent, self.table, copies)

    def candidates(self, sources: Iterable[Sequence[int]], extra: Iterable[int] = ()) -> torch.Tensor:
        """(W,) int64, sorted: the target ids a batch of `sources` (source ids) may produce; `extra` (a
        forced prefix's ids) added. Starts with the special ids 0..EOS, so those keep their column."""
        row = self.allowed([[i for s in sources for i in s]], [extra])[0]
        return torch.from_numpy(np.flatnonzero(row).astype(np.int64))

    def allowed(self, sources: Sequence[Sequence[int]], extras: Sequence[Iterable[int]] | None = None) -> np.ndarray:
        """(A, V) bool: row a is True at the target ids sentence a may produce: the special ids, the frequent
        pieces, the table's pieces and the copies of its source ids, and `extras[a]` (a forced prefix's ids).
        A whole batch in a few array operations (beam search keeps each sentence to its own shortlist; a
        sort of ~2,000 ids per sentence cost 3% of decoding). V covers every id the table, the copies and
        `extras` hold."""
        extras = [np.fromiter(e, dtype=np.int64) for e in extras] if extras is not None else []
        width = max([self._width] + [int(e.max()) + 1 for e in extras if len(e)])
        out = np.zeros((len(sources), width), dtype=bool)
        out[:, SPECIALS] = True
        out[:, self.frequent] = True
        lengths = np.fromiter((len(x) for x in sources), dtype=np.int64, count=len(sources))
        src = np.fromiter((i for x in sources for i in x), dtype=np.int64, count=int(lengths.sum()))
        row = np.repeat(np.arange(len(sources)), lengths)
        ok = (src >= 0) & (src < len(self.table))
        src, row = src[ok], row[ok]
        found = self.table[src].astype(np.int64)  # (tokens, M)
        hit = found >= 0
        out[np.broadcast_to(row[:, None], found.shape)[hit], found[hit]] = True
        if self.copies is not None:
            copies = self.copies[src]
            out[row[copies >= 0], copies[copies >= 0]] = True
        for a, e in enumerate(extras):
            out[a, e] = True
        return out

    @functools.cached_property
    def _width(self) -> int:
        """One more than the largest target id of the frequent pieces, the table and the copies."""
        parts = [self.frequent, self.table.ravel()] + ([self.copies] if self.copies is not None else [])
        return max([EOS_ID] + [int(p.max()) for p in parts if len(p)]) + 1

    def tensors(self) -> dict[str, torch.Tensor]:
        """What a model file stores."""
        return {"shortlist.frequent": torch.from_numpy(self.frequent.astype(np.int32)),
                "shortlist.table": torch.from_numpy(self.table.astype(np.int32))}

    @classmethod
    def from_tensors(cls, path, tensors: dict[str, torch.Tensor], src_vocab: int, tgt_vocab: int) -> Shortlist | None:
        """The shortlist of a model file's tensors, or None when it has none; a malformed one is a
        CheckpointError naming the tensor (the ids index the output layer: every one is checked)."""
        frequent, table = tensors.pop("shortlist.frequent", None), tensors.pop("shortlist.table", None)
        if frequent is None and table is None:
            return None
        for name, value, dims in (("shortlist.frequent", frequent, 1), ("shortlist.table", table, 2)):
            if value is None:
                raise CheckpointError(f"{path}: {name} is missing (the shortlist needs both of its tensors)")
            if value.dtype != torch.int32 or value.dim() != dims:
                raise CheckpointError(f"{path}: {name} must be a {dims}-D int32 tensor (got {value.dim()}-D "
                                      f"{str(value.dtype).removeprefix('torch.')})")
            low = -1 if name == "shortlist.table" else 0
            if value.numel() and (int(value.min()) < low or int(value.max()) >= tgt_vocab):
                raise CheckpointError(f"{path}: {name} holds ids outside the target vocabulary (0..{tgt_vocab - 1})")
        if table.shape[0] != src_vocab:
            raise CheckpointError(f"{path}: shortlist.table has {table.shape[0]} rows for a source vocabulary "
                                  f"of {src_vocab}")
        return cls(frequent.numpy().copy(), table.numpy().copy())


def build_shortlist(sources: Sequence[Sequence[int]], targets: Sequence[Sequence[int]], src_vocab: int,
                    tgt_vocab: int, frequent: int = 2000, per_source: int = 15) -> Shortlist:
    """The shortlist of a tokenised parallel corpus (ids, aligned sentence pairs): the `frequent` most
    frequent target pieces, and for each source piece its `per_source` target pieces of highest Dice
    coefficient (pieces counted once per sentence)."""
    if len(sources) != len(targets):
        raise ValueError(f"{len(sources)} source sentences for {len(targets)} target sentences")
    src_count = np.zeros(src_vocab, dtype=np.int64)
    tgt_count = np.zeros(tgt_vocab, dtype=np.int64)
    keys = []
    for s, t in zip(sources, targets):
        s = np.unique(np.asarray(s, dtype=np.int64))
        t = np.unique(np.asarray(t, dtype=np.int64))
        s, t = s[(s > EOS_ID) & (s < src_vocab)], t[(t > EOS_ID) & (t < tgt_vocab)]
        src_count[s] += 1
        tgt_count[t] += 1
        keys.append((s[:, None] * tgt_vocab + t[None, :]).ravel())
    pairs, together = np.unique(np.concatenate(keys) if keys else np.zeros(0, np.int64), return_counts=True)
    s_id, t_id = pairs // tgt_vocab, pairs % tgt_vocab
    dice = 2.0 * together / (src_count[s_id] + tgt_count[t_id])
    order = np.lexsort((-dice, s_id))  # by source id, then best first
    s_id, t_id = s_id[order], t_id[order]
    starts = np.searchsorted(s_id, np.arange(src_vocab))
    rank = np.arange(len(s_id)) - starts[s_id]
    keep = rank < per_source
    table = np.full((src_vocab, per_source), -1, dtype=np.int32)
    table[s_id[keep], rank[keep]] = t_id[keep]
    top = np.argsort(-tgt_count, kind="stable")[:frequent]
    return Shortlist(np.sort(top[tgt_count[top] > 0]).astype(np.int32), table)
