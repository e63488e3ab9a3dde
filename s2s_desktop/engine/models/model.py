"""The encoder-decoder model behind every architecture, and its label-smoothed loss.

`Seq2Seq` owns the embeddings and the output layer; the encoder and decoder come from the
architecture's module (found through registry.py) and follow the protocol of protocol.py, so nothing
here depends on the architecture. It exposes what training and search need:
  encode(src, lengths)            -> Encoded
  decode(enc, tgt_in)             -> (hidden (B, T, H), attention)   teacher forcing
  logits(hidden)                  -> (..., V)
  init_state(enc), step(...)      -> one position at a time for search
  reorder_state(state, idx)       -> beam search bookkeeping
"""

from __future__ import annotations

import torch
from torch import nn

from s2s_desktop.engine.api import PAD_ID, ModelConfig
from s2s_desktop.engine.models import registry
from s2s_desktop.engine.models.lowp import LowPrecisionLinear
from s2s_desktop.engine.models.protocol import Decoder, Encoded, Encoder
from s2s_desktop.errors import ConfigError

__all__ = ["Encoded", "Seq2Seq", "SmoothedCrossEntropy", "build_model", "sequence_loss"]


class Seq2Seq(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.src_embed = nn.Embedding(cfg.src_vocab_size, cfg.emb_size, padding_idx=PAD_ID)
        # A shared matrix is registered once, so the saved weights hold it once.
        self._tgt_embed = (
            None if cfg.share_embeddings else nn.Embedding(cfg.tgt_vocab_size, cfg.emb_size, padding_idx=PAD_ID)
        )
        encoder, decoder = registry.implementation(cfg.arch).build(cfg)
        self.encoder: Encoder = encoder
        self.decoder: Decoder = decoder
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
        # Xavier for matrices, zero biases; modules named "rnn" keep PyTorch's own RNN initialisation.
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

    # -- encoder ------------------------------------------------------------------------------
    def encode(self, src: torch.Tensor, lengths: torch.Tensor) -> Encoded:
        mask = src != PAD_ID
        memory, final = self.encoder.encode(self.src_embed, src, lengths, mask)
        return Encoded(memory, mask, final, self.decoder.precompute_keys(memory))

    def encoder_attention(self, src: torch.Tensor) -> torch.Tensor:
        """Encoder self-attention for inspection: (B, layers, heads, S, S)."""
        attend = getattr(self.encoder, "self_attention", None)
        if attend is None:
            raise ValueError(f"a {self.cfg.arch} encoder has no self-attention")
        return attend(self.src_embed, src)

    # -- teacher-forced decoding ----------------------------------------------------------------
    def decode(self, enc: Encoded, tgt_in: torch.Tensor, teacher_forcing: float = 1.0, need_weights: bool = False):
        """tgt_in (B, T) -> (hidden (B, T, H) after dropout, attention).

        RNN: attention probs (B, T, S), always. Transformer: None during training (fused attention),
        or with `need_weights` the cross-attention (B, layers, heads, T, S) and decoder
        self-attention (B, layers, heads, T, T) as a pair."""
        return self.decoder.decode(self.tgt_embed, enc, tgt_in, teacher_forcing=teacher_forcing,
                                   need_weights=need_weights, logits=self.logits)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.output is None and self.pre_output is not None:
            hidden = self.pre_output(hidden)
        if self._fast_output is not None and not self.training:
            return self._fast_output(hidden)
        if self.output is not None:
            return self.output(hidden)
        return nn.functional.linear(hidden, self.tgt_embed.weight, self.output_bias)

    _fast_output: LowPrecisionLinear | None = None

    def output_rows(self, ids: torch.Tensor):
        """The output layer for the target ids `ids` (W,) only, in the precision search decodes with:
        a callable (hidden (N, D), bias (N, W) or None) -> logits (N, W) (a shortlist, decoding/shortlist.py).
        Its `bias` attribute is the layer's own bias of those ids ((W,) or None); a `bias` passed in replaces
        it, so beam search folds each sentence's excluded columns (-inf) into the one epilogue pass."""
        layer = self._fast_output
        if layer is None:
            weight = self.output.weight if self.output is not None else self.tgt_embed.weight
            bias = self.output.bias if self.output is not None else self.output_bias
            layer = LowPrecisionLinear(weight, bias, "fp32")  # (float32: no copy until `rows`)
        layer = layer.rows(ids)
        pre = self.pre_output if self.output is None else None

        def logits(hidden: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
            return layer(hidden if pre is None else pre(hidden), bias)

        logits.bias = layer.bias
        return logits

    def set_inference_precision(self, mode: str | None) -> None:
        """Decode with the decoder step's matmuls and the output projection (the largest matmul of
        decoding) in "bf16" or "int8"; None or "fp32" restores float32. Recurrent states, softmax
        and the saved weights stay float32 (see `lowp`)."""
        self.decoder.set_matmul_precision(mode)
        encoder_precision = getattr(self.encoder, "set_matmul_precision", None)
        if encoder_precision is not None:  # a Transformer encoder (an RNN encoder runs once, in float32)
            encoder_precision(mode)
        if mode is None or mode == "fp32":
            self._fast_output = None
            return
        weight = self.output.weight if self.output is not None else self.tgt_embed.weight
        bias = self.output.bias if self.output is not None else self.output_bias
        self._fast_output = LowPrecisionLinear(weight, bias, mode)

    # -- incremental decoding (search) -----------------------------------------------------------
    def init_state(self, enc: Encoded, need_weights: bool = True):
        """`need_weights` False lets `step` skip the attention (a decoder may return None for it then)."""
        return self.decoder.init_state(enc, need_weights=need_weights)

    def step(self, prev_tokens: torch.Tensor, state, enc: Encoded, output=None):
        """prev_tokens (B,) -> log-probs (B, V), attention (B, layers, heads, S) or None, new state.
        `output` (from `output_rows`): log-probs over those W target ids only, (B, W)."""
        hidden, attn, state = self.decoder.step(self.tgt_embed, prev_tokens, state, enc)
        logits = (self.logits(hidden) if output is None else output(hidden)).float()  # (B, V), a fresh tensor
        if torch.is_grad_enabled():
            return torch.log_softmax(logits, dim=-1), attn, state
        # In place: search's largest temporary is (beams x sentences, V); the same values bit for bit.
        return torch.log_softmax(logits, dim=-1, out=logits), attn, state

    def reorder_state(self, state, idx: torch.Tensor):
        return self.decoder.reorder_state(state, idx)

    def for_beams(self, enc: Encoded, beams: int) -> Encoded:
        """`enc` for `beams` consecutive decoder rows per sentence: shared, not copied, when the decoder
        reads it so (the Transformer's search path: cross-attention over one copy of each source)."""
        share = getattr(self.decoder, "shares_source", None)
        return enc.expand(beams, bool(share and share()))

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
    if cfg.share_embeddings and cfg.src_vocab_size != cfg.tgt_vocab_size:
        raise ConfigError("share_embeddings needs a joint vocabulary (same source and target vocabulary)")
    try:
        return Seq2Seq(cfg)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
