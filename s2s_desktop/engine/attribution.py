"""Gradient attributions of each target piece to the source pieces: input x gradient and integrated
gradients (Sundararajan et al. 2017), over the source embeddings, teacher-forced.

The score of source piece s for output position t is the L2 norm over the embedding dimensions of
e_s * d log p(y_t) / d e_s (integrated gradients: of (e_s - 0) times the mean gradient along the
straight path from a zero embedding). The gradients flow in float32: an int8 or bf16 decoding model
is switched back for the pass and restored after it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from s2s_desktop.engine.data.batching import make_batch

# (T + 1, S + 1) scores: rows the output positions (target pieces, then "</s>"), columns source pieces + "</s>"
Scores = np.ndarray


@contextmanager
def float32_model(translator):
    """The translator's model in float32 for the block (an int8 or bf16 one switched back, then restored)."""
    model = translator.model
    precision = getattr(translator, "precision", "fp32")
    if precision not in (None, "fp32"):
        model.set_inference_precision(None)
    try:
        yield model
    finally:
        if precision not in (None, "fp32"):
            model.set_inference_precision(precision)


@contextmanager
def _source_embedding(model, transform: Callable[[torch.Tensor], torch.Tensor]):
    """Replace the encoder's embedding output by `transform(output)` (a leaf that needs a gradient);
    the captured leaf is in the yielded dict under "leaf". Only the first call (the encoder's) is
    touched: with shared embeddings the decoder reads the same module."""
    held: dict = {}

    def hook(_module, _inputs, output):
        if "leaf" in held:
            return None
        leaf = output.detach().requires_grad_(True)
        held["leaf"] = leaf
        return transform(leaf)

    handle = model.src_embed.register_forward_hook(hook)
    try:
        yield held
    finally:
        handle.remove()


def _decoded(model, batch):
    """(the encoder's output, (B, T + 1, D) decoder output, (B, T + 1, V) float32 log-probabilities),
    teacher-forced."""
    enc = model.encode(batch.src, batch.src_lengths)
    hidden, _ = model.decode(enc, batch.tgt_in)
    return enc, hidden, torch.log_softmax(model.logits(hidden).float(), dim=-1)


CHUNK = 8  # output positions per batched backward pass: bounds the memory (each holds a copy of the graph's grads)
IXG_CHUNK = 32  # the same for input x gradient, whose batch is one copy, not one per step


class Cancelled(Exception):
    """`cancelled()` said so between two backward passes."""


def _position_gradients(hidden: torch.Tensor, objective: torch.Tensor, leaf: torch.Tensor,
                        positions: Sequence[int], reduce: Callable[[torch.Tensor], torch.Tensor],
                        cancelled: Callable[[], bool] | None = None,
                        progress: Callable[[np.ndarray], None] | None = None,
                        prefix: Callable[[int], torch.Tensor] | None = None, first_alone: bool = False,
                        chunk: int | None = None) -> torch.Tensor:
    """reduce(d objective[:, t].sum() / d leaf) for each t of `positions` -> (len(positions), ...).

    objective (B, T + 1) must depend on hidden (B, T + 1, D) position by position (a log-probability
    read from that position's logits), so one backward through the output layer gives every
    d objective_t / d hidden_t at once; then `chunk` (CHUNK) positions at a time (the first alone with
    `first_alone`: the row the user waits for) go back from `hidden` to the
    leaf in one vectorised backward (one per position where torch cannot vectorise), each seeded with
    its own position's row only. Reduced chunk by chunk: the full (T, *leaf.shape) gradients of an
    integrated-gradients batch held hundreds of MB. Raises Cancelled."""
    (seed,) = torch.autograd.grad(objective.sum(), hidden, retain_graph=True)  # (B, T + 1, D)
    positions = list(positions)
    # the first position alone first (the row the user is looking at), then `chunk` at a time
    chunk = chunk or CHUNK
    lead = 1 if first_alone else 0
    bounds = sorted({0, *range(lead, len(positions), chunk), len(positions)})
    out = []
    for start, stop in zip(bounds, bounds[1:]):
        if cancelled is not None and cancelled():
            raise Cancelled
        chunk_positions = positions[start:stop]
        top = hidden if prefix is None else prefix(max(chunk_positions) + 1)
        rows = torch.zeros((len(chunk_positions), *top.shape), dtype=seed.dtype, device=seed.device)
        for i, t in enumerate(chunk_positions):
            rows[i, :, t] = seed[:, t]
        try:
            (grads,) = torch.autograd.grad(top, leaf, grad_outputs=rows, is_grads_batched=True,
                                           retain_graph=True)
        except RuntimeError:
            grads = torch.stack([torch.autograd.grad(top, leaf, grad_outputs=r, retain_graph=True)[0]
                                 for r in rows])
        del top
        out.append(reduce(grads))
        del grads, rows
        if progress is not None:
            progress(torch.cat(out).cpu().numpy())
    return torch.cat(out)


def _batch(translator, source_ids: Sequence[int], target_ids: Sequence[int], copies: int = 1):
    """`copies` of the pair; source and target ids without "</s>" (the batch adds it)."""
    return make_batch([list(source_ids)] * copies, [list(target_ids)] * copies, np.arange(copies), translator.device)


