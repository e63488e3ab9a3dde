"""One validation of a training run: the per-token loss on the validation set, greedy translations of
(a sample of) it scored by the metric registry, and the attention of a few of them for the viewer.

Decoding goes through `decoding.search.decode_batch`, the path the translation service uses, with
the options a validation has always used (greedy, output limit 1.5 x source + 10, at most 512 pieces).

A validation can be skipped part-way (`cancelled`, checked between batches): a user who stops a run
twice wants the model saved now, not after a minute of decoding the validation set.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from s2s_desktop.engine import metrics
from s2s_desktop.engine.api import EOS_ID, DecodeOptions, Sample, TrainConfig
from s2s_desktop.engine.data.batching import bucket_batches, make_batch
from s2s_desktop.engine.data.dataset import PreparedData
from s2s_desktop.engine.data.tokenizer import Tokenizer
from s2s_desktop.engine.decoding.search import Hypothesis, decode_batch
from s2s_desktop.engine.models.model import Seq2Seq, sequence_loss
from s2s_desktop.engine.training.distributed import Ranks

# The repetition guard is off: validation measures the model itself (a loop is a sign of an undertrained
# model that the curves should show), and its BLEU stays comparable with runs scored before the guard.
GREEDY = DecodeOptions(beam=1, nbest=1, max_len_a=1.5, max_len_b=10, alternatives=0, repeat_ngram=0)
MAX_OUTPUT = 512  # pieces
Cancelled = Callable[[], bool] | None


class ValidationSkipped(Exception):
    """The validation was cancelled part-way (the run is stopping at once)."""


def _check(cancelled: Cancelled) -> None:
    if cancelled is not None and cancelled():
        raise ValidationSkipped


@dataclass(frozen=True)
class Validation:
    loss: float  # per-token NLL on the whole validation set
    scores: dict[str, float]  # metric name -> corpus score of the decoded sentences
    hypotheses: list[str]  # the decoded sentences, in the order of the indices given
    decode_seconds: float


def perplexity(nll: float) -> float:
    """exp of the per-token NLL, capped (exp(50)) so that a diverged run still reports a number."""
    return float(math.exp(min(nll, 50.0)))


def autocast(device: torch.device, precision: str):
    """bf16 autocast for "bf16", and for "auto" on CUDA; nothing (fp32) otherwise."""
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if not use_bf16:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def validate_run(model: Seq2Seq, data: PreparedData, cfg: TrainConfig, device: torch.device, ranks: Ranks,
                 indices: np.ndarray, cancelled: Cancelled = None) -> Validation:
    """Loss over every validation pair; translations and scores of the pairs at `indices`. Each rank
    takes a share of the work; every rank gets the same result. Raises ValidationSkipped when
    `cancelled()` turns true (single-process runs only: the ranks would disagree)."""
    if ranks.world > 1:
        cancelled = None
    loss = validation_loss(model, data, cfg, device, ranks, cancelled)
    start = time.perf_counter()
    hyps = ranks.map(lambda part: translate_ids(model, data.tgt_tok, [data.valid_src[i] for i in part], device,
                                                cancelled=cancelled), indices)
    refs = [data.valid_targets[i] for i in indices]
    wanted = [m.name for m in metrics.training_metrics(cfg.early_stopping)]
    scores = {name: s.value for name, s in metrics.score(hyps, refs, names=wanted).items()}
    return Validation(loss, scores, hyps, time.perf_counter() - start)


@torch.inference_mode()
def validation_loss(model: Seq2Seq, data: PreparedData, cfg: TrainConfig, device: torch.device, ranks: Ranks,
                    cancelled: Cancelled = None) -> float:
    model.eval()
    total, count = 0.0, 0
    lens_s = np.array([len(x) for x in data.valid_src])
    lens_t = np.array([len(x) for x in data.valid_tgt])
    for indices in ranks.part(bucket_batches(lens_s, lens_t, cfg.batch_tokens)):
        _check(cancelled)
        batch = make_batch(data.valid_src, data.valid_tgt, indices, device)
        with autocast(device, cfg.precision):
            _, nll = sequence_loss(model, batch, 0.0)
        total += float(nll)
        count += batch.n_tokens
    total, count = ranks.sum(total, count)
    return total / max(count, 1)


def samples(model: Seq2Seq, data: PreparedData, indices: np.ndarray, hyps: list[str], device) -> tuple[Sample, ...]:
    """The validation pairs at `indices` with their translations `hyps` and attention maps."""
    attention = sample_attention(model, data.src_tok, data.tgt_tok, [data.valid_src[i] for i in indices], device)
    return tuple(Sample(data.valid_sources[i], data.valid_targets[i], hyps[j], *attention[j])
                 for j, i in enumerate(indices))


def greedy(model: Seq2Seq, src_ids: list[list[int]], device, attention: bool = True) -> list[Hypothesis]:
    """Greedy hypotheses of already-encoded sources decoded as one batch (`attention` False: none recorded)."""
    model.eval()
    return [nbest[0] for nbest in decode_batch(model, src_ids, device, GREEDY, cap=MAX_OUTPUT, attention=attention)]


def sample_attention(model: Seq2Seq, src_tok: Tokenizer, tgt_tok: Tokenizer, src_ids: list[list[int]],
                     device) -> list[tuple]:
    """(source pieces, target pieces, attention rows) of the greedy decode of a few sentences: the last
    decoder layer, averaged over heads, rounded to 4 decimals (it goes into metrics.jsonl)."""
    if not src_ids:
        return []
    out = []
    for ids, h in zip(src_ids, greedy(model, src_ids, device)):
        weights = np.asarray(h.attention[-1]).mean(axis=0)  # [T, S]
        src = tuple(src_tok.ids_to_pieces(ids)) + ("</s>",)
        tgt = tuple("</s>" if i == EOS_ID else tgt_tok.id_to_piece(int(i)) for i in h.ids)
        out.append((src, tgt, tuple(tuple(round(float(v), 4) for v in row) for row in weights)))
    return out


def translate_ids(model: Seq2Seq, tgt_tok: Tokenizer, src_ids: list[list[int]], device,
                  batch_tokens: int = 6000, cancelled: Cancelled = None) -> list[str]:
    """Greedy translations of already-encoded sources, batched by length, in input order."""
    out: list[str] = [""] * len(src_ids)
    lens = np.array([len(x) for x in src_ids])
    for indices in bucket_batches(lens, None, batch_tokens):
        _check(cancelled)
        for i, h in zip(indices, greedy(model, [src_ids[i] for i in indices], device, attention=False)):
            out[i] = tgt_tok.decode(h.ids)
    return out
