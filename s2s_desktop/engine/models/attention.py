"""Attention over encoder states: Luong (dot, general) and Bahdanau (additive).

Shapes: memory (B, S, M) encoder states; src_mask (B, S) True at real source tokens; queries
(B, T, H) decoder states. Every function returns (context (B, T, M), probs (B, T, S)) where each row
of `probs` sums to 1 over real source positions and is exactly 0 on padding.
"""

from __future__ import annotations

import torch
from torch import nn


def masked_softmax(scores: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last axis of scores (B, T, S), ignoring positions where src_mask (B, S) is False."""
    scores = scores.masked_fill(~src_mask.unsqueeze(1), float("-inf"))
    return torch.softmax(scores, dim=-1)


class LuongAttention(nn.Module):
    """Multiplicative attention, scored for all target positions in one batched matmul.

    "dot": score = h . m (needs H == M); "general": score = (W h) . m.
    """

    def __init__(self, kind: str, query_size: int, memory_size: int):
        super().__init__()
        if kind not in ("dot", "general"):
            raise ValueError(f"unknown Luong attention {kind!r}")
        if kind == "dot" and query_size != memory_size:
            raise ValueError(
                f"dot attention needs decoder size == encoder output size ({query_size} != {memory_size})"
            )
        self.kind = kind
        self.proj = nn.Linear(query_size, memory_size, bias=False) if kind == "general" else None

    def forward(self, queries, memory, src_mask, keys=None):
        q = self.proj(queries) if self.proj is not None else queries  # (B, T, M)
        probs = masked_softmax(torch.bmm(q, memory.transpose(1, 2)), src_mask)  # (B, T, S)
        return torch.bmm(probs, memory), probs

    def precompute_keys(self, memory):
        return None


class BahdanauAttention(nn.Module):
    """Additive attention: score = v . tanh(W_k m + W_q h). The key projection is computed once per
    source (`precompute_keys`), so each decoder step only projects its query."""

    def __init__(self, query_size: int, memory_size: int, attn_size: int):
        super().__init__()
        self.key_proj = nn.Linear(memory_size, attn_size, bias=False)
        self.query_proj = nn.Linear(query_size, attn_size, bias=False)
        self.energy = nn.Linear(attn_size, 1, bias=False)

    def precompute_keys(self, memory):
        return self.key_proj(memory)  # (B, S, A)

    def forward(self, queries, memory, src_mask, keys=None):
        if keys is None:
            keys = self.key_proj(memory)
        q = self.query_proj(queries)  # (B, T, A)
        scores = self.energy(torch.tanh(keys.unsqueeze(1) + q.unsqueeze(2))).squeeze(-1)  # (B, T, S)
        probs = masked_softmax(scores, src_mask)
        return torch.bmm(probs, memory), probs


def build_attention(kind: str, query_size: int, memory_size: int) -> nn.Module:
    if kind == "bahdanau":
        return BahdanauAttention(query_size, memory_size, query_size)
    if kind in ("luong-dot", "luong-general"):
        return LuongAttention(kind.split("-", 1)[1], query_size, memory_size)
    raise ValueError(f"unknown attention {kind!r}")