def _objective(logp: torch.Tensor, batch, contrast: tuple[int, int] | None) -> torch.Tensor:
    """(B, T + 1): log p of each target piece; with contrast (position, alternative id) the row of that
    position is log p(chosen) - log p(alternative) there."""
    chosen = logp.gather(-1, batch.tgt_out.unsqueeze(-1)).squeeze(-1)
    if contrast is None:
        return chosen
    position, alternative = contrast
    return torch.where(torch.arange(chosen.shape[1], device=chosen.device) == position,
                       chosen - logp[:, :, alternative], chosen)


def _norm(signed: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """How the embedding dimensions E of an attribution (..., S + 1, E) become one score per piece:
    the L2 norm (a map: how much), or the sum (a contrast: which way; the sum keeps completeness)."""
    return (lambda a: a.sum(dim=-1)) if signed else (lambda a: a.norm(dim=-1))


def input_x_gradient(translator, source_ids: Sequence[int], target_ids: Sequence[int],
                     positions: Sequence[int] | None = None, contrast: tuple[int, int] | None = None,
                     signed: bool = False) -> Scores:
    """(len(positions), S + 1): e * d objective_t / d e per source piece (all positions by default)."""
    with float32_model(translator) as model:
        model.eval()
        with torch.enable_grad(), _source_embedding(model, lambda e: e) as held:
            batch = _batch(translator, source_ids, target_ids)
            _, hidden, logp = _decoded(model, batch)  # (1, T + 1, D), (1, T + 1, V)
            embedding = held["leaf"].detach()  # (1, S + 1, E)
            every = range(logp.shape[1]) if positions is None else positions
            norm = _norm(signed)
            # each chunk's grads: (chunk, 1, S + 1, E) -> (chunk, S + 1)
            scores = _position_gradients(hidden, _objective(logp, batch, contrast), held["leaf"], every,
                                         lambda g: norm(g * embedding)[:, 0], chunk=IXG_CHUNK)
    return scores.cpu().numpy()


def integrated_gradients(translator, source_ids: Sequence[int], target_ids: Sequence[int], steps: int = 32,
                         cancelled: Callable[[], bool] | None = None, positions: Sequence[int] | None = None,
                         progress: Callable[[np.ndarray], None] | None = None,
                         contrast: tuple[int, int] | None = None, signed: bool = False,
                         first_alone: bool = False) -> Scores | None:
    """Riemann midpoints along 0 -> e, all `steps` in one batch: (len(positions), S + 1), or None when
    `cancelled()` says so (it is asked between the backward passes; `progress(rows so far)` after each;
    with `first_alone` the first position is a pass of its own, so its row comes in a fraction)."""
    alphas = (torch.arange(steps, dtype=torch.float32) + 0.5) / steps
    with float32_model(translator) as model:
        model.eval()
        scale = alphas.to(translator.device)[:, None, None]
        with torch.enable_grad(), _source_embedding(model, lambda e: e * scale) as held:
            batch = _batch(translator, source_ids, target_ids, steps)
            enc, hidden, logp = _decoded(model, batch)  # (steps, T + 1, D), (steps, T + 1, V)
            embedding = held["leaf"].detach()[0]  # (S + 1, E)
            every = range(logp.shape[1]) if positions is None else positions
            norm = _norm(signed)
            # Each chunk's grads (chunk, steps, S + 1, E) are d/d(leaf); the path point is alpha * e, so
            # d f / d(alpha e) = (d f / d leaf) / alpha, and IG = e * the mean over the steps of that.
            try:
                scores = _position_gradients(hidden, _objective(logp, batch, contrast), held["leaf"], every,
                                             lambda g: norm((g / scale).mean(1) * embedding), cancelled, progress,
                                             lambda n: model.decode(enc, batch.tgt_in[:, :n])[0], first_alone)
            except Cancelled:
                return None
    return scores.cpu().numpy()


def attention_rollout(encoder: np.ndarray, cross: np.ndarray) -> Scores:
    """Attention rollout (Abnar & Zuidema 2020) through the encoder, read by the decoder's cross-attention.

    encoder (Le, H, S, S) self-attention, cross (Ld, H, T, S). Each encoder layer's mean over heads
    plus the residual (0.5 A + 0.5 I, rows renormalised) is multiplied through the layers, so a
    column is an input piece rather than a layer-Le mixture of them; the decoder's cross-attention,
    averaged over its layers and heads, reads that: (T, S), rows summing to 1."""
    s = encoder.shape[-1]
    rolled = np.eye(s, dtype=np.float64)
    for layer in encoder.astype(np.float64):
        mixed = 0.5 * layer.mean(axis=0) + 0.5 * np.eye(s)
        mixed /= mixed.sum(axis=-1, keepdims=True)
        rolled = mixed @ rolled
    out = cross.astype(np.float64).mean(axis=(0, 1)) @ rolled
    return (out / np.maximum(out.sum(axis=-1, keepdims=True), 1e-12)).astype(np.float32)
