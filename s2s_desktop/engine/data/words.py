"""Subword pieces to words, for views that show whole words (numpy only: the GUI uses it too).

SentencePiece marks the start of a word with "▁". A word's attention over the source is the *sum*
over its source pieces (the weight the word receives), and a target word's attention row is the
*mean* over its pieces (each piece's row sums to 1, so the mean keeps rows summing to 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

WORD_START = "\u2581"
SPECIALS = ("</s>", "<s>", "<pad>", "<unk>")


def word_groups(pieces: Sequence[str]) -> list[list[int]]:
    """Indices of the pieces of each word, in order. Special tokens (such as "</s>") are words of
    their own; a piece without "▁" continues the previous word (or starts the first one)."""
    groups: list[list[int]] = []
    prev_special = True
    for i, piece in enumerate(pieces):
        special = piece in SPECIALS
        if special or piece.startswith(WORD_START) or prev_special or not groups:
            groups.append([i])
        else:
            groups[-1].append(i)
        prev_special = special
    return groups


def group_text(pieces: Sequence[str], groups: list[list[int]]) -> list[str]:
    """The surface form of each word: its pieces joined, without the word-start mark."""
    return ["".join(pieces[i] for i in g).replace(WORD_START, "") or pieces[g[0]] for g in groups]


def piece_to_word(groups: list[list[int]], n_pieces: int) -> np.ndarray:
    """For each piece, the index of its word."""
    out = np.zeros(n_pieces, dtype=np.int64)
    for w, g in enumerate(groups):
        out[g] = w
    return out


def aggregate_attention(
    attention: np.ndarray, tgt_groups: list[list[int]], src_groups: list[list[int]]
) -> np.ndarray:
    """[..., T, S] piece attention -> [..., T_words, S_words]: sum over source pieces of a word,
    mean over the target pieces of a word."""
    cols = np.stack([attention[..., g].sum(axis=-1) for g in src_groups], axis=-1)
    rows = np.stack([cols[..., g, :].mean(axis=-2) for g in tgt_groups], axis=-2)
    return rows
