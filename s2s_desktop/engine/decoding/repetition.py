"""The repetition guard: an output never repeats an n-gram more often than its source repeats one.

A small model fed a long or unusual input can fall into a loop ("an einem Muttersprachler an einem
Muttersprachler ..."), and beam search rewards it: each repetition is likely once the first is there.
The guard bans, at each step, every token that would complete an n-gram of target pieces already
emitted `allowance` times.

What "beyond what the source has" means here: source and target pieces come from different
vocabularies, and even with a joint vocabulary a translated n-gram is not spelt like the source's. So
the source cannot say *which* target n-gram may repeat, only *how much* the sentence repeats itself.
A sentence's allowance is the count of its source's most repeated n-gram of source pieces (1 when it
repeats none: then no target n-gram may occur twice). "a man in red and a man in blue" has
"▁a ▁man ▁in" twice, so "ein Mann in Rot und ein Mann in Blau" may have "▁ein ▁Mann ▁in" twice;
"bye bye bye bye" lets "tschüss tschüss tschüss tschüss" through. The same rule holds for a joint
vocabulary, so that a model's behaviour does not depend on how its vocabulary was built.

It is not CTranslate2's or transformers' `no_repeat_ngram_size` (those ban any second occurrence,
whatever the source): tests that compare outputs with those engines turn the guard off.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch

NEG_INF = float("-inf")


def source_allowance(src_ids: Sequence[Sequence[int]], n: int) -> list[int]:
    """Per source: how often its most repeated n-gram of pieces occurs (at least 1)."""
    out = []
    for ids in src_ids:
        grams = Counter(tuple(ids[i : i + n]) for i in range(len(ids) - n + 1))
        out.append(max(grams.values(), default=1))
    return out


def ban_repeats(log_probs: torch.Tensor, seq: torch.Tensor, allowance: torch.Tensor, n: int,
                skip: torch.Tensor | None = None) -> None:
    """Set to -inf, in place, each token that would make an n-gram of `seq` occur more than
    `allowance` times. log_probs (N, V); seq (N, L) the tokens each row has emitted (prefix included);
    allowance (N,) long; skip (N,) bool: rows left alone (a forced prefix token comes next)."""
    length = seq.shape[1]
    if n < 1 or length < n:
        return
    grams = seq.unfold(1, n, 1)  # (N, W, n), W = L - n + 1: every n-gram emitted so far
    nxt = grams[:, :, -1]  # (N, W) the token that completed each
    if n > 1:  # the n-grams whose first n - 1 tokens are the row's last n - 1
        match = (grams[:, :, :-1] == seq[:, None, length - n + 1 :]).all(-1)  # (N, W)
    else:
        match = torch.ones_like(nxt, dtype=torch.bool)
    if skip is not None:
        match &= ~skip[:, None]
    rows, cols = match.nonzero(as_tuple=True)  # (M,) each earlier occurrence of a continuable n-gram
    tokens = nxt[rows, cols]
    if rows.numel() and bool((allowance > 1).any()):  # ban only once an n-gram occurred `allowance` times
        _, which, counts = torch.unique(rows * log_probs.shape[1] + tokens, return_inverse=True, return_counts=True)
        keep = counts[which] >= allowance[rows]
        rows, tokens = rows[keep], tokens[keep]
    log_probs[rows, tokens] = NEG_INF


@dataclass(frozen=True)
class RepeatGuard:
    """What the search needs: the n-gram size and each sentence's allowance."""

    n: int
    allowance: torch.Tensor  # (B,) long, one per source sentence

    @classmethod
    def for_sources(cls, src_ids: Sequence[Sequence[int]], n: int) -> RepeatGuard | None:
        """The guard for a batch of sources (piece ids, EOS excluded); None when `n` is 0 (off)."""
        if n <= 0:
            return None
        return cls(n, torch.tensor(source_allowance(src_ids, n), dtype=torch.long))
