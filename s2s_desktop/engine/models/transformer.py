"""Pre-norm Transformer encoder-decoder with inspectable attention and key/value caching.

Training uses fused `scaled_dot_product_attention` (no weights materialised). Search runs one
position at a time: self-attention keys/values are cached per layer, cross-attention keys/values of
the source are computed once per sentence (`precompute_keys`), and the cross-attention weights of
every layer and head are returned for each decoded token, shape (B, layers, heads, S).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from s2s_desktop.engine.api import ModelConfig


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """(length, dim) sine/cosine position table (Vaswani et al.), sines in the first half."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    inv = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * inv)
    table[:, 1::2] = torch.cos(pos * inv)
    return table


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, heads: int, dropout: float):
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by the number of heads ({heads})")
        self.heads = heads
        self.d_head = d_model // heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def split(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, H, T, Dh)
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.d_head).transpose(1, 2)

    def merge(self, x: torch.Tensor) -> torch.Tensor:  # (B, H, T, Dh) -> (B, T, D)
        b, h, t, d = x.shape
        return x.transpose(1, 2).reshape(b, t, h * d)

    def kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.split(self.k_proj(memory)), self.split(self.v_proj(memory))

    def forward(self, query, k, v, mask=None, is_causal=False, need_weights=False):
        """query (B, T, D); k, v (B, H, S, Dh); mask broadcastable to (B, H, T, S), True = attend.
        Returns (output (B, T, D), weights (B, H, T, S) or None)."""
        q = self.split(self.q_proj(query))
        if not need_weights:
            drop = self.dropout if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop, is_causal=is_causal)
            return self.out_proj(self.merge(out)), None
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)
        if is_causal:
            t, s = scores.shape[-2:]
            causal = torch.ones(t, s, dtype=torch.bool, device=scores.device).tril(s - t)
            mask = causal if mask is None else mask & causal
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        out = weights @ v
        if self.training and self.dropout:
            out = F.dropout(out, self.dropout)
        return self.out_proj(self.merge(out)), weights


class EncoderLayer(nn.Module):
    def __init__(self, d: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.attn = MultiHeadAttention(d, heads, 0.0)
        self.norm2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, mask, need_weights=False):
        h = self.norm1(x)
        k, v = self.attn.kv(h)
        a, w = self.attn(h, k, v, mask, need_weights=need_weights)
        x = x + self.drop(a)
        x = x + self.drop(self.ff(self.norm2(x)))
        return x, w


class DecoderLayer(nn.Module):
    def __init__(self, d: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(d)
        self.self_attn = MultiHeadAttention(d, heads, 0.0)
        self.norm2 = nn.LayerNorm(d)
        self.cross_attn = MultiHeadAttention(d, heads, 0.0)
        self.norm3 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.ReLU(), nn.Dropout(dropout), nn.Linear(ff, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x, cross_k, cross_v, cross_mask, need_weights=False):
        """Teacher forcing: causal self-attention over x (B, T, D), then attention to the source."""
        h = self.norm1(x)
        k, v = self.self_attn.kv(h)
        a, self_w = self.self_attn(h, k, v, is_causal=True, need_weights=need_weights)
        x = x + self.drop(a)
        a, cross_w = self.cross_attn(self.norm2(x), cross_k, cross_v, cross_mask, need_weights=need_weights)
        x = x + self.drop(a)
        x = x + self.drop(self.ff(self.norm3(x)))
        return x, self_w, cross_w


class TransformerState(NamedTuple):
    """Self-attention caches per layer, each (B, H, t, Dh), and the next position."""

    keys: tuple[torch.Tensor, ...]
    values: tuple[torch.Tensor, ...]
    position: int


class TransformerEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.emb_size
        self.layers = nn.ModuleList(
            EncoderLayer(d, cfg.heads, cfg.ff_size, cfg.dropout) for _ in range(cfg.encoder_layers)
        )
        self.norm = nn.LayerNorm(d)
        self.output_size = d

    def forward(self, x, src_mask, need_weights=False):
        """x (B, S, D) embedded + positions; src_mask (B, S). -> memory (B, S, D), weights per layer."""
        mask = src_mask[:, None, None, :]
        weights = []
        for layer in self.layers:
            x, w = layer(x, mask, need_weights)
            weights.append(w)
        return self.norm(x), weights


class TransformerDecoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.emb_size
        self.layers = nn.ModuleList(
            DecoderLayer(d, cfg.heads, cfg.ff_size, cfg.dropout) for _ in range(cfg.decoder_layers)
        )
        self.norm = nn.LayerNorm(d)
        self.output_size = d

    def precompute_keys(self, memory: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Cross-attention keys and values of the source for every layer: (k0, v0, k1, v1, ...)."""
        out: list[torch.Tensor] = []
        for layer in self.layers:
            out.extend(layer.cross_attn.kv(memory))
        return tuple(out)

    def forward(self, x, keys, src_mask, need_weights=False):
        """Teacher forcing over the whole target: x (B, T, D) -> (B, T, D), self and cross weights."""
        mask = src_mask[:, None, None, :]
        self_ws, cross_ws = [], []
        for i, layer in enumerate(self.layers):
            x, sw, cw = layer(x, keys[2 * i], keys[2 * i + 1], mask, need_weights)
            self_ws.append(sw)
            cross_ws.append(cw)
        return self.norm(x), self_ws, cross_ws

    def step(self, x, state: TransformerState, keys, src_mask):
        """One position: x (B, 1, D) -> (B, D), cross weights (B, layers, heads, S), new state."""
        mask = src_mask[:, None, None, :]
        new_k, new_v, cross = [], [], []
        for i, layer in enumerate(self.layers):
            h = layer.norm1(x)
            k, v = layer.self_attn.kv(h)
            if state.keys:
                k = torch.cat([state.keys[i], k], dim=2)
                v = torch.cat([state.values[i], v], dim=2)
            new_k.append(k)
            new_v.append(v)
            a, _ = layer.self_attn(h, k, v)  # every cached position is in the past: no mask needed
            x = x + a
            a, w = layer.cross_attn(layer.norm2(x), keys[2 * i], keys[2 * i + 1], mask, need_weights=True)
            x = x + a
            x = x + layer.ff(layer.norm3(x))
            cross.append(w[:, :, 0, :])  # (B, H, S)
        return self.norm(x).squeeze(1), torch.stack(cross, 1), TransformerState(tuple(new_k), tuple(new_v), state.position + 1)

    def set_matmul_precision(self, mode: str | None) -> None:
        """Reduced precision covers only the shared output projection for Transformers so far."""

    @staticmethod
    def reorder(state: TransformerState, idx: torch.Tensor) -> TransformerState:
        return TransformerState(
            tuple(k.index_select(0, idx) for k in state.keys),
            tuple(v.index_select(0, idx) for v in state.values),
            state.position,
        )
