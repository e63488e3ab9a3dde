"""The engine's facade for the CLI and the GUI worker: load a model file, translate, evaluate."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence

import numpy as np
import torch

from s2s_desktop.engine.api import EOS_ID, Candidate, DecodeOptions, Translation
from s2s_desktop.engine.batching import bucket_batches, make_batch
from s2s_desktop.engine.checkpoint import LoadedModel, load_model
from s2s_desktop.engine.device import resolve_device
from s2s_desktop.engine.search import Hypothesis, beam_search, max_lengths
from s2s_desktop.errors import ConfigError

EOS_PIECE = "</s>"


def clean_text(text: str) -> str:
    """Remove what a tokenizer must never see: NUL and other control characters (tabs and line
    breaks become spaces). Emoji, right-to-left scripts and combining marks are kept."""
    out = []
    for ch in text:
        if ch in "\t\n\r\x0b\x0c":
            out.append(" ")
        elif unicodedata.category(ch) in ("Cc", "Cs"):
            continue
        else:
            out.append(ch)
    return " ".join("".join(out).split())


def validate_options(opts: DecodeOptions) -> None:
    if opts.beam < 1:
        raise ConfigError(f"--beam must be at least 1 (got {opts.beam})")
    if opts.nbest < 1:
        raise ConfigError(f"--nbest must be at least 1 (got {opts.nbest})")
    if opts.nbest > opts.beam and opts.beam > 1:
        raise ConfigError(f"--nbest ({opts.nbest}) cannot exceed --beam ({opts.beam})")
    if opts.max_len_a < 0 or opts.max_len_b < 0 or opts.max_len_a == opts.max_len_b == 0:
        raise ConfigError("--max-len-a and --max-len-b must be non-negative and not both 0")
    if opts.max_source_tokens < 1:
        raise ConfigError("the maximum source length must be at least 1 token")


class Translator:
    """A loaded model ready to translate on one device."""

    def __init__(self, loaded: LoadedModel, device: torch.device):
        self.loaded = loaded
        self.device = device

    @classmethod
    def open(cls, path: str, device: str = "auto", threads: int | None = None) -> Translator:
        dev = resolve_device(device, threads)
        return cls(load_model(path, dev), dev)

    @property
    def model(self):
        return self.loaded.model

    def translate(
        self,
        texts: Sequence[str],
        opts: DecodeOptions = DecodeOptions(),
        batch_tokens: int = 4000,
        progress: Callable[[int, int], bool] | None = None,
    ) -> list[Translation]:
        """Translate independent sentences, batched by length; results are in input order.

        `progress(done, total)` is called after each batch; returning False cancels (the remaining
        results are then missing from the list, which is cut at the first untranslated input).
        """
        validate_options(opts)
        src_tok, tgt_tok = self.loaded.src_tok, self.loaded.tgt_tok
        cleaned = [clean_text(t) for t in texts]
        ids = src_tok.encode_batch(cleaned)
        truncated = [len(x) > opts.max_source_tokens for x in ids]
        ids = [x[: opts.max_source_tokens] for x in ids]
        results: list[Translation | None] = [None] * len(texts)
        empty = [i for i, t in enumerate(cleaned) if not t]
        for i in empty:
            results[i] = _empty_translation(texts[i])
        todo = [i for i, t in enumerate(cleaned) if t]
        lens = np.array([len(ids[i]) for i in todo])
        width = batch_tokens // max(opts.beam, 1) if opts.beam > 1 else batch_tokens
        done = len(empty)
        self.model.eval()
        for local in bucket_batches(lens, None, max(width, 1)):
            chosen = [todo[j] for j in local]
            batch = make_batch(ids, None, np.array(chosen), self.device)
            with torch.inference_mode():
                enc = self.model.encode(batch.src, batch.src_lengths)
                limits = max_lengths(batch.src_lengths, opts.max_len_a, opts.max_len_b, 1024)
                hyps = beam_search(
                    self.model, enc, opts.beam, limits, opts.nbest, opts.length_penalty, opts.min_len
                )
            for i, nbest in zip(chosen, hyps):
                source_tokens = tuple(src_tok.ids_to_pieces(ids[i])) + (EOS_PIECE,)
                cands = tuple(self._candidate(h) for h in nbest)
                results[i] = Translation(texts[i], source_tokens, cands[0], cands, truncated[i])
            done += len(chosen)
            if progress is not None and progress(done, len(texts)) is False:
                break
        out: list[Translation] = []
        for r in results:
            if r is None:
                break
            out.append(r)
        return out

    def _candidate(self, h: Hypothesis) -> Candidate:
        tok = self.loaded.tgt_tok
        pieces = tuple(EOS_PIECE if i == EOS_ID else tok.id_to_piece(i) for i in h.ids)
        return Candidate(tok.decode(h.ids), pieces, h.token_probs, h.log_prob, h.score, h.attention)


def _empty_translation(source: str) -> Translation:
    cand = Candidate("", (), np.zeros(0), 0.0, 0.0, np.zeros((1, 1, 0, 0)))
    return Translation(source, (), cand, (cand,), False)
