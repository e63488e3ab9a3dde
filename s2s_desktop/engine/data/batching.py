"""Length-bucketed batches sized in tokens, reproducible from (seed, epoch).

Sorting by length before cutting batches keeps padding small (a big part of CPU speed); shuffling
the batches, and the order of equal-length sentences, keeps the gradient noise of random batches.
Because an epoch's batch list is a pure function of (seed, epoch), a resumed run finds its place
again from the pair (epoch, batch index) alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from s2s_desktop.engine.api import BOS_ID, EOS_ID, PAD_ID


@dataclass
class Batch:
    src: torch.Tensor  # (B, S) source ids + EOS, PAD_ID after each sentence's end
    src_lengths: torch.Tensor  # (B,) on the CPU (packing needs it there)
    tgt_in: torch.Tensor  # (B, T) BOS + target ids
    tgt_out: torch.Tensor  # (B, T) target ids + EOS
    n_tokens: int  # real (non-pad) target tokens, EOS included
    indices: np.ndarray  # positions of these sentences in the dataset

    @property
    def size(self) -> int:
        return int(self.src.shape[0])


def pad_batch(seqs: Sequence[Sequence[int]], prefix: int | None = None, suffix: int | None = None) -> np.ndarray:
    """Stack id sequences into a (B, max_len) int64 array padded with PAD_ID."""
    extra = (prefix is not None) + (suffix is not None)
    width = max((len(s) for s in seqs), default=0) + extra
    out = np.full((len(seqs), max(width, 1)), PAD_ID, dtype=np.int64)
    for row, seq in enumerate(seqs):
        ids = list(seq)
        if prefix is not None:
            ids = [prefix] + ids
        if suffix is not None:
            ids = ids + [suffix]
        out[row, : len(ids)] = ids
    return out


def make_batch(
    src_ids: Sequence[Sequence[int]],
    tgt_ids: Sequence[Sequence[int]] | None,
    indices: np.ndarray,
    device: torch.device | str = "cpu",
) -> Batch:
    """Build padded tensors for the sentences at `indices`."""
    srcs = [src_ids[i] for i in indices]
    src = torch.from_numpy(pad_batch(srcs, suffix=EOS_ID))  # EOS ends every source: never empty
    lengths = torch.tensor([len(s) + 1 for s in srcs], dtype=torch.long)
    if tgt_ids is not None:
        tgts = [tgt_ids[i] for i in indices]
        tgt_in = torch.from_numpy(pad_batch(tgts, prefix=BOS_ID))
        tgt_out = torch.from_numpy(pad_batch(tgts, suffix=EOS_ID))
        n_tokens = target_tokens(tgt_ids, indices)
    else:
        tgt_in = tgt_out = torch.zeros((len(srcs), 0), dtype=torch.long)
        n_tokens = 0
    non_blocking = torch.device(device).type == "cuda"
    return Batch(
        src=src.to(device, non_blocking=non_blocking),
        src_lengths=lengths,
        tgt_in=tgt_in.to(device, non_blocking=non_blocking),
        tgt_out=tgt_out.to(device, non_blocking=non_blocking),
        n_tokens=n_tokens,
        indices=np.asarray(indices),
    )


def target_tokens(tgt_ids: Sequence[Sequence[int]], indices: np.ndarray) -> int:
    """Real target tokens (EOS included) of the sentences at `indices`: what a batch's loss is divided by."""
    return sum(len(tgt_ids[i]) + 1 for i in indices)


def bucket_batches(
    src_lens: np.ndarray,
    tgt_lens: np.ndarray | None,
    batch_tokens: int,
    rng: np.random.Generator | None = None,
    max_sentences: int = 4096,
) -> list[np.ndarray]:
    """Cut sentence indices into batches of at most `batch_tokens` padded tokens.

    A batch's cost is its size times its longest sequence (source + EOS, or target + BOS/EOS). With
    `rng`, equal lengths are ordered randomly and the batch list is shuffled; without it the order is
    fixed (validation, translation of files).
    """
    n = len(src_lens)
    lens = np.asarray(src_lens, dtype=np.int64) + 1  # + EOS
    if tgt_lens is not None:
        lens = np.maximum(lens, np.asarray(tgt_lens, dtype=np.int64) + 1)
    lens = np.maximum(lens, 1)
    order = np.arange(n)
    if rng is not None:
        order = rng.permutation(n)
    order = order[np.argsort(lens[order], kind="stable")]
    batches: list[np.ndarray] = []
    start = 0
    while start < n:
        end = start
        longest = 0
        while end < n:
            cand = max(longest, int(lens[order[end]]))
            if end > start and (cand * (end - start + 1) > batch_tokens or end - start >= max_sentences):
                break
            longest = cand
            end += 1
        batches.append(order[start:end])
        start = end
    if rng is not None:
        perm = rng.permutation(len(batches))
        batches = [batches[i] for i in perm]
    return batches


class EpochBatches:
    """The training batches of each epoch, a pure function of (seed, epoch)."""

    def __init__(self, src_ids, tgt_ids, batch_tokens: int, seed: int):
        self.src_ids = src_ids
        self.tgt_ids = tgt_ids
        self.batch_tokens = batch_tokens
        self.seed = seed
        self._src_lens = np.array([len(s) for s in src_ids])
        self._tgt_lens = np.array([len(t) for t in tgt_ids])

    def indices(self, epoch: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        return bucket_batches(self._src_lens, self._tgt_lens, self.batch_tokens, rng)
