"""From corpus files to encoded, filtered training and validation data.

Corpus reading and splitting live in `corpus.py`; here the tokenizers are trained (or reused on
resume), both sides are encoded, and pairs that are too long or too unbalanced are dropped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2s_desktop.engine.api import DataSummary, TrainConfig
from s2s_desktop.engine.data.corpus import ParallelCorpus, read_parallel, split_by_source
from s2s_desktop.engine.data.tokenizer import Tokenizer, train_tokenizer
from s2s_desktop.errors import CorpusError


@dataclass
class PreparedData:
    src_tok: Tokenizer
    tgt_tok: Tokenizer
    train_src: list[list[int]]
    train_tgt: list[list[int]]
    valid_src: list[list[int]]
    valid_tgt: list[list[int]]
    valid_sources: list[str]  # raw text, for samples and BLEU references
    valid_targets: list[str]
    summary: DataSummary


def read_corpora(cfg: TrainConfig) -> tuple[ParallelCorpus, ParallelCorpus]:
    train = read_parallel(tsv=cfg.train_tsv, src=cfg.train_src, tgt=cfg.train_tgt)
    if cfg.valid_tsv or cfg.valid_src:
        valid = read_parallel(tsv=cfg.valid_tsv, src=cfg.valid_src, tgt=cfg.valid_tgt)
    else:
        valid_size = min(cfg.valid_size, max(1, len(train) // 10))
        train, valid = split_by_source(train, valid_size, cfg.seed)
    return train, valid


def build_tokenizers(cfg: TrainConfig, train: ParallelCorpus) -> tuple[Tokenizer, Tokenizer]:
    if cfg.joint_vocab:
        tok = train_tokenizer(
            train.sources + train.targets, cfg.vocab_size, cfg.sp_model_type, cfg.character_coverage, seed=cfg.seed
        )
        return tok, tok
    src = train_tokenizer(train.sources, cfg.vocab_size, cfg.sp_model_type, cfg.character_coverage, seed=cfg.seed)
    tgt = train_tokenizer(train.targets, cfg.vocab_size, cfg.sp_model_type, cfg.character_coverage, seed=cfg.seed)
    return src, tgt


def length_filter(src: list[list[int]], tgt: list[list[int]], max_len: int, max_ratio: float):
    """Indices of pairs to keep, and how many were dropped by length and by ratio."""
    s = np.array([len(x) for x in src])
    t = np.array([len(x) for x in tgt])
    too_long = (s > max_len) | (t > max_len)
    ratio = np.maximum(s, t) / np.maximum(np.minimum(s, t), 1)
    bad_ratio = ~too_long & (ratio > max_ratio) & (np.maximum(s, t) > 3)  # short pairs vary a lot: keep them
    keep = np.nonzero(~too_long & ~bad_ratio)[0]
    return keep, int(too_long.sum()), int(bad_ratio.sum())


def prepare_data(cfg: TrainConfig, tokenizers: tuple[Tokenizer, Tokenizer] | None = None) -> PreparedData:
    train, valid = read_corpora(cfg)
    src_tok, tgt_tok = tokenizers if tokenizers is not None else build_tokenizers(cfg, train)
    src_ids = src_tok.encode_batch(train.sources)
    tgt_ids = tgt_tok.encode_batch(train.targets)
    keep, n_long, n_ratio = length_filter(src_ids, tgt_ids, cfg.max_len, cfg.max_ratio)
    if len(keep) == 0:
        raise CorpusError(
            f"{train.origin}: every pair was removed by the length filters (--max-len {cfg.max_len}, "
            f"--max-ratio {cfg.max_ratio})"
        )
    train_src = [src_ids[i] for i in keep]
    train_tgt = [tgt_ids[i] for i in keep]
    # Validation pairs are never filtered (scores must be on the whole set) but are capped in length
    # so that one huge line cannot exhaust memory.
    cap = max(cfg.max_len, 1) * 4
    valid_src = [ids[:cap] for ids in src_tok.encode_batch(valid.sources)]
    valid_tgt = [ids[:cap] for ids in tgt_tok.encode_batch(valid.targets)]
    summary = DataSummary(
        train_pairs=len(train_src),
        valid_pairs=len(valid_src),
        skipped_empty=train.skipped_empty + valid.skipped_empty,
        filtered_length=n_long,
        filtered_ratio=n_ratio,
        src_vocab=src_tok.vocab_size,
        tgt_vocab=tgt_tok.vocab_size,
        mean_src_len=float(np.mean([len(x) for x in train_src])),
        mean_tgt_len=float(np.mean([len(x) for x in train_tgt])),
        valid_origin=valid.origin,
    )
    return PreparedData(
        src_tok, tgt_tok, train_src, train_tgt, valid_src, valid_tgt, valid.sources, valid.targets, summary
    )
