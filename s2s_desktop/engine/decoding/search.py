"""Greedy and beam search over any `Seq2Seq`, batched, returning what inspection needs.

Every hypothesis comes back with its target ids, per-token probabilities, summed log-probability,
length-normalised score and the attention of every target position over the source
(`[layers, heads, target, source]`). Beam search runs over a (batch x beam) block: candidate
selection, finishing and the n-best pool are tensor operations, so there is no Python loop over
hypotheses, only over time steps.

`SearchRules` says how hypotheses are scored and when a sentence is done. Its defaults are
s2s-desktop's own rules; a model imported from Hugging Face carries the rules of transformers'
`generate()` in its file (formats/marian_import.py), so it gives here what it gives there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from s2s_desktop.engine.api import BOS_ID, EOS_ID, PAD_ID, DecodeOptions
from s2s_desktop.engine.data.batching import make_batch
from s2s_desktop.engine.decoding.repetition import RepeatGuard, ban_repeats
from s2s_desktop.engine.models.model import Encoded, Seq2Seq
from s2s_desktop.errors import ModelError

NEG_INF = float("-inf")


@dataclass
class Hypothesis:
    ids: np.ndarray  # (T,) target ids without BOS, EOS included when the sentence ended
    token_probs: np.ndarray  # (T,) probability of each chosen token
    attention: np.ndarray  # (layers, heads, T, S) over the source positions (EOS included)
    log_prob: float  # sum of token log-probabilities
    score: float  # log_prob / length penalty (what hypotheses are ranked by)
    alt_ids: np.ndarray  # (T, k) the k most probable tokens at each position (as the model saw it)
    alt_probs: np.ndarray  # (T, k) their probabilities
    entropy: np.ndarray | None = None  # (T,) entropy in nats of the model's distribution at each position (k > 0)


def length_penalty(length: torch.Tensor | float, alpha: float):
    """GNMT length penalty ((5 + len) / 6) ** alpha; alpha 0 ranks by raw log-probability."""
    return ((5.0 + length) / 6.0) ** alpha


@dataclass(frozen=True)
class SearchRules:
    """How a model's hypotheses are scored and when beam search stops with them (defaults: ours).

    transformers' generate() for a Marian model is `SearchRules("power", False, (pad,), True, True)`:
    scores divided by len ** alpha, its early-stopping heuristic, the pad id never generated,
    log-probabilities renormalised after that, and the EOS forced at the length limit costing nothing."""

    length_penalty: str = "gnmt"  # "gnmt": ((5 + len) / 6) ** alpha; "power": len ** alpha (Marian, transformers)
    # True: a sentence is done when `beam` hypotheses have ended (fairseq; transformers' early_stopping=True).
    # False / "never": also until no live beam, normalised at its current length (False) or, "never" with
    # alpha > 0, at the length limit, could beat the worst ended one (transformers' early_stopping values).
    early_stopping: bool | str = True
    banned_ids: tuple[int, ...] = ()  # log-prob -inf after the softmax (transformers' single-token bad_words_ids)
    renormalize: bool = False  # log-softmax again after the ban (transformers' renormalize_logits)
    free_forced_eos: bool = False  # the EOS forced at the length limit gets log-prob 0 (forced_eos_token_id)

    def __post_init__(self) -> None:
        if self.length_penalty not in ("gnmt", "power") or self.early_stopping not in (True, False, "never"):
            raise ValueError(f"invalid search rules {self}")

    def penalty(self, length: torch.Tensor | float, alpha: float):
        return length**alpha if self.length_penalty == "power" else length_penalty(length, alpha)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "banned_ids": list(self.banned_ids)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchRules:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown search rule(s) {', '.join(unknown)}")
        values = dict(data)
        if "banned_ids" in values:
            values["banned_ids"] = tuple(int(i) for i in values["banned_ids"])
        return cls(**values)

    def model_distribution(self, log_probs: torch.Tensor) -> torch.Tensor:
        """(N, V) log-probs of the model -> the distribution search chooses from (bans, renormalised)."""
        if self.banned_ids:
            log_probs = log_probs.index_fill(1, torch.tensor(self.banned_ids, device=log_probs.device), NEG_INF)
            if self.renormalize:
                log_probs = torch.log_softmax(log_probs, dim=-1)
        return log_probs

    def force_eos(self, log_probs: torch.Tensor, at_limit: torch.Tensor) -> torch.Tensor:
        """With `free_forced_eos`, rows at their length limit (at_limit (N,) bool) become EOS = 0, rest -inf."""
        if not self.free_forced_eos or not bool(at_limit.any()):
            return log_probs
        forced = torch.full_like(log_probs[:1], NEG_INF)
        forced[0, EOS_ID] = 0.0
        return torch.where(at_limit[:, None], forced, log_probs)


OURS = SearchRules()


def max_lengths(src_lengths: torch.Tensor, a: float, b: int, cap: int) -> torch.Tensor:
    """Per-sentence output limit a * source length + b (source length without EOS), at most `cap`."""
    n = (src_lengths - 1).float() * a + b
    return n.clamp(min=1, max=cap).long()


def _ban_eos_before(log_probs: torch.Tensor, t: int, min_len: int, row_limit: torch.Tensor) -> None:
    """No EOS before `min_len` tokens, except at a row's length limit (the limit wins: it must end)."""
    if t < min_len:
        banned = t < row_limit - 1
        log_probs[:, EOS_ID] = log_probs[:, EOS_ID].masked_fill(banned, NEG_INF)


