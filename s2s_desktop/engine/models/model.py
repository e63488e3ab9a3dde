"""The encoder-decoder model behind every architecture, and its label-smoothed loss.

`Seq2Seq` exposes what training and search need and nothing architecture-specific:
  encode(src, lengths)            -> Encoded
  decode(enc, tgt_in)             -> (hidden (B, T, H), attention (B, T, S))   teacher forcing
  logits(hidden)                  -> (..., V)
  init_state(enc), step(...)      -> one position at a time for search
  reorder_state(state, idx)       -> beam search bookkeeping
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from s2s_desktop.engine.api import PAD_ID, ModelConfig
from s2s_desktop.engine.models.lowp import LowPrecisionLinear
from s2s_desktop.engine.models.rnn import RNNEncoder, build_decoder
from s2s_desktop.engine.models.transformer import (
    TransformerDecoder,
    TransformerEncoder,
    TransformerState,
    sinusoidal_positions,
)
from s2s_desktop.errors import ConfigError


@dataclass
class Encoded:
    """Encoder output for a batch, plus what the decoder derives from it once per source."""

    memory: torch.Tensor  # (B, S, M)
    src_mask: torch.Tensor  # (B, S) bool, True at real tokens
    final: torch.Tensor  # (B, M) summary that initialises an RNN decoder ((B, 0) for a Transformer)
    keys: torch.Tensor | tuple[torch.Tensor, ...] | None  # attention keys/values computed once per source

    def index_select(self, idx: torch.Tensor) -> Encoded:
        if isinstance(self.keys, tuple):
            keys = tuple(k.index_select(0, idx) for k in self.keys)
        else:
            keys = None if self.keys is None else self.keys.index_select(0, idx)
        return Encoded(
            self.memory.index_select(0, idx),
            self.src_mask.index_select(0, idx),
            self.final.index_select(0, idx),
            keys,
        )


class Seq2Seq(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.src_embed = nn.Embedding(cfg.src_vocab_size, cfg.emb_size, padding_idx=PAD_ID)
        # A shared matrix is registered once, so the saved weights hold it once.
        self._tgt_embed = (
            None if cfg.share_embeddings else nn.Embedding(cfg.tgt_vocab_size, cfg.emb_size, padding_idx=PAD_ID)
        )
        self.is_transformer = cfg.arch == "transformer"
        if self.is_transformer:
            self.encoder = TransformerEncoder(cfg)
            self.decoder = TransformerDecoder(cfg)
            self.embed_scale = math.sqrt(cfg.emb_size)
            self.embed_dropout = nn.Dropout(cfg.dropout)
            self.register_buffer("positions", sinusoidal_positions(256, cfg.emb_size), persistent=False)
        else:
            self.encoder = RNNEncoder(cfg)
            self.decoder = build_decoder(cfg, self.encoder.output_size)
        hidden = self.decoder.output_size
        if cfg.tie_output:
            # The logits reuse the target embedding matrix; a projection bridges hidden -> emb size.
            self.pre_output = nn.Linear(hidden, cfg.emb_size, bias=False) if hidden != cfg.emb_size else None
            self.output_bias = nn.Parameter(torch.zeros(cfg.tgt_vocab_size))
            self.output = None
        else:
            self.pre_output = None
            self.output = nn.Linear(hidden, cfg.tgt_vocab_size)
        self._init_weights()

    @property
    def tgt_embed(self) -> nn.Embedding:
        return self.src_embed if self._tgt_embed is None else self._tgt_embed

    def _init_weights(self):
        for name, p in self.named_parameters():
            if p.dim() == 2 and "embed" not in name and ".rnn." not in name:
                nn.init.xavier_uniform_(p)
            elif "bias" in name and ".rnn." not in name:
                nn.init.zeros_(p)
        embeddings = [self.src_embed] + ([self._tgt_embed] if self._tgt_embed is not None else [])
        for emb in embeddings:  # a fixed order, so the same seed gives the same weights
            nn.init.normal_(emb.weight, std=emb.embedding_dim**-0.5)
            with torch.no_grad():
                emb.weight[PAD_ID].zero_()

    def _position_table(self, length: int) -> torch.Tensor:
        if length > self.positions.shape[0]:  # grow the sinusoid table for long inputs
            self.positions = sinusoidal_positions(max(length, 2 * self.positions.shape[0]), self.cfg.emb_size).to(
                self.positions.device
            )
        return self.positions

    def _embed(self, embedding: nn.Embedding, ids: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """Transformer input: scaled embeddings + sinusoidal positions (+ dropout)."""
        table = self._position_table(offset + ids.shape[1])
        x = embedding(ids) * self.embed_scale + table[offset : offset + ids.shape[1]]
        return self.embed_dropout(x)

    # -- encoder ------------------------------------------------------------------------------
    def encode(self, src: torch.Tensor, lengths: torch.Tensor) -> Encoded:
        mask = src != PAD_ID
        if self.is_transformer:
            memory, _ = self.encoder(self._embed(self.src_embed, src), mask)
            final = memory.new_zeros((memory.shape[0], 0))
        else:
            memory, final = self.encoder(self.src_embed(src), lengths)
        return Encoded(memory, mask, final, self.decoder.precompute_keys(memory))

    def encoder_attention(self, src: torch.Tensor) -> torch.Tensor:
        """Transformer encoder self-attention for inspection: (B, layers, heads, S, S)."""
        if not self.is_transformer:
            raise ValueError("only Transformers have encoder self-attention")
        _, weights = self.encoder(self._embed(self.src_embed, src), src != PAD_ID, need_weights=True)
        return torch.stack(weights, 1)

    # -- teacher-forced decoding ----------------------------------------------------------------
    def decode(self, enc: Encoded, tgt_in: torch.Tensor, teacher_forcing: float = 1.0, need_weights: bool = False):
        """tgt_in (B, T) -> (hidden (B, T, H) after dropout, attention).

        RNN: attention probs (B, T, S), always. Transformer: None during training (fused attention),
        or with `need_weights` the cross-attention (B, layers, heads, T, S) and decoder
        self-attention (B, layers, heads, T, T) as a pair."""
        if self.is_transformer:
            hidden, self_w, cross_w = self.decoder(self._embed(self.tgt_embed, tgt_in), enc.keys, enc.src_mask, need_weights)
            if not need_weights:
                return hidden, None
            return hidden, (torch.stack(cross_w, 1), torch.stack(self_w, 1))
        emb = self.decoder.dropout(self.tgt_embed(tgt_in))
        state = self.decoder.init_state(enc.final)
        if teacher_forcing >= 1.0 or not self.training:
            hidden, probs = self.decoder(emb, state, enc.memory, enc.src_mask, enc.keys)
        else:
            hidden, probs = self._decode_scheduled(emb, state, enc, teacher_forcing)
        return self.decoder.dropout(hidden), probs

    def _decode_scheduled(self, emb, state, enc, teacher_forcing):
        """Scheduled sampling: each position's input is the reference with probability
        `teacher_forcing`, otherwise the model's own previous prediction."""

        def choose(t, att):
            with torch.no_grad():
                predicted = self.logits(att).argmax(-1)
            own = self.decoder.dropout(self.tgt_embed(predicted))
            keep = torch.rand(att.shape[0], 1, device=att.device) < teacher_forcing
            return torch.where(keep, emb[:, t], own)

        return self.decoder.forward_stepwise(emb, state, enc.memory, enc.src_mask, enc.keys, choose)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.output is None and self.pre_output is not None:
            hidden = self.pre_output(hidden)
        if self._fast_output is not None and not self.training:
            return self._fast_output(hidden)
        if self.output is not None:
            return self.output(hidden)
        return nn.functional.linear(hidden, self.tgt_embed.weight, self.output_bias)

    _fast_output: LowPrecisionLinear | None = None

    def set_inference_precision(self, mode: str | None) -> None:
        """Decode with the decoder step's matmuls and the output projection (the largest matmul of
        decoding) in "bf16" or "int8"; None or "fp32" restores float32. Recurrent states, softmax
        and the saved weights stay float32 (see `lowp`)."""
        self.decoder.set_matmul_precision(mode)
        if mode is None or mode == "fp32":
            self._fast_output = None
            return
        weight = self.output.weight if self.output is not None else self.tgt_embed.weight
        bias = self.output.bias if self.output is not None else self.output_bias
        self._fast_output = LowPrecisionLinear(weight, bias, mode)

    # -- incremental decoding (search) -----------------------------------------------------------
    def init_state(self, enc: Encoded):
        if self.is_transformer:
            return TransformerState((), (), 0)
        return self.decoder.init_state(enc.final)

    def step(self, prev_tokens: torch.Tensor, state, enc: Encoded):
        """prev_tokens (B,) -> log-probs (B, V), attention (B, layers, heads, S), new state."""
        if self.is_transformer:
            x = self._embed(self.tgt_embed, prev_tokens[:, None], state.position)
            out, attn, state = self.decoder.step(x, state, enc.keys, enc.src_mask)
            return torch.log_softmax(self.logits(out).float(), dim=-1), attn, state
        att, probs, state = self.decoder.step(self.tgt_embed(prev_tokens), state, enc.memory, enc.src_mask, enc.keys)
        log_probs = torch.log_softmax(self.logits(att).float(), dim=-1)
        return log_probs, probs[:, None, None, :], state

    def reorder_state(self, state, idx: torch.Tensor):
        return self.decoder.reorder(state, idx)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


