"""Corpus-level translation metrics (sacreBLEU BLEU and chrF) with their signatures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sacrebleu.metrics import BLEU, CHRF


@dataclass(frozen=True)
class Scores:
    bleu: float
    chrf: float
    bleu_signature: str
    chrf_signature: str
    bleu_detail: str  # e.g. "34.1 68.2/42.0/27.9/18.6 (BP = 0.97 ratio = 0.97 hyp_len = ... ref_len = ...)"


def score(hypotheses: Sequence[str], references: Sequence[str], lowercase: bool = False) -> Scores:
    """BLEU (13a tokenisation) and chrF of detokenised hypotheses against one reference each."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    bleu = BLEU(lowercase=lowercase)
    chrf = CHRF(lowercase=lowercase)
    b = bleu.corpus_score(list(hypotheses), [list(references)])
    c = chrf.corpus_score(list(hypotheses), [list(references)])
    detail = str(b).split("= ", 1)[-1]
    return Scores(b.score, c.score, str(bleu.get_signature()), str(chrf.get_signature()), detail)
