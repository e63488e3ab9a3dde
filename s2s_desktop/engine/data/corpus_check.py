"""What "Check corpus" reports before a run: the corpora read and split as training will, counted in
words (pieces exist only once SentencePiece is trained). The app runs this in a short-lived child
process (`engine.training.child --check`): reading a large corpus holds the GIL for seconds.
"""

from __future__ import annotations

import statistics

from s2s_desktop.engine.api import CorpusCounts, TrainConfig
from s2s_desktop.engine.data.dataset import read_corpora


def corpus_counts(cfg: TrainConfig) -> CorpusCounts:
    """Pairs, where they come from, and how many the length filters will likely drop.
    Raises CorpusError naming the file and line of the first problem."""
    train, valid = read_corpora(cfg)
    src_len = [len(s.split()) for s in train.sources]
    tgt_len = [len(t.split()) for t in train.targets]
    too_long = sum(1 for a, b in zip(src_len, tgt_len) if max(a, b) > cfg.max_len)
    bad_ratio = sum(1 for a, b in zip(src_len, tgt_len) if max(a, b) > cfg.max_ratio * max(min(a, b), 1))
    return CorpusCounts(
        train_pairs=len(train), train_origin=train.origin, skipped_empty=train.skipped_empty,
        valid_pairs=len(valid), valid_origin=valid.origin, too_long_words=too_long, bad_ratio_words=bad_ratio,
        mean_src_words=statistics.fmean(src_len) if src_len else 0.0,
        mean_tgt_words=statistics.fmean(tgt_len) if tgt_len else 0.0,
    )