@torch.inference_mode()
def greedy_search(
    model: Seq2Seq,
    enc: Encoded,
    max_len: torch.Tensor,
    min_len: int = 0,
    prefixes: Sequence[Sequence[int]] | None = None,
    alpha: float = 1.0,
    topk: int = 5,
    rules: SearchRules = OURS,
    guard: RepeatGuard | None = None,
    attention: bool = True,
) -> list[Hypothesis]:
    """Pick the most probable token at each step; `prefixes` force the first tokens of each output.
    `alpha` only sets how the returned score is length-normalised (as in beam search). Finished
    sentences leave the batch. `guard` bans repeated n-grams (repetition.py). `attention` False:
    no attention recorded (`no_attention` shapes), the same tokens faster."""
    batch = enc.memory.shape[0]
    device = enc.memory.device
    src_lens = enc.src_mask.sum(1).cpu().numpy()
    prev = torch.full((batch,), BOS_ID, dtype=torch.long, device=device)
    forced = _prefix_tensor(prefixes, batch, device)
    limit = max_len.to(device) + (forced != PAD_ID).sum(1)
    state = model.init_state(enc, need_weights=attention)
    active = torch.arange(batch, device=device)
    hist = _History(batch, 1)
    allow = guard.allowance.to(device) if guard else None  # (A,)
    seq = torch.zeros((batch, 0), dtype=torch.long, device=device)  # (A, t) tokens emitted (guard only)
    for t in range(int(limit.max())):
        log_probs, attn, state = model.step(prev, state, enc)
        log_probs = rules.model_distribution(log_probs)
        top = _top_alternatives(log_probs, topk)
        ent = _entropy(log_probs, topk)
        _ban_eos_before(log_probs, t, min_len, limit)
        if guard:
            ban_repeats(log_probs, seq, allow, guard.n, forced[:, t] != PAD_ID if t < forced.shape[1] else None)
        log_probs = rules.force_eos(log_probs, t >= limit - 1)
        tok = log_probs.argmax(-1)
        if t < forced.shape[1]:
            tok = torch.where(forced[:, t] != PAD_ID, forced[:, t], tok)
        tok = torch.where(t >= limit - 1, torch.full_like(tok, EOS_ID), tok)
        lp = log_probs.gather(1, tok[:, None])
        hist.add(active, tok[:, None], torch.zeros_like(tok)[:, None], lp, lp,
                 attn[:, None] if attention else None, top.indices[:, None], top.values[:, None], ent[:, None])
        done = tok == EOS_ID
        if bool(done.all()):
            break
        if bool(done.any()):
            keep = (~done).nonzero().squeeze(1)
            enc = enc.index_select(keep)
            state = model.reorder_state(state, keep)
            active, limit, forced, tok = active[keep], limit[keep], forced[keep], tok[keep]
            if guard:
                seq, allow = seq[keep], allow[keep]
        if guard:
            seq = torch.cat([seq, tok[:, None]], 1)
        prev = tok
    ids, _, logp, _, att, a_ids, a_probs, a_ent = hist.numpy()  # (T, B, 1, ...)
    out = []
    for i in range(batch):
        n = _length(ids[:, i, 0])
        lp = float(logp[:n, i, 0].sum())
        weights = np.moveaxis(att[:n, i, 0], 0, 2)[:, :, :, : src_lens[i]] if attention else no_attention(n)
        out.append(Hypothesis(ids[:n, i, 0], np.exp(logp[:n, i, 0]), weights, lp,
                              lp / rules.penalty(float(n), alpha), a_ids[:n, i, 0], a_probs[:n, i, 0],
                              a_ent[:n, i, 0]))
    return out


