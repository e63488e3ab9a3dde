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
def _float32(translator):
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


def _log_probs(model, batch) -> torch.Tensor:
    """(B, T + 1) log-probability of each target piece (then "</s>") under teacher forcing."""
    enc = model.encode(batch.src, batch.src_lengths)
    hidden, _ = model.decode(enc, batch.tgt_in)
    logp = torch.log_softmax(model.logits(hidden).float(), dim=-1)
    return logp.gather(-1, batch.tgt_out.unsqueeze(-1)).squeeze(-1)


CHUNK = 8  # output positions per batched backward pass: bounds the memory (each holds a copy of the graph's grads)


def _per_position_scores(outputs: torch.Tensor, leaf: torch.Tensor,
                         reduce: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """For every position t: reduce(d outputs[..., t].sum() / d leaf) -> (T, ...). The gradients of
    `CHUNK` positions at a time, in one vectorised backward when torch can (else one per position),
    reduced before the next chunk: the full (T, *leaf.shape) tensor of an integrated-gradients batch
    held hundreds of MB, which the process kept."""
    n = outputs.shape[-1]
    total = outputs.reshape(-1, n).sum(0)  # (T,)
    eye = torch.eye(n, device=total.device)
    out = []
    for start in range(0, n, CHUNK):
        rows = eye[start:start + CHUNK]
        try:
            (grads,) = torch.autograd.grad(total, leaf, grad_outputs=rows, is_grads_batched=True, retain_graph=True)
        except RuntimeError:
            grads = torch.stack([torch.autograd.grad(total[t], leaf, retain_graph=True)[0]
                                 for t in range(start, min(start + CHUNK, n))])
        out.append(reduce(grads))
        del grads
    return torch.cat(out)


def _batch(translator, source_ids: Sequence[int], target_ids: Sequence[int], copies: int = 1):
    """`copies` of the pair; source and target ids without "</s>" (the batch adds it)."""
    return make_batch([list(source_ids)] * copies, [list(target_ids)] * copies, np.arange(copies), translator.device)


def input_x_gradient(translator, source_ids: Sequence[int], target_ids: Sequence[int]) -> Scores:
    with _float32(translator) as model:
        model.eval()
        with torch.enable_grad(), _source_embedding(model, lambda e: e) as held:
            logp = _log_probs(model, _batch(translator, source_ids, target_ids))  # (1, T + 1)
            embedding = held["leaf"].detach()  # (1, S + 1, E)
            # each chunk's grads: (chunk, 1, S + 1, E) -> (chunk, S + 1)
            scores = _per_position_scores(logp, held["leaf"], lambda g: (g * embedding).norm(dim=-1)[:, 0])
    return scores.cpu().numpy()


def integrated_gradients(translator, source_ids: Sequence[int], target_ids: Sequence[int], steps: int = 32,
                         cancelled: Callable[[], bool] | None = None) -> Scores | None:
    """Riemann midpoints along 0 -> e, all `steps` in one batch; None when `cancelled()` says so
    before the backward passes."""
    alphas = (torch.arange(steps, dtype=torch.float32) + 0.5) / steps
    with _float32(translator) as model:
        model.eval()
        scale = alphas.to(translator.device)[:, None, None]
        with torch.enable_grad(), _source_embedding(model, lambda e: e * scale) as held:
            logp = _log_probs(model, _batch(translator, source_ids, target_ids, steps))  # (steps, T + 1)
            if cancelled is not None and cancelled():
                return None
            embedding = held["leaf"].detach()[0]  # (S + 1, E)
            # Each chunk's grads (chunk, steps, S + 1, E) are d/d(leaf); the path point is alpha * e, so
            # d f / d(alpha e) = (d f / d leaf) / alpha, and IG = e * the mean over the steps of that.
            scores = _per_position_scores(logp, held["leaf"],
                                          lambda g: ((g / scale).mean(1) * embedding).norm(dim=-1))
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