class SmoothedCrossEntropy(torch.autograd.Function):
    """Label-smoothed cross-entropy summed over rows, with a hand-written backward.

    loss_i = (1 - eps) * nll_i + eps * (logsumexp_i - mean_j logits_ij), i.e. smoothing spread uniformly
    over the vocabulary. Autograd through log_softmax makes several passes over the (N, V) logits; this
    makes two, which matters on a CPU where the output layer dominates. Returns (loss_sum, nll_sum);
    nll_sum is for reporting only (its gradient is ignored).
    """

    @staticmethod
    def forward(ctx, logits, target, eps):
        logits = logits.float()
        lse = torch.logsumexp(logits, dim=-1)
        nll = lse - logits.gather(1, target[:, None]).squeeze(1)
        loss = (1.0 - eps) * nll + eps * (lse - logits.mean(dim=-1))
        ctx.save_for_backward(logits, target, lse)
        ctx.eps = eps
        return loss.sum(), nll.sum()

    @staticmethod
    def backward(ctx, grad_loss, _grad_nll):
        logits, target, lse = ctx.saved_tensors
        eps = ctx.eps
        grad = torch.exp(logits - lse[:, None])
        grad.sub_(eps / logits.shape[1])
        grad.scatter_add_(1, target[:, None], grad.new_full((target.shape[0], 1), -(1.0 - eps)))
        grad.mul_(grad_loss)
        return grad, None, None


def sequence_loss(model: Seq2Seq, batch, label_smoothing: float, teacher_forcing: float = 1.0):
    """Summed smoothed loss and NLL over the real target tokens of a batch.

    Only non-pad positions go through the output layer: padding costs no output-layer work at all.
    """
    enc = model.encode(batch.src, batch.src_lengths)
    hidden, _ = model.decode(enc, batch.tgt_in, teacher_forcing)
    mask = batch.tgt_out != PAD_ID
    logits = model.logits(hidden[mask])
    return SmoothedCrossEntropy.apply(logits, batch.tgt_out[mask], label_smoothing)


def build_model(cfg: ModelConfig) -> Seq2Seq:
    if cfg.arch not in ("rnn", "transformer"):
        raise ConfigError(f"unknown architecture {cfg.arch!r} (use rnn or transformer)")
    if cfg.share_embeddings and cfg.src_vocab_size != cfg.tgt_vocab_size:
        raise ConfigError("share_embeddings needs a joint vocabulary (same source and target vocabulary)")
    try:
        return Seq2Seq(cfg)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