def no_attention(length: int) -> np.ndarray:
    """A hypothesis' attention when the search did not record it: (0 layers, 0 heads, T, 0 sources)."""
    return np.zeros((0, 0, length, 0), dtype=np.float32)


def _top_alternatives(log_probs: torch.Tensor, k: int):
    """The k most probable tokens of each row (values, indices); k = 0 skips the work (a topk over
    the vocabulary costs about as much as the beam's own selection) and records empty lists."""
    if k <= 0:
        empty = log_probs.new_zeros((log_probs.shape[0], 0))
        return torch.return_types.topk((empty, empty.long()))
    return log_probs.topk(min(k, log_probs.shape[1]), dim=1)


def _entropy(log_probs: torch.Tensor, k: int) -> torch.Tensor:
    """(N,) entropy in nats of each row's distribution (banned pieces count 0); zeros when k = 0,
    as for the alternatives: the server asks for neither."""
    if k <= 0:
        return log_probs.new_zeros(log_probs.shape[0])
    return torch.special.entr(log_probs.float().exp()).sum(-1)


def _length(ids: np.ndarray) -> int:
    """Length up to and including the first EOS (or up to the first PAD)."""
    stops = np.nonzero((ids == EOS_ID) | (ids == PAD_ID))[0]
    if len(stops) == 0:
        return len(ids)
    return int(stops[0]) + (1 if ids[stops[0]] == EOS_ID else 0)


def _for_beams(model, enc: Encoded, k: int) -> Encoded:
    """`enc` for K beams per sentence: the model's own sharing (`Seq2Seq.for_beams`) where it has one,
    else each source row repeated K times (any model with encode/step/reorder_state decodes)."""
    fn = getattr(model, "for_beams", None)
    return fn(enc, k) if fn is not None else enc.expand(k, False)


BLOCK = 200  # pieces per block of `best_candidates`


