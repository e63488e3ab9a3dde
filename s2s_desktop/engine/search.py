"""Greedy and beam search over any `Seq2Seq`, batched, returning what inspection needs.

Every hypothesis comes back with its target ids, per-token probabilities, summed log-probability,
length-normalised score and the attention of every target position over the source
(`[layers, heads, target, source]`). Beam search runs over a (batch x beam) block: candidate
selection, finishing and the n-best pool are tensor operations, so there is no Python loop over
hypotheses, only over time steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from s2s_desktop.engine.api import BOS_ID, EOS_ID, PAD_ID
from s2s_desktop.engine.model import Encoded, Seq2Seq

NEG_INF = float("-inf")


@dataclass
class Hypothesis:
    ids: np.ndarray  # (T,) target ids without BOS, EOS included when the sentence ended
    token_probs: np.ndarray  # (T,) probability of each chosen token
    attention: np.ndarray  # (layers, heads, T, S) over the source positions (EOS included)
    log_prob: float  # sum of token log-probabilities
    score: float  # log_prob / length penalty (what hypotheses are ranked by)


def length_penalty(length: torch.Tensor | float, alpha: float):
    """GNMT length penalty ((5 + len) / 6) ** alpha; alpha 0 ranks by raw log-probability."""
    return ((5.0 + length) / 6.0) ** alpha


def max_lengths(src_lengths: torch.Tensor, a: float, b: int, cap: int) -> torch.Tensor:
    """Per-sentence output limit a * source length + b (source length without EOS), at most `cap`."""
    n = (src_lengths - 1).float() * a + b
    return n.clamp(min=1, max=cap).long()


def _ban_eos_before(log_probs: torch.Tensor, t: int, min_len: int) -> None:
    if t < min_len:
        log_probs[:, EOS_ID] = NEG_INF


@torch.inference_mode()
def greedy_search(
    model: Seq2Seq,
    enc: Encoded,
    max_len: torch.Tensor,
    min_len: int = 0,
    prefixes: Sequence[Sequence[int]] | None = None,
) -> list[Hypothesis]:
    """Pick the most probable token at each step; `prefixes` force the first tokens of each output."""
    batch = enc.memory.shape[0]
    device = enc.memory.device
    state = model.init_state(enc)
    prev = torch.full((batch,), BOS_ID, dtype=torch.long, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    forced = _prefix_tensor(prefixes, batch, device)
    limit = max_len.to(device) + (forced != PAD_ID).sum(1)
    tokens, probs, attns = [], [], []
    for t in range(int(limit.max())):
        log_probs, attn, state = model.step(prev, state, enc)
        _ban_eos_before(log_probs, t, min_len)
        tok = log_probs.argmax(-1)
        if t < forced.shape[1]:
            tok = torch.where(forced[:, t] != PAD_ID, forced[:, t], tok)
        tok = torch.where(t >= limit - 1, torch.full_like(tok, EOS_ID), tok)
        tok = tok.masked_fill(finished, PAD_ID)
        tokens.append(tok)
        probs.append(log_probs.gather(1, tok[:, None]).squeeze(1))
        attns.append(attn)
        finished |= tok == EOS_ID
        if bool(finished.all()):
            break
        prev = tok
    ids = torch.stack(tokens, 1).cpu().numpy()
    logp = torch.stack(probs, 1).cpu().numpy()
    att = torch.stack(attns, 3).float().cpu().numpy()  # (B, layers, heads, T, S)
    src_lens = enc.src_mask.sum(1).cpu().numpy()
    out = []
    for i in range(batch):
        n = _length(ids[i])
        lp = float(logp[i, :n].sum())
        out.append(Hypothesis(ids[i, :n], np.exp(logp[i, :n]), att[i, :, :, :n, : src_lens[i]], lp, lp))
    return out


def _length(ids: np.ndarray) -> int:
    """Length up to and including the first EOS (or up to the first PAD)."""
    stops = np.nonzero((ids == EOS_ID) | (ids == PAD_ID))[0]
    if len(stops) == 0:
        return len(ids)
    return int(stops[0]) + (1 if ids[stops[0]] == EOS_ID else 0)


def _prefix_tensor(prefixes, batch, device) -> torch.Tensor:
    if not prefixes:
        return torch.zeros((batch, 0), dtype=torch.long, device=device)
    width = max(len(p) for p in prefixes)
    out = torch.full((batch, width), PAD_ID, dtype=torch.long)
    for i, p in enumerate(prefixes):
        if len(p):
            out[i, : len(p)] = torch.as_tensor(list(p), dtype=torch.long)
    return out.to(device)


@torch.inference_mode()
def beam_search(
    model: Seq2Seq,
    enc: Encoded,
    beam: int,
    max_len: torch.Tensor,
    nbest: int = 1,
    alpha: float = 1.0,
    min_len: int = 0,
    prefixes: Sequence[Sequence[int]] | None = None,
) -> list[list[Hypothesis]]:
    """Batched beam search. Returns, per sentence, up to `nbest` hypotheses sorted by score.

    Each step scores (batch, beam, vocab) candidates, keeps the 2 * beam best, moves those ending in
    EOS into a per-sentence pool of finished hypotheses (ranked by length-normalised score) and
    continues with the best `beam` others. A sentence is done when its pool holds `beam` hypotheses
    or it reached its length limit.
    """
    if beam <= 1 and nbest <= 1:
        return [[h] for h in greedy_search(model, enc, max_len, min_len, prefixes)]
    nbest = min(nbest, beam)
    batch = enc.memory.shape[0]
    device = enc.memory.device
    k = beam
    expand = torch.arange(batch, device=device).repeat_interleave(k)
    enc_k = enc.index_select(expand)
    state = model.init_state(enc_k)
    forced = _prefix_tensor(prefixes, batch, device).repeat_interleave(k, 0)  # (B*K, P)
    limit = (max_len.to(device) + (forced[::k] != PAD_ID).sum(1)).clamp(min=1)  # (B,)
    steps = int(limit.max())

    scores = torch.full((batch, k), NEG_INF, device=device)
    scores[:, 0] = 0.0  # only one live hypothesis at the start
    prev = torch.full((batch * k,), BOS_ID, dtype=torch.long, device=device)
    # History, indexed [step] -> (B, K): token, back-pointer, token log-prob; attention (B, K, L, H, S)
    hist_tok, hist_back, hist_logp, hist_attn, hist_eos = [], [], [], [], []
    # Pool of finished hypotheses: score, raw log-prob, end step, beam slot at that step
    pool_score = torch.full((batch, k), NEG_INF, device=device)
    pool_logp = torch.zeros((batch, k), device=device)
    pool_step = torch.zeros((batch, k), dtype=torch.long, device=device)
    pool_slot = torch.zeros((batch, k), dtype=torch.long, device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    offsets = (torch.arange(batch, device=device) * k)[:, None]

    for t in range(steps):
        log_probs, attn, state = model.step(prev, state, enc_k)
        vocab = log_probs.shape[1]
        _ban_eos_before(log_probs, t, min_len)
        if t < forced.shape[1]:
            f = forced[:, t]
            has = f != PAD_ID
            if bool(has.any()):
                keep = log_probs.gather(1, f.clamp(min=0)[:, None])
                masked = torch.full_like(log_probs, NEG_INF).scatter(1, f[:, None], keep)
                log_probs = torch.where(has[:, None], masked, log_probs)
        at_limit = (t >= limit - 1)[:, None]  # (B, 1): only EOS may follow
        cand = scores[:, :, None] + log_probs.view(batch, k, vocab)  # (B, K, V)
        eos_col = cand[:, :, EOS_ID].clone()
        cand = cand.masked_fill(at_limit[:, :, None], NEG_INF)
        cand[:, :, EOS_ID] = eos_col
        # The 2K best candidates: those ending in EOS are finished (if competitive at all), the best K
        # others live on. At most K of the 2K end in EOS (one per beam), so K live ones always remain.
        top2_scores, top2_idx = cand.view(batch, -1).topk(2 * k, dim=1)
        is_eos = (top2_idx % vocab) == EOS_ID
        live_scores = top2_scores.masked_fill(is_eos, NEG_INF)
        top_scores, pick_live = live_scores.topk(k, dim=1)
        top_idx = top2_idx.gather(1, pick_live)
        back = top_idx // vocab
        tok = top_idx % vocab
        # Finished candidates, ranked by length-normalised score, merged into the pool
        # (like fairseq, only EOS candidates ranked within the top K are finished)
        competitive = is_eos.clone()
        competitive[:, k:] = False
        fin_raw = top2_scores.masked_fill(~competitive, NEG_INF)
        fin_norm = (fin_raw / length_penalty(float(t + 1), alpha)).masked_fill(done[:, None], NEG_INF)
        fin_slot = top2_idx // vocab
        merged = torch.cat([pool_score, fin_norm], 1)  # (B, K + 2K)
        pool_score, pick = merged.topk(k, dim=1)
        from_new = pick >= k
        new_j = (pick - k).clamp(min=0)
        old_j = pick.clamp(max=k - 1)
        pool_logp = torch.where(from_new, fin_raw.gather(1, new_j), pool_logp.gather(1, old_j))
        pool_step = torch.where(from_new, torch.full_like(pool_step, t), pool_step.gather(1, old_j))
        pool_slot = torch.where(from_new, fin_slot.gather(1, new_j), pool_slot.gather(1, old_j))

        hist_tok.append(tok)
        hist_back.append(back)
        flat_back = (back + offsets).view(-1)
        hist_logp.append(log_probs.view(batch, k * vocab).gather(1, top_idx))
        hist_attn.append(attn.view(batch, k, *attn.shape[1:]))
        hist_eos.append(log_probs.view(batch, k, vocab)[:, :, EOS_ID])  # EOS log-prob of each slot before reorder

        scores = top_scores
        full = torch.isfinite(pool_score).all(1)
        done = done | full | (t >= limit - 1)
        if bool(done.all()):
            break
        state = model.reorder_state(state, flat_back)
        prev = tok.view(-1)

    return _collect(hist_tok, hist_back, hist_logp, hist_eos, hist_attn, pool_score, pool_logp, pool_step,
                    pool_slot, enc.src_mask, nbest)


def _collect(hist_tok, hist_back, hist_logp, hist_eos, hist_attn, pool_score, pool_logp, pool_step, pool_slot,
             src_mask, nbest) -> list[list[Hypothesis]]:
    """Walk back-pointers from each pooled (step, slot) to rebuild ids, probabilities and attention."""
    tok = torch.stack(hist_tok).cpu().numpy()  # (T, B, K)
    back = torch.stack(hist_back).cpu().numpy()
    logp = torch.stack(hist_logp).cpu().numpy()
    eos_lp = torch.stack(hist_eos).cpu().numpy()  # (T, B, K) log-prob of EOS from beam slot at step t
    attn = torch.stack(hist_attn).float().cpu().numpy()  # (T, B, K, L, H, S)
    p_score = pool_score.cpu().numpy()
    p_logp = pool_logp.cpu().numpy()
    p_step = pool_step.cpu().numpy()
    p_slot = pool_slot.cpu().numpy()
    src_lens = src_mask.sum(1).cpu().numpy()
    results = []
    for b in range(tok.shape[1]):
        hyps = []
        for j in range(p_score.shape[1]):
            if not np.isfinite(p_score[b, j]) or len(hyps) == nbest:
                continue
            end, slot = int(p_step[b, j]), int(p_slot[b, j])
            # The EOS at step `end` extends beam `slot` as it was before step `end`'s reorder.
            ids = [EOS_ID]
            lps = [float(eos_lp[end, b, slot])]
            atts = [attn[end, b, slot]]
            s = slot
            for t in range(end - 1, -1, -1):
                ids.append(int(tok[t, b, s]))
                lps.append(float(logp[t, b, s]))
                atts.append(attn[t, b, int(back[t, b, s])])
                s = int(back[t, b, s])
            ids.reverse()
            lps.reverse()
            atts.reverse()
            att = np.stack(atts, axis=2)[:, :, :, : src_lens[b]]  # (L, H, T, S)
            hyps.append(Hypothesis(np.array(ids), np.exp(np.array(lps)), att, float(p_logp[b, j]), float(p_score[b, j])))
        results.append(hyps)
    return results
