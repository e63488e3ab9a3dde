"""The Transformer's search path: the weights of transformer.py laid out once for decoding.

Search runs the decoder one position at a time for (sentences x beam) rows, so each step is a chain
of small matmuls and the dispatch between them. `PreparedEncoder` and `PreparedDecoder` hold, for one set
of weights and one precision, what search needs:
- the self-attention Q, K and V projections fused into one (3D x D) matrix, and the cross-attention
  K and V projections of every layer into one (2 layers D x D) matrix applied once per source;
- every linear layer of the encoder and the decoder in the precision asked for (`lowp`: float32,
  bf16, or int8 with per-row scales, so a sentence's result never depends on its batch);
- single-query attention as batched matmuls over the self-attention cache, written once per step into
  a fresh contiguous buffer: the beam reorder search asked for and this position's keys and values in
  one copy (the reference path, transformer.py's `TransformerState`, reorders and then concatenates:
  two copies). A cache preallocated to the length limit and written in place was tried and measured slower on this CPU:
  attention over the strided filled part of such a buffer cost 2.5 ms against 1.1 ms contiguous for
  800 rows of 15 positions (2 threads), more than the copies it saves (docs/benchmarks.md);
- cross-attention over one copy of each source for all its beams (`Encoded.beams`);
- the cross-attention weights returned only when the caller records them (the inspector).

`PreparedEncoder.current` and `PreparedDecoder.current` rebuild when a weight changes (a training
step, `load_state_dict`) or the precision does: parameters' version counters say so. Training never comes here; the teacher-forced
paths of transformer.py are untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from s2s_desktop.engine.models.lowp import LowPrecisionLinear


def _lin(linears: list[nn.Linear], mode: str) -> LowPrecisionLinear:
    """One matrix for several nn.Linear of the same input, stacked along their outputs (a single one is
    used as it is: in float32 no copy of its weights is made)."""
    if len(linears) == 1:
        return LowPrecisionLinear(linears[0].weight, linears[0].bias, mode)
    weight = torch.cat([m.weight for m in linears], 0)
    biases = [m.bias for m in linears]
    bias = None if any(b is None for b in biases) else torch.cat(biases, 0)
    return LowPrecisionLinear(weight, bias, mode)


def _version(module: nn.Module) -> tuple:
    """Changes when any weight does (an optimizer step, load_state_dict, a move to another device)."""
    params = module.__dict__.get("_prepared_params")
    if params is None:  # modules are never added after construction: list them once
        params = module.__dict__["_prepared_params"] = list(module.parameters())
    return tuple((p.data_ptr(), p._version) for p in params)


@dataclass
class _Layer:
    post_norm: bool
    norms: tuple[nn.LayerNorm, ...]  # the modules themselves: cheap, and their weights stay live
    qkv: LowPrecisionLinear  # self-attention (D -> 3D) [encoder: the same]
    self_out: LowPrecisionLinear
    ff1: LowPrecisionLinear
    act: nn.Module
    ff2: LowPrecisionLinear
    cross_q: LowPrecisionLinear | None = None  # decoder only
    cross_out: LowPrecisionLinear | None = None

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff2(self.act(self.ff1(x)))


def _layer(layer, mode: str, decoder: bool) -> _Layer:
    attn = layer.self_attn if decoder else layer.attn
    norms = (layer.norm1, layer.norm2) + ((layer.norm3,) if decoder else ())
    out = _Layer(layer.post_norm, norms, _lin([attn.q_proj, attn.k_proj, attn.v_proj], mode),
                 _lin([attn.out_proj], mode), _lin([layer.ff[0]], mode), layer.ff[1], _lin([layer.ff[3]], mode))
    if decoder:
        out.cross_q, out.cross_out = _lin([layer.cross_attn.q_proj], mode), _lin([layer.cross_attn.out_proj], mode)
    return out


def _pre(x: torch.Tensor, layer: _Layer, i: int) -> torch.Tensor:
    return x if layer.post_norm else layer.norms[i](x)


def _add(x: torch.Tensor, out: torch.Tensor, layer: _Layer, i: int) -> torch.Tensor:
    x = x + out
    return layer.norms[i](x) if layer.post_norm else x


class _Prepared:
    """What both sides share: the version key, head shapes and the rebuild rule."""

    def __init__(self, module: nn.Module, mode: str):
        self.mode = mode
        self.key = (mode, _version(module))
        first = module.layers[0]
        attn = first.self_attn if hasattr(first, "self_attn") else first.attn
        self.heads, self.d_head = attn.heads, attn.d_head
        self.norm = module.norm

    @classmethod
    def current(cls, module: nn.Module, mode: str):
        """The prepared weights kept on `module`, rebuilt when a weight or the precision changed."""
        prepared = module.__dict__.get("_prepared")
        if prepared is None or prepared.key != (mode, _version(module)):
            prepared = cls(module, mode)
            module.__dict__["_prepared"] = prepared  # not a submodule: never saved, never moved
        return prepared

    def _heads(self, x: torch.Tensor, parts: int) -> tuple[torch.Tensor, ...]:
        """(B, T, parts*D) -> `parts` tensors (B, H, T, Dh)."""
        b, t, _ = x.shape
        return x.view(b, t, parts, self.heads, self.d_head).permute(2, 0, 3, 1, 4).unbind(0)

    @staticmethod
    def _merge(x: torch.Tensor) -> torch.Tensor:  # (B, H, T, Dh) -> (B, T, D)
        b, h, t, d = x.shape
        return x.transpose(1, 2).reshape(b, t, h * d)


class PreparedEncoder(_Prepared):
    def __init__(self, encoder, mode: str):
        super().__init__(encoder, mode)
        self.layers = [_layer(layer, mode, decoder=False) for layer in encoder.layers]

    def encode(self, x: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        """x (B, S, D) embedded + positions, src_mask (B, S) -> memory (B, S, D)."""
        mask = src_mask[:, None, None, :]
        for layer in self.layers:
            q, k, v = self._heads(layer.qkv(_pre(x, layer, 0)), 3)
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            x = _add(x, layer.self_out(self._merge(a)), layer, 0)
            x = _add(x, layer.feed_forward(_pre(x, layer, 1)), layer, 1)
        return self.norm(x)


class PreparedDecoder(_Prepared):
    def __init__(self, decoder, mode: str):
        super().__init__(decoder, mode)
        self.layers = [_layer(layer, mode, decoder=True) for layer in decoder.layers]
        self.cross_kv = _lin([m for layer in decoder.layers for m in (layer.cross_attn.k_proj, layer.cross_attn.v_proj)],
                             mode)

    def cross_keys(self, memory: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Every layer's cross-attention keys and values of the source, (k0, v0, k1, v1, ...), each
        (B, H, S, Dh) and contiguous (each step reads them as (B*H, S, Dh) without a copy): one matmul
        for all of them."""
        return tuple(part.contiguous() for part in self._heads(self.cross_kv(memory), 2 * len(self.layers)))

    def step(self, x: torch.Tensor, cached_keys: tuple, cached_values: tuple, keys, src_mask: torch.Tensor,
             need_weights: bool, beams: int = 1, rows: torch.Tensor | None = None):
        """One position: x (N, 1, D), the self-attention cache per layer ((N, H, t, Dh) each; empty at the
        first position) -> hidden (N, D), cross weights (N, layers, heads, S) or None, and the cache
        with this position appended. `rows` (N,): the beam reorder search asked for since the last step
        (`reorder_state`), applied here in the same copy that appends this position, so the cache is
        copied once per step, not twice. `keys` and `src_mask` hold N / `beams` sources, each shared by
        `beams` consecutive rows (a sentence's beams).

        Attention over one query is three small batched matmuls here: `scaled_dot_product_attention`
        costs several times more for a single query on a CPU (measured), and the source mask is one
        additive bias for all layers. Cross-attention runs the `beams` queries of a sentence against its
        one copy of the keys: (A*H, beams, Dh) x (A*H, Dh, S), so the keys are read once, not `beams` times."""
        n, h, dh = x.shape[0], self.heads, self.d_head
        g = n // beams  # sources
        scale = 1.0 / math.sqrt(dh)
        s_len = src_mask.shape[1]
        bias = x.new_zeros((g, 1, s_len)).masked_fill_(~src_mask[:, None, :], float("-inf"))
        bias = bias[:, None].expand(g, h, 1, s_len).reshape(g * h, 1, s_len)
        cross, new_k, new_v = [], [], []
        for i, layer in enumerate(self.layers):
            q, k, v = self._heads(layer.qkv(_pre(x, layer, 0)), 3)
            if cached_keys:
                k, v = _append(cached_keys[i], k, rows), _append(cached_values[i], v, rows)
            else:
                k, v = k.contiguous(), v.contiguous()
            new_k.append(k)  # (N, H, t, Dh)
            new_v.append(v)
            t = k.shape[2]
            w = torch.softmax(torch.bmm(q.reshape(n * h, 1, dh), k.reshape(n * h, t, dh).transpose(1, 2)).mul_(scale),
                              dim=-1)  # every cached position is in the past: no mask
            a = torch.bmm(w, v.reshape(n * h, t, dh)).view(n, 1, h * dh)  # (N*H, 1, Dh) is (N, 1, H*Dh)
            x = _add(x, layer.self_out(a), layer, 0)
            q = layer.cross_q(_pre(x, layer, 1))  # (N, 1, H*Dh)
            if beams > 1:  # (A*K, 1, H*Dh) -> (A*H, K, Dh): a sentence's beams side by side per head
                q = q.view(g, beams, h, dh).transpose(1, 2).reshape(g * h, beams, dh)
            else:
                q = q.view(n * h, 1, dh)
            ck, cv = keys[2 * i], keys[2 * i + 1]  # (A, H, S, Dh)
            w = torch.softmax(torch.baddbmm(bias, q, ck.reshape(g * h, s_len, dh).transpose(1, 2), alpha=scale),
                              dim=-1)  # (A*H, K, S)
            if need_weights:
                cross.append(w.view(g, h, beams, s_len).transpose(1, 2).reshape(n, h, s_len))
            a = torch.bmm(w, cv.reshape(g * h, s_len, dh))  # (A*H, K, Dh)
            if beams > 1:
                a = a.view(g, h, beams, dh).transpose(1, 2).reshape(n, 1, h * dh)
            else:
                a = a.view(n, 1, h * dh)
            x = _add(x, layer.cross_out(a), layer, 1)
            x = _add(x, layer.feed_forward(_pre(x, layer, 2)), layer, 2)
        return self.norm(x).squeeze(1), (torch.stack(cross, 1) if need_weights else None), tuple(new_k), tuple(new_v)


def _append(cache: torch.Tensor, new: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    """cache (M, H, t, Dh), rows (N,) indices into M or None (N = M), new (N, H, 1, Dh) -> (N, H, t+1, Dh)
    contiguous: cache[rows] then `new` along positions, written once into a fresh buffer."""
    if rows is None:
        return torch.cat([cache, new], dim=2)
    m, h, t, dh = cache.shape
    out = cache.new_empty((rows.shape[0], h, t + 1, dh))
    torch.index_select(cache, 0, rows, out=out[:, :, :t])
    out[:, :, t:].copy_(new)
    return out