def best_candidates(scores: torch.Tensor, log_probs: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The n best of scores[a, k] + log_probs[a, k, v] for each sentence a: (values (A, n), indices (A, n)
    into K x V), what `(scores[:, :, None] + log_probs).view(A, -1).topk(n)` gives.

    topk over K x V (40,000 values a sentence for beam 5) took 11% of decoding; this reads the
    vocabulary in blocks of C pieces: each block's maximum (one fast pass), the n best blocks, and a topk
    over those n x C values only. Exact: each of the n best values lies in a block whose maximum is at
    least that value, and no more than n - 1 other blocks can have a higher maximum (~4x faster, measured
    at 60 sentences x beam 5 x 8,000 pieces). A vocabulary that is not a multiple of C (a shortlist's
    union, a Marian vocabulary) is padded with -inf to one."""
    a, k, vocab = log_probs.shape
    c = BLOCK
    r = -(-vocab // c)  # blocks per beam
    if k * r <= n:
        return (scores[:, :, None] + log_probs).view(a, -1).topk(n, dim=1)
    padded = log_probs if r * c == vocab else F.pad(log_probs, (0, r * c - vocab), value=NEG_INF)
    best_blocks = padded.view(a, k, r, c).amax(-1).add_(scores[:, :, None]).view(a, k * r).topk(n, dim=1).indices
    blocks = padded.view(a, k * r, c).gather(1, best_blocks[:, :, None].expand(a, n, c))  # (A, n, C)
    blocks += scores.gather(1, best_blocks // r)[:, :, None]
    values, at = blocks.view(a, n * c).topk(n, dim=1)
    block = best_blocks.gather(1, at // c)
    piece = ((block % r) * c + at % c).clamp_(max=vocab - 1)  # (only a -inf pick can land in the padding)
    return values, (block // r) * vocab + piece


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
    topk: int = 5,
    rules: SearchRules = OURS,
    guard: RepeatGuard | None = None,
    attention: bool = True,
    recorder=None,
    vocab: torch.Tensor | None = None,
    excluded: torch.Tensor | None = None,
) -> list[list[Hypothesis]]:
    """Batched beam search. Returns, per sentence, up to `nbest` hypotheses sorted by score.

    Each step scores (active sentences, beam, vocab) candidates, keeps the 2 * beam best, moves those
    ending in EOS (when ranked within the best `beam`, as fairseq does) into a per-sentence pool of
    finished hypotheses ranked by length-normalised score, and continues with the best `beam` others.
    A sentence is done when its pool holds `beam` hypotheses (or what `rules.early_stopping` asks) or
    it reached its length limit; done sentences leave the batch, so the rest of the batch decodes faster.
    `guard` bans, in every beam, the tokens that would repeat an n-gram too often (repetition.py).
    `attention` False records no attention (as in greedy_search). A `beam_tree.TreeRecorder` as
    `recorder` also records sentence 0's finished candidates, and gets the history (`recorder.history`,
    `recorder.chosen`) for `beam_tree.build_tree`. `vocab` (W,), sorted target ids starting with the special
    ids (a shortlist, shortlist.py): only those are scored, the softmax over them; the search then works in
    their columns (the special ids keep theirs) and gives ids back. `excluded` (A, W) bool: the columns each
    sentence may not produce (its logits -inf before the softmax), so that a sentence's shortlist is its own
    and its translation does not depend on the other sentences of the batch.
    """
    nbest = min(nbest, beam)
    output = None
    row_bias = None  # (A * K, W): the output bias of each row, -inf in its sentence's excluded columns
    if vocab is not None:
        scores_of = model.output_rows(vocab)
        if excluded is not None:
            base = scores_of.bias if scores_of.bias is not None else enc.memory.new_zeros(excluded.shape[1])
            row_bias = base.float().expand(excluded.shape).masked_fill(excluded, NEG_INF).repeat_interleave(beam, 0)

        def output(hidden: torch.Tensor) -> torch.Tensor:
            return scores_of(hidden, row_bias)

        if rules.banned_ids:  # (a banned id outside the shortlist is not scored anyway)
            banned = torch.tensor(rules.banned_ids, device=vocab.device)
            cols = torch.searchsorted(vocab, banned).clamp(max=len(vocab) - 1)
            rules = replace(rules, banned_ids=tuple(int(c) for c in cols[vocab[cols] == banned]))
        if prefixes:
            prefixes = [torch.searchsorted(vocab, torch.as_tensor(list(p), dtype=torch.long)).tolist() for p in prefixes]
    batch = enc.memory.shape[0]
    device = enc.memory.device
    k = beam
    enc_k = _for_beams(model, enc, k)  # (A * K) decoder rows; the source kept once per sentence where it can be
    forced = _prefix_tensor(prefixes, batch, device)  # (A, P) for the active sentences
    limit = (max_len.to(device) + (forced != PAD_ID).sum(1)).clamp(min=1)  # (A,)
    steps = int(limit.max())
    state = model.init_state(enc_k, need_weights=attention)
    active = torch.arange(batch, device=device)  # original index of each active sentence

    scores = torch.full((batch, k), NEG_INF, device=device)
    scores[:, 0] = 0.0  # only one live hypothesis at the start
    prev = torch.full((batch * k,), BOS_ID, dtype=torch.long, device=device)
    # History, one entry per step, always in full-batch coordinates (B, K, ...): chosen token,
    # back-pointer, token log-prob, EOS log-prob, attention and top-k alternatives of each slot.
    hist = _History(batch, k)
    # Pool of finished hypotheses (full batch): normalised score, raw log-prob, end step, beam slot
    pool_score = torch.full((batch, k), NEG_INF, device=device)
    pool_logp = torch.zeros((batch, k), device=device)
    pool_step = torch.zeros((batch, k), dtype=torch.long, device=device)
    pool_slot = torch.zeros((batch, k), dtype=torch.long, device=device)
    allow = guard.allowance.to(device).repeat_interleave(k) if guard else None  # (A * K,)
    seq = torch.zeros((batch * k, 0), dtype=torch.long, device=device)  # (A * K, t) each beam's tokens (guard only)

    for t in range(steps):
        n_act = active.shape[0]
        log_probs, attn, state = (model.step(prev, state, enc_k) if vocab is None else
                                  model.step(vocab[prev], state, enc_k, output))
        log_probs = rules.model_distribution(log_probs)
        width = log_probs.shape[1]  # the vocabulary, or the shortlist
        top = _top_alternatives(log_probs, topk)
        ent = _entropy(log_probs, topk)
        _ban_eos_before(log_probs, t, min_len, limit.repeat_interleave(k))
        if guard:
            skip = (forced[:, t] != PAD_ID).repeat_interleave(k) if t < forced.shape[1] else None
            ban_repeats(log_probs, seq, allow, guard.n, skip)
        log_probs = rules.force_eos(log_probs, (t >= limit - 1).repeat_interleave(k))
        if t < forced.shape[1]:
            f = forced[:, t].repeat_interleave(k)
            has = f != PAD_ID
            if bool(has.any()):
                keep = log_probs.gather(1, f.clamp(min=0)[:, None])
                masked = torch.full_like(log_probs, NEG_INF).scatter(1, f[:, None], keep)
                log_probs = torch.where(has[:, None], masked, log_probs)
        at_limit = t >= limit - 1  # (A,): only EOS may follow
        eos_lp = log_probs.view(n_act, k, width)[:, :, EOS_ID].clone()  # (A, K), as the model gave it
        if bool(at_limit.any()):
            log_probs.view(n_act, k, width).masked_fill_(at_limit[:, None, None], NEG_INF)
            log_probs.view(n_act, k, width)[:, :, EOS_ID] = eos_lp
        # The 2K best candidates: those ending in EOS are finished (if competitive at all), the best K
        # others live on. At most K of the 2K end in EOS (one per beam), so K live ones always remain.
        top2_scores, top2_idx = best_candidates(scores, log_probs.view(n_act, k, width), 2 * k)
        is_eos = (top2_idx % width) == EOS_ID
        top_scores, pick_live = top2_scores.masked_fill(is_eos, NEG_INF).topk(k, dim=1)
        top_idx = top2_idx.gather(1, pick_live)
        back = top_idx // width
        tok = top_idx % width
        # Finished candidates (only EOS ranked within the top K, as fairseq does), merged into the pool
        competitive = is_eos.clone()
        competitive[:, k:] = False
        fin_raw = top2_scores.masked_fill(~competitive, NEG_INF)
        fin_norm = fin_raw / rules.penalty(float(t + 1), alpha)
        if recorder is not None:
            recorder.add_finished(t, active, top2_idx // width, fin_raw, fin_norm)
        merged = torch.cat([pool_score[active], fin_norm], 1)  # (A, K + 2K)
        new_score, pick = merged.topk(k, dim=1)
        from_new = pick >= k
        new_j = (pick - k).clamp(min=0)
        old_j = pick.clamp(max=k - 1)
        pool_logp[active] = torch.where(from_new, fin_raw.gather(1, new_j), pool_logp[active].gather(1, old_j))
        pool_step[active] = torch.where(from_new, torch.full_like(old_j, t), pool_step[active].gather(1, old_j))
        pool_slot[active] = torch.where(
            from_new, (top2_idx // width).gather(1, new_j), pool_slot[active].gather(1, old_j)
        )
        pool_score[active] = new_score

        hist.add(active, tok if vocab is None else vocab[tok], back, log_probs.view(n_act, k * width).gather(1, top_idx),
                 eos_lp, attn.view(n_act, k, *attn.shape[1:]) if attention else None,
                 (top.indices if vocab is None else vocab[top.indices]).view(n_act, k, -1),
                 top.values.view(n_act, k, -1), ent.view(n_act, k))

        done = torch.isfinite(new_score).all(1)
        if rules.early_stopping is not True:  # transformers: while the best live beam might still beat the pool
            length = limit.float() if rules.early_stopping == "never" and alpha > 0 else float(t + 1)
            done &= top_scores[:, 0] / rules.penalty(length, alpha) <= new_score.min(1).values
        done |= t >= limit - 1
        if bool(done.all()):
            break
        offsets = (torch.arange(n_act, device=device) * k)[:, None]
        rows = (back + offsets).view(-1)  # beam reorder, in (A * K) coordinates
        tok_flat = tok.view(-1)
        if bool(done.any()):  # drop finished sentences from every per-row tensor
            keep = (~done).nonzero().squeeze(1)
            keep_rows = (keep[:, None] * k + torch.arange(k, device=device)).view(-1)
            rows = rows.index_select(0, keep_rows)
            tok_flat = tok_flat.index_select(0, keep_rows)
            enc_k = enc_k.index_select(keep_rows)
            if row_bias is not None:
                row_bias = row_bias.index_select(0, keep_rows)
            active, scores, limit, forced = active[keep], top_scores[keep], limit[keep], forced[keep]
            if guard:
                allow = allow.index_select(0, keep_rows)
        else:
            scores = top_scores
        if guard:  # each surviving beam's history: its parent's, then its new token
            seq = torch.cat([seq.index_select(0, rows), tok_flat[:, None]], 1)
        state = model.reorder_state(state, rows)
        prev = tok_flat

    if recorder is not None:
        recorder.history = (hist.field("tok"), hist.field("back"), hist.field("logp"))
        found = torch.isfinite(pool_score[0]).cpu().numpy()
        recorder.chosen = [(int(st), int(sl)) for st, sl, ok in
                           zip(pool_step[0].cpu().numpy(), pool_slot[0].cpu().numpy(), found) if ok][:nbest]
    return _collect(hist, pool_score, pool_logp, pool_step, pool_slot, enc.src_mask, nbest)


class _History:
    """Per-step search history, given back in full-batch coordinates (T, B, ...) so that finished
    sentences can leave the active batch without renumbering anything already recorded. Each step is
    kept as the search produced it (active rows only) and placed into full-batch arrays once, at the
    end, in NumPy: no per-step scatter of nine tensors once sentences start finishing."""

    FIELDS = ("tok", "back", "logp", "eos", "attn", "alt_id", "alt_lp", "ent")

    def __init__(self, batch: int, k: int):
        self.batch, self.k = batch, k
        self.steps: list[tuple[np.ndarray | None, tuple]] = []  # (active sentence indices or None: all, values)

    def add(self, active, tok, back, logp, eos, attn, alt_id, alt_lp, ent):
        """One step's values, each (A, K, ...) for the active sentences; `attn` None when the search
        does not record attention."""
        rows = None if active.shape[0] == self.batch else active.cpu().numpy()
        self.steps.append((rows, (tok, back, logp, eos, attn, alt_id, alt_lp, ent)))

    def field(self, name: str) -> np.ndarray | None:
        """(T, B, ...) of one field; zeros where a sentence had already finished."""
        i = self.FIELDS.index(name)
        values = [v[i] for _, v in self.steps]
        if values[0] is None:
            return None
        if values[0].is_floating_point():
            values = [v.float() for v in values]
        if all(rows is None for rows, _ in self.steps):
            return torch.stack(values).cpu().numpy()
        first = values[0].cpu().numpy()
        out = np.zeros((len(values), self.batch, *first.shape[1:]), dtype=first.dtype)
        for t, ((rows, _), v) in enumerate(zip(self.steps, values)):
            out[t if rows is None else (t, rows)] = v.cpu().numpy()
        return out

    def numpy(self):
        tok, back, logp, eos, attn, alt_id, alt_lp, ent = (self.field(name) for name in self.FIELDS)
        return tok, back, logp, eos, attn, alt_id, np.exp(alt_lp), ent


def _collect(hist: _History, pool_score, pool_logp, pool_step, pool_slot, src_mask, nbest) -> list[list[Hypothesis]]:
    """Walk back-pointers from each pooled (step, slot) to rebuild ids, probabilities and attention."""
    tok, back, logp, eos_lp, attn, alt_ids, alt_probs, ent = hist.numpy()  # each (T, B, K, ...)
    alts = (alt_ids, alt_probs, ent)
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
            atts = [attn[end, b, slot]] if attn is not None else None
            slots = [slot]  # the beam slot whose distribution produced each position
            s = slot
            for t in range(end - 1, -1, -1):
                ids.append(int(tok[t, b, s]))
                lps.append(float(logp[t, b, s]))
                if atts is not None:
                    atts.append(attn[t, b, int(back[t, b, s])])
                slots.append(int(back[t, b, s]))
                s = int(back[t, b, s])
            ids.reverse()
            lps.reverse()
            slots.reverse()
            if atts is None:
                att = no_attention(len(ids))
            else:
                atts.reverse()
                att = np.stack(atts, axis=2)[:, :, :, : src_lens[b]]  # (L, H, T, S)
            steps = np.arange(len(slots))
            hyps.append(Hypothesis(np.array(ids), np.exp(np.array(lps)), att, float(p_logp[b, j]),
                                   float(p_score[b, j]), alts[0][steps, b, slots], alts[1][steps, b, slots],
                                   alts[2][steps, b, slots]))
        results.append(hyps)
    return results


def _shortlists(shortlist, src_ids, prefixes, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The union of the sentences' shortlists (W,) sorted ids, and (A, W) True where a column is not on a
    sentence's own shortlist (the output layer is computed once for the union). W is made a whole number
    of `best_candidates` blocks with ids no sentence may produce (excluded in every row), so that the
    search does not pad (copy) its (A, K, W) log-probabilities at every step for a ragged last block."""
    allowed = shortlist.allowed(src_ids, prefixes or None)  # (A, V)
    union = allowed.any(0)
    short = -int(union.sum()) % BLOCK
    spare = np.flatnonzero(~union)
    if 0 < short <= len(spare):
        union[spare[-short:]] = True  # (the last ids: never a special one, whose column is its id)
    vocab = np.flatnonzero(union)
    return torch.from_numpy(vocab).to(device), torch.from_numpy(~allowed[:, vocab]).to(device)


