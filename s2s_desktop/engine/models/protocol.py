"""What an architecture provides: an encoder and a decoder that `Seq2Seq` drives without knowing which.

An architecture module (rnn.py, transformer.py, named in registry.py) has `build(cfg) -> (encoder,
decoder)`: two nn.Modules, built in that order (the same seed gives the same weights), that `Seq2Seq`
keeps as `encoder` and `decoder` (so the weights are saved as "encoder.*" and "decoder.*"). The
embeddings and the output layer belong to `Seq2Seq` and are shared by every architecture: the encoder
and decoder receive the embedding module to use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn


@dataclass
class Encoded:
    """Encoder output for a batch, plus what the decoder derives from it once per source."""

    memory: torch.Tensor  # (B, S, M)
    src_mask: torch.Tensor  # (B, S) bool, True at real tokens
    final: torch.Tensor  # (B, M) summary that initialises an RNN decoder ((B, 0) for a Transformer)
    keys: torch.Tensor | tuple[torch.Tensor, ...] | None  # attention keys/values computed once per source
    # Decoder rows per row here: beam search's K beams of a sentence share its one copy of the source
    # (a decoder that says it can, `Decoder.shares_source`); 1: one decoder row per row.
    beams: int = 1

    def index_select(self, idx: torch.Tensor) -> Encoded:
        """The rows of decoder rows `idx`; with `beams` > 1, `idx` holds whole groups of `beams`
        consecutive rows (beam search keeps or drops a sentence's beams together)."""
        if self.beams > 1:
            return self._select(idx.view(-1, self.beams)[:, 0] // self.beams)
        return self._select(idx)

    def expand(self, beams: int, share: bool) -> Encoded:
        """Each source row for `beams` decoder rows: shared when the decoder can, else repeated."""
        if share:
            return Encoded(self.memory, self.src_mask, self.final, self.keys, self.beams * beams)
        rows = torch.arange(self.memory.shape[0], device=self.memory.device).repeat_interleave(beams)
        return self._select(rows)

    def _select(self, idx: torch.Tensor) -> Encoded:
        if isinstance(self.keys, tuple):
            keys = tuple(k.index_select(0, idx) for k in self.keys)
        else:
            keys = None if self.keys is None else self.keys.index_select(0, idx)
        return Encoded(
            self.memory.index_select(0, idx),
            self.src_mask.index_select(0, idx),
            self.final.index_select(0, idx),
            keys,
            self.beams,
        )


@runtime_checkable
class Encoder(Protocol):
    output_size: int  # M of the memory

    def encode(self, embed: nn.Embedding, src: torch.Tensor, lengths: torch.Tensor,
               src_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """src (B, S) ids, lengths (B,), src_mask (B, S) -> memory (B, S, M), final (B, M) or (B, 0)."""
        ...

    # Optional, for inspection: self_attention(embed, src) -> (B, layers, heads, S, S).


@runtime_checkable
class Decoder(Protocol):
    output_size: int  # H of the hidden states the output layer turns into logits

    def precompute_keys(self, memory: torch.Tensor) -> Any:
        """What attention needs of the source, computed once per sentence (Encoded.keys)."""
        ...

    def decode(self, embed: nn.Embedding, enc: Encoded, tgt_in: torch.Tensor, *, teacher_forcing: float = 1.0,
               need_weights: bool = False, logits: Callable[[torch.Tensor], torch.Tensor] | None = None):
        """Teacher forcing: tgt_in (B, T) -> (hidden (B, T, H) after dropout, attention or None).
        `logits` (hidden -> logits) is for decoders that feed back their own predictions."""
        ...

    def init_state(self, enc: Encoded, need_weights: bool = True) -> Any:
        """Search's state. `need_weights` False: `step` may return None for the attention (the caller
        does not record it)."""
        ...

    def step(self, embed: nn.Embedding, prev_tokens: torch.Tensor, state: Any,
             enc: Encoded) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """One position for search: prev_tokens (B,) -> hidden (B, H), attention (B, layers, heads, S) or
        None (see init_state), state."""
        ...

    # Optional: shares_source() -> bool, True when `step` reads an `Encoded` with `beams` > 1 (each
    # source row shared by that many consecutive decoder rows) and gives what the repeated rows give.

    def reorder_state(self, state: Any, idx: torch.Tensor) -> Any:
        """Beam bookkeeping: the state of rows `idx` (B',)."""
        ...

    def set_matmul_precision(self, mode: str | None) -> None:
        """Reduced-precision decoding of the step's matmuls ("bf16", "int8"; None: float32)."""
        ...
