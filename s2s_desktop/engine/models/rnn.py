"""RNN encoder and attention decoders (GRU or LSTM).

Encoder: embeddings -> bidirectional RNN over packed sequences -> memory (B, S, 2 * hidden).
Both decoders follow the decoder protocol of protocol.py (`decode`, `init_state`, `step`,
`reorder_state`); `build(cfg)` is what registry.py finds for "rnn":
- `LuongDecoder` runs its RNN over the whole target sequence in one call and scores all target
  positions against the source in one batched matmul (the fast path for training);
- `BahdanauDecoder` is step-wise with input feeding (the previous attentional vector is part of the
  next RNN input), the classic of Bahdanau et al. / Joey NMT.
Both produce, per target position, the attentional vector tanh(W [context; h]) that the output layer
turns into logits, and the attention probabilities over the source.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from s2s_desktop.engine.api import ModelConfig
from s2s_desktop.engine.models.attention import LuongAttention, build_attention, masked_softmax
from s2s_desktop.engine.models.lowp import LowPrecisionLinear
from s2s_desktop.engine.models.protocol import Encoded

RNN_CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


class RNNState(NamedTuple):
    """Decoder state. h, c: (layers, B, H) (c is empty for GRU); feed: (B, H) previous attentional vector."""

    h: torch.Tensor
    c: torch.Tensor
    feed: torch.Tensor


class RNNEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        r = cfg.rnn
        self.dropout = nn.Dropout(cfg.dropout)
        self.rnn = RNN_CELLS[r.cell](
            cfg.emb_size,
            r.encoder_hidden,
            num_layers=r.encoder_layers,
            batch_first=True,
            bidirectional=True,
            dropout=cfg.dropout if r.encoder_layers > 1 else 0.0,
        )
        self.layers = r.encoder_layers
        self.output_size = 2 * r.encoder_hidden

    def encode(self, embed: nn.Embedding, src: torch.Tensor, lengths: torch.Tensor, src_mask: torch.Tensor):
        return self(embed(src), lengths)

    def forward(self, emb: torch.Tensor, lengths: torch.Tensor):
        """emb (B, S, E), lengths (B,) -> memory (B, S, 2H) (zeros on padding), final (B, 2H) top layer."""
        emb = self.dropout(emb)
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, hidden = self.rnn(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=emb.shape[1])
        if isinstance(hidden, tuple):  # LSTM: (h, c); the bridge starts from h
            hidden = hidden[0]
        # hidden: (layers * 2, B, H) -> top layer, both directions -> (B, 2H)
        top = hidden.view(self.layers, 2, hidden.shape[1], hidden.shape[2])[-1]
        final = torch.cat([top[0], top[1]], dim=-1)
        return memory, final


class RNNDecoderBase(nn.Module):
    input_feeding = False

    def __init__(self, cfg: ModelConfig, memory_size: int):
        super().__init__()
        r = cfg.rnn
        self.hidden = r.decoder_hidden
        self.layers = r.decoder_layers
        self.is_lstm = r.cell == "lstm"
        self.dropout = nn.Dropout(cfg.dropout)
        rnn_input = cfg.emb_size + (r.decoder_hidden if self.input_feeding else 0)
        self.rnn = RNN_CELLS[r.cell](
            rnn_input,
            r.decoder_hidden,
            num_layers=r.decoder_layers,
            batch_first=True,
            dropout=cfg.dropout if r.decoder_layers > 1 else 0.0,
        )
        # Bridge: the encoder's final state initialises every decoder layer.
        self.bridge = nn.Linear(memory_size, r.decoder_layers * r.decoder_hidden)
        self.bridge_c = nn.Linear(memory_size, r.decoder_layers * r.decoder_hidden) if self.is_lstm else None
        self.attention = build_attention(r.attention, r.decoder_hidden, memory_size)
        self.combine = nn.Linear(memory_size + r.decoder_hidden, r.decoder_hidden, bias=False)
        self.output_size = r.decoder_hidden

    def precompute_keys(self, memory):
        return self.attention.precompute_keys(memory)

    # -- the decoder protocol ------------------------------------------------------------------------
    def decode(self, embed: nn.Embedding, enc: Encoded, tgt_in: torch.Tensor, *, teacher_forcing: float = 1.0,
               need_weights: bool = False, logits: Callable[[torch.Tensor], torch.Tensor] | None = None):
        """tgt_in (B, T) -> hidden (B, T, H) after dropout, attention probs (B, T, S) (always)."""
        emb = self.dropout(embed(tgt_in))
        state = self.init_state(enc)
        if teacher_forcing >= 1.0 or not self.training:
            hidden, probs = self(emb, state, enc.memory, enc.src_mask, enc.keys)
        else:
            hidden, probs = self._decode_scheduled(embed, emb, state, enc, teacher_forcing, logits)
        return self.dropout(hidden), probs

    def _decode_scheduled(self, embed, emb, state, enc: Encoded, teacher_forcing: float, logits):
        """Scheduled sampling: each position's input is the reference with probability
        `teacher_forcing`, otherwise the model's own previous prediction."""

        def choose(t, att):
            with torch.no_grad():
                predicted = logits(att).argmax(-1)
            own = self.dropout(embed(predicted))
            keep = torch.rand(att.shape[0], 1, device=att.device) < teacher_forcing
            return torch.where(keep, emb[:, t], own)

        return self.forward_stepwise(emb, state, enc.memory, enc.src_mask, enc.keys, choose)

    def init_state(self, enc: Encoded, need_weights: bool = True) -> RNNState:
        return self._initial_state(enc.final)

    def step(self, embed: nn.Embedding, prev_tokens: torch.Tensor, state: RNNState, enc: Encoded):
        """prev_tokens (B,) -> att (B, H), probs (B, 1, 1, S) (one layer, one head), new state."""
        att, probs, state = self._step(embed(prev_tokens), state, enc.memory, enc.src_mask, enc.keys)
        return att, probs[:, None, None, :], state

    def reorder_state(self, state: RNNState, idx: torch.Tensor) -> RNNState:
        c = state.c.index_select(1, idx) if state.c.numel() else state.c
        return RNNState(state.h.index_select(1, idx), c, state.feed.index_select(0, idx))

    # -- the recurrence --------------------------------------------------------------------------------
    def _initial_state(self, final: torch.Tensor) -> RNNState:
        batch = final.shape[0]

        def spread(x):  # (B, L * H) -> (L, B, H)
            return x.view(batch, self.layers, self.hidden).transpose(0, 1).contiguous()

        h = spread(torch.tanh(self.bridge(final)))
        c = spread(torch.tanh(self.bridge_c(final))) if self.bridge_c is not None else final.new_zeros(0)
        return RNNState(h, c, final.new_zeros(batch, self.hidden))

    def _rnn(self, x, state: RNNState):
        if self.is_lstm:
            out, (h, c) = self.rnn(x, (state.h, state.c))
        else:
            out, h = self.rnn(x, state.h)
            c = state.c
        return out, h, c

    def _attend(self, out, memory, src_mask, keys):
        context, probs = self.attention(out, memory, src_mask, keys)
        att = torch.tanh(self.combine(torch.cat([context, out], dim=-1)))
        return att, probs

    def _step(self, prev_emb, state: RNNState, memory, src_mask, keys):
        """One target position: prev_emb (B, E) -> att (B, H), probs (B, S), new state."""
        x = prev_emb.unsqueeze(1)
        if self.input_feeding:
            x = torch.cat([x, state.feed.unsqueeze(1)], dim=-1)
        if self._fast is not None and not self.training:
            return self._fast_step(x.squeeze(1), state, memory, src_mask, keys)
        out, h, c = self._rnn(x, state)
        att, probs = self._attend(out, memory, src_mask, keys)
        att = att.squeeze(1)
        return att, probs.squeeze(1), RNNState(h, c, att)

    # -- reduced-precision inference ---------------------------------------------------------------
    _fast: dict[str, LowPrecisionLinear] | None = None

    def set_matmul_precision(self, mode: str | None) -> None:
        """Decode with the step's weight matrices in "bf16" or "int8" (None: float32). On a CPU the
        matmuls of small decoding batches are limited by reading the weights, so fewer bytes per
        weight is nearly proportionally less time. States, gates and softmax stay float32."""
        if mode is None or mode == "fp32":
            self._fast = None
            return
        self._fast = {
            name: LowPrecisionLinear(p, None, mode) for name, p in self.named_parameters() if p.dim() == 2
        }

    def _lin(self, x: torch.Tensor, name: str, bias: torch.Tensor | None = None) -> torch.Tensor:
        out = self._fast[name](x)
        return out if bias is None else out + bias

    def _fast_step(self, x, state: RNNState, memory, src_mask, keys):
        hs, cs = [], []
        for layer in range(self.layers):
            b_ih = getattr(self.rnn, f"bias_ih_l{layer}")
            b_hh = getattr(self.rnn, f"bias_hh_l{layer}")
            gi = self._lin(x, f"rnn.weight_ih_l{layer}", b_ih)
            gh = self._lin(state.h[layer], f"rnn.weight_hh_l{layer}", b_hh)
            if self.is_lstm:
                i, f, g, o = (gi + gh).chunk(4, dim=-1)
                c = torch.sigmoid(f) * state.c[layer] + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                cs.append(c)
            else:
                i_r, i_z, i_n = gi.chunk(3, dim=-1)
                h_r, h_z, h_n = gh.chunk(3, dim=-1)
                r = torch.sigmoid(i_r + h_r)
                z = torch.sigmoid(i_z + h_z)
                n = torch.tanh(i_n + r * h_n)
                h = n + z * (state.h[layer] - n)
            hs.append(h)
            x = h
        out = x.unsqueeze(1)  # (B, 1, H)
        att_mod = self.attention
        if isinstance(att_mod, LuongAttention):
            q = self._lin(out, "attention.proj.weight") if att_mod.proj is not None else out
            probs = masked_softmax(torch.bmm(q, memory.transpose(1, 2)), src_mask)
        else:
            q = self._lin(out, "attention.query_proj.weight")
            energy = torch.tanh(keys.unsqueeze(1) + q.unsqueeze(2))
            probs = masked_softmax(self._lin(energy, "attention.energy.weight").squeeze(-1), src_mask)
        context = torch.bmm(probs, memory)
        att = torch.tanh(self._lin(torch.cat([context, out], dim=-1), "combine.weight")).squeeze(1)
        c_all = torch.stack(cs) if cs else state.c
        return att, probs.squeeze(1), RNNState(torch.stack(hs), c_all, att)

    def forward_stepwise(self, emb, state, memory, src_mask, keys, choose_input=None):
        """Teacher-forced (or, with `choose_input`, partly self-fed) decoding one position at a time."""
        atts, probs = [], []
        prev = emb[:, 0]
        for t in range(emb.shape[1]):
            att, p, state = self._step(prev, state, memory, src_mask, keys)
            atts.append(att)
            probs.append(p)
            if t + 1 < emb.shape[1]:
                prev = emb[:, t + 1] if choose_input is None else choose_input(t + 1, att)
        return torch.stack(atts, 1), torch.stack(probs, 1)


class LuongDecoder(RNNDecoderBase):
    """No input feeding, so the RNN sees the whole teacher-forced target in one call."""

    def forward(self, emb, state, memory, src_mask, keys):
        out, _, _ = self._rnn(emb, state)  # (B, T, H)
        return self._attend(out, memory, src_mask, keys)


class BahdanauDecoder(RNNDecoderBase):
    input_feeding = True

    def forward(self, emb, state, memory, src_mask, keys):
        return self.forward_stepwise(emb, state, memory, src_mask, keys)


def build(cfg: ModelConfig) -> tuple[RNNEncoder, RNNDecoderBase]:
    """The encoder, then the decoder (this order fixes the initial weights for a seed)."""
    encoder = RNNEncoder(cfg)
    decoder_cls = BahdanauDecoder if cfg.rnn.attention == "bahdanau" else LuongDecoder
    return encoder, decoder_cls(cfg, encoder.output_size)
