"""Pre-norm Transformer encoder-decoder with inspectable attention and key/value caching.

Training uses fused `scaled_dot_product_attention` (no weights materialised). Search runs one
position at a time: self-attention keys/values are cached per layer, cross-attention keys/values of
the source are computed once per sentence (`precompute_keys`), and the cross-attention weights of
every layer and head are returned for each decoded token, shape (B, layers, heads, S).

The encoder and decoder follow the protocol of protocol.py; `build(cfg)` is what registry.py finds
for "transformer". Each scales its embeddings by sqrt(d_model) and adds sinusoidal positions.

The variants of `TransformerConfig` (post-norm layers, the activation, the position table's layout,
no final LayerNorm, unscaled embeddings) exist for imported models (formats/marian_import.py); the
defaults are the models trained here, computed exactly as before the variants existed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from s2s_desktop.engine.api import PAD_ID, ModelConfig
from s2s_desktop.engine.models.protocol import Encoded
from s2s_desktop.engine.models.transformer_infer import PreparedDecoder, PreparedEncoder


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """(length, dim) sine/cosine position table (Vaswani et al.): sines at even, cosines at odd dimensions."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    inv = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * inv)
    table[:, 1::2] = torch.cos(pos * inv)
    return table


def concatenated_positions(length: int, dim: int) -> torch.Tensor:
    """(length, dim) table as Marian (and transformers' MarianSinusoidalPositionalEmbedding) builds it:
    angle(pos, j) = pos / 10000^(2*(j//2)/dim) in float64, sines of the even j in the first
    ceil(dim/2) columns, cosines of the odd j in the rest, cast to float32."""
    pos = np.arange(length, dtype=np.float64)[:, None]
    angle = pos / np.power(10000, 2 * (np.arange(dim) // 2) / dim)[None, :]
    half = dim // 2 + dim % 2
    table = np.empty((length, dim), dtype=np.float32)
    table[:, :half] = np.sin(angle[:, 0::2])
    table[:, half:] = np.cos(angle[:, 1::2])
    return torch.from_numpy(table)


POSITION_TABLES = {"interleaved": sinusoidal_positions, "concatenated": concatenated_positions}
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU, "gelu": nn.GELU, "gelu_tanh": lambda: nn.GELU(approximate="tanh"), "silu": nn.SiLU,
}


class EmbeddingInput(nn.Module):
    """Token ids -> embeddings * sqrt(d) (or * 1) + sinusoidal positions, then dropout (no weights of its own)."""

    def __init__(self, d: int, dropout: float, layout: str = "interleaved", scale: bool = True):
        super().__init__()
        self.d = d
        self.scale = math.sqrt(d) if scale else 1.0
        self.dropout = nn.Dropout(dropout)
        self.table = POSITION_TABLES[layout]
        self.register_buffer("positions", self.table(256, d), persistent=False)

    def forward(self, embedding: nn.Embedding, ids: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """ids (B, T) at positions offset.. -> (B, T, d)."""
        end = offset + ids.shape[1]
        if end > self.positions.shape[0]:  # grow the sinusoid table for long inputs
            table = self.table(max(end, 2 * self.positions.shape[0]), self.d)
            self.positions = table.to(self.positions.device)
        return self.dropout(embedding(ids) * self.scale + self.positions[offset:end])


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


class _Layer(nn.Module):
    """What encoder and decoder layers share: the feed-forward block and where the LayerNorms sit.
    Pre-norm: x + f(LN(x)); post-norm: LN(x + f(x)). `sub_input` is what a sublayer reads,
    `residual` adds its output back. Subclasses create their modules in a fixed order (attention, then
    `_add_feed_forward`): that order fixes the initial weights for a seed."""

    post_norm: bool

    def _add_feed_forward(self, d: int, ff: int, dropout: float, activation: str) -> None:
        self.ff = nn.Sequential(nn.Linear(d, ff), ACTIVATIONS[activation](), nn.Dropout(dropout), nn.Linear(ff, d))
        self.drop = nn.Dropout(dropout)

    def sub_input(self, x: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
        return x if self.post_norm else norm(x)

    def residual(self, x: torch.Tensor, out: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
        x = x + self.drop(out)
        return norm(x) if self.post_norm else x


class EncoderLayer(_Layer):
    def __init__(self, d: int, heads: int, ff: int, dropout: float, post_norm: bool = False, activation: str = "relu"):
        super().__init__()
        self.post_norm = post_norm
        self.norm1 = nn.LayerNorm(d)
        self.attn = MultiHeadAttention(d, heads, 0.0)
        self.norm2 = nn.LayerNorm(d)
        self._add_feed_forward(d, ff, dropout, activation)

    def forward(self, x, mask, need_weights=False):
        h = self.sub_input(x, self.norm1)
        k, v = self.attn.kv(h)
        a, w = self.attn(h, k, v, mask, need_weights=need_weights)
        x = self.residual(x, a, self.norm1)
        x = self.residual(x, self.ff(self.sub_input(x, self.norm2)), self.norm2)
        return x, w


class DecoderLayer(_Layer):
    def __init__(self, d: int, heads: int, ff: int, dropout: float, post_norm: bool = False, activation: str = "relu"):
        super().__init__()
        self.post_norm = post_norm
        self.norm1 = nn.LayerNorm(d)
        self.self_attn = MultiHeadAttention(d, heads, 0.0)
        self.norm2 = nn.LayerNorm(d)
        self.cross_attn = MultiHeadAttention(d, heads, 0.0)
        self.norm3 = nn.LayerNorm(d)
        self._add_feed_forward(d, ff, dropout, activation)

    def forward(self, x, cross_k, cross_v, cross_mask, need_weights=False):
        """Teacher forcing: causal self-attention over x (B, T, D), then attention to the source."""
        h = self.sub_input(x, self.norm1)
        k, v = self.self_attn.kv(h)
        a, self_w = self.self_attn(h, k, v, is_causal=True, need_weights=need_weights)
        x = self.residual(x, a, self.norm1)
        a, cross_w = self.cross_attn(self.sub_input(x, self.norm2), cross_k, cross_v, cross_mask,
                                     need_weights=need_weights)
        x = self.residual(x, a, self.norm2)
        x = self.residual(x, self.ff(self.sub_input(x, self.norm3)), self.norm3)
        return x, self_w, cross_w


class TransformerState(NamedTuple):
    """Self-attention caches per layer, each (B, H, t, Dh), and the next position (the reference path,
    for a step taken with gradients; search takes `SearchState`)."""

    keys: tuple[torch.Tensor, ...]
    values: tuple[torch.Tensor, ...]
    position: int


class SearchState(NamedTuple):
    """Search's state: the self-attention cache (kept as the reference path keeps it), whether to
    return the cross-attention weights, the prepared weights (transformer_infer.py), and the beam
    reorder not yet applied to the cache (rows (N,) or None: the next step applies it as it appends)."""

    cache: TransformerState
    need_weights: bool
    prepared: PreparedDecoder
    rows: torch.Tensor | None = None

    @property
    def position(self) -> int:
        return self.cache.position


def _searching(module: nn.Module) -> bool:
    """Search, validation or translation: evaluation mode without gradients (the prepared weights)."""
    return not module.training and not torch.is_grad_enabled()


class TransformerEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d, t = cfg.emb_size, cfg.transformer
        _check_variants(t)
        self.input = EmbeddingInput(d, cfg.dropout, t.position_layout, t.scale_embedding)
        post = t.norm_position == "post"
        self.layers = nn.ModuleList(EncoderLayer(d, t.heads, t.ff_size, cfg.dropout, post, t.activation)
                                    for _ in range(t.encoder_layers))
        self.norm = nn.LayerNorm(d) if t.final_norm else nn.Identity()
        self.output_size = d

    precision = "fp32"  # of the prepared weights search encodes with (set_matmul_precision)

    def encode(self, embed: nn.Embedding, src: torch.Tensor, lengths: torch.Tensor, src_mask: torch.Tensor):
        if _searching(self):
            memory = PreparedEncoder.current(self, self.precision).encode(self.input(embed, src), src_mask)
        else:
            memory, _ = self(self.input(embed, src), src_mask)
        return memory, memory.new_zeros((memory.shape[0], 0))

    def set_matmul_precision(self, mode: str | None) -> None:
        self.precision = mode or "fp32"

    def self_attention(self, embed: nn.Embedding, src: torch.Tensor) -> torch.Tensor:
        """Encoder self-attention for inspection: (B, layers, heads, S, S)."""
        _, weights = self(self.input(embed, src), src != PAD_ID, need_weights=True)
        return torch.stack(weights, 1)

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
        d, t = cfg.emb_size, cfg.transformer
        _check_variants(t)
        self.input = EmbeddingInput(d, cfg.dropout, t.position_layout, t.scale_embedding)
        post = t.norm_position == "post"
        self.layers = nn.ModuleList(DecoderLayer(d, t.heads, t.ff_size, cfg.dropout, post, t.activation)
                                    for _ in range(t.decoder_layers))
        self.norm = nn.LayerNorm(d) if t.final_norm else nn.Identity()
        self.output_size = d

    precision = "fp32"  # of the prepared weights search decodes with (set_matmul_precision)

    def precompute_keys(self, memory: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Cross-attention keys and values of the source for every layer: (k0, v0, k1, v1, ...)."""
        if _searching(self):
            return PreparedDecoder.current(self, self.precision).cross_keys(memory)
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

    # -- the decoder protocol ------------------------------------------------------------------------
    def decode(self, embed: nn.Embedding, enc: Encoded, tgt_in: torch.Tensor, *, teacher_forcing: float = 1.0,
               need_weights: bool = False, logits: Callable[[torch.Tensor], torch.Tensor] | None = None):
        """tgt_in (B, T) -> hidden (B, T, D); attention None during training (fused attention), or with
        `need_weights` the cross-attention (B, layers, heads, T, S) and decoder self-attention
        (B, layers, heads, T, T) as a pair. (No scheduled sampling: `teacher_forcing` is always 1.)"""
        hidden, self_w, cross_w = self(self.input(embed, tgt_in), enc.keys, enc.src_mask, need_weights)
        if not need_weights:
            return hidden, None
        return hidden, (torch.stack(cross_w, 1), torch.stack(self_w, 1))

    def init_state(self, enc: Encoded, need_weights: bool = True) -> TransformerState | SearchState:
        """`need_weights` False: `step` returns no cross-attention (faster; file translation, the server)."""
        if not _searching(self):
            return TransformerState((), (), 0)
        return SearchState(TransformerState((), (), 0), need_weights, PreparedDecoder.current(self, self.precision))

    def step(self, embed: nn.Embedding, prev_tokens: torch.Tensor, state: TransformerState | SearchState,
             enc: Encoded):
        """prev_tokens (B,) -> hidden (B, D), cross-attention (B, layers, heads, S) or None, new state."""
        x = self.input(embed, prev_tokens[:, None], state.position)
        if isinstance(state, SearchState):
            cache = state.cache
            hidden, cross, keys, values = state.prepared.step(x, cache.keys, cache.values, enc.keys, enc.src_mask,
                                                              state.need_weights, enc.beams, state.rows)
            return hidden, cross, state._replace(cache=TransformerState(keys, values, cache.position + 1), rows=None)
        return self._step(x, state, enc.keys, enc.src_mask)

    def shares_source(self) -> bool:
        """Search reads one copy of each source for all of a sentence's beams (PreparedDecoder.step)."""
        return _searching(self)

    def _step(self, x, state: TransformerState, keys, src_mask):
        """One position: x (B, 1, D) -> (B, D), cross weights (B, layers, heads, S), new state."""
        mask = src_mask[:, None, None, :]
        new_k, new_v, cross = [], [], []
        for i, layer in enumerate(self.layers):
            h = layer.sub_input(x, layer.norm1)
            k, v = layer.self_attn.kv(h)
            if state.keys:
                k = torch.cat([state.keys[i], k], dim=2)
                v = torch.cat([state.values[i], v], dim=2)
            new_k.append(k)
            new_v.append(v)
            a, _ = layer.self_attn(h, k, v)  # every cached position is in the past: no mask needed
            x = layer.residual(x, a, layer.norm1)  # (dropout is off in search)
            a, w = layer.cross_attn(layer.sub_input(x, layer.norm2), keys[2 * i], keys[2 * i + 1], mask,
                                    need_weights=True)
            x = layer.residual(x, a, layer.norm2)
            x = layer.residual(x, layer.ff(layer.sub_input(x, layer.norm3)), layer.norm3)
            cross.append(w[:, :, 0, :])  # (B, H, S)
        state = TransformerState(tuple(new_k), tuple(new_v), state.position + 1)
        return self.norm(x).squeeze(1), torch.stack(cross, 1), state

    def set_matmul_precision(self, mode: str | None) -> None:
        """Every linear layer of search in "bf16" or "int8" (None or "fp32": float32); see lowp.py."""
        self.precision = mode or "fp32"

    @classmethod
    def reorder_state(cls, state: TransformerState | SearchState, idx: torch.Tensor) -> TransformerState | SearchState:
        if isinstance(state, SearchState):  # kept for the next step, which copies the cache anyway
            return state._replace(rows=idx if state.rows is None else state.rows.index_select(0, idx))
        return TransformerState(
            tuple(k.index_select(0, idx) for k in state.keys),
            tuple(v.index_select(0, idx) for v in state.values),
            state.position,
        )


def _check_variants(t) -> None:
    for name, allowed in (("norm_position", ("pre", "post")), ("activation", tuple(ACTIVATIONS)),
                          ("position_layout", tuple(POSITION_TABLES))):
        if getattr(t, name) not in allowed:
            raise ValueError(f"transformer {name} must be one of {', '.join(allowed)} (got {getattr(t, name)!r})")


def build(cfg: ModelConfig) -> tuple[TransformerEncoder, TransformerDecoder]:
    """The encoder, then the decoder (this order fixes the initial weights for a seed)."""
    return TransformerEncoder(cfg), TransformerDecoder(cfg)