def decode_batch(
    model: Seq2Seq,
    src_ids: Sequence[Sequence[int]],
    device: torch.device,
    opts: DecodeOptions,
    prefixes: Sequence[Sequence[int]] | None = None,
    cap: int = 1024,
    rules: SearchRules = OURS,
    attention: bool = True,
    recorder=None,
    shortlist=None,
) -> list[list[Hypothesis]]:
    """The n-best hypotheses of already-encoded sources decoded as one batch: greedy search when
    `opts.beam` is 1, beam search otherwise; outputs of at most `cap` pieces (EOS included), scored
    and stopped by the model's `rules`, with the repetition guard `opts.repeat_ngram` asks for;
    `attention` False records none; `recorder`: see beam_search (beam search only); `shortlist` (shortlist.py):
    beam search scores only the target pieces it lists for these sources (greedy search ignores it). The translation
    service and the trainer's validation both decode through here."""
    batch = make_batch(src_ids, None, np.arange(len(src_ids)), device)
    with torch.inference_mode():
        enc = model.encode(batch.src, batch.src_lengths)
        limits = max_lengths(batch.src_lengths, opts.max_len_a, opts.max_len_b, cap)
        guard = RepeatGuard.for_sources(src_ids, opts.repeat_ngram)
        if opts.beam == 1:
            hyps = greedy_search(model, enc, limits, opts.min_len, prefixes, opts.length_penalty, opts.alternatives,
                                 rules, guard, attention)
            return [[h] for h in hyps]
        vocab, excluded = (None, None) if shortlist is None else _shortlists(shortlist, src_ids, prefixes, device)
        found = beam_search(model, enc, opts.beam, limits, opts.nbest, opts.length_penalty, opts.min_len, prefixes,
                            opts.alternatives, rules, guard, attention, recorder, vocab, excluded)
    if not all(found):  # every score of a sentence was NaN or -inf: there is no translation to rank
        raise ModelError("The model gave no finite score to any translation (NaN or infinite log-probabilities): "
                         "its weights are probably corrupt or overflow in this precision")
    return found
