"""Run an exported model in CTranslate2 the way the engine searches: what the export is verified with,
and what bench/bench_sameweights.py times next to the engine.

CTranslate2's beam search and ours are the same algorithm: the 2 x beam best candidates of a step,
those ending in EOS within the best `beam` finished, the best `beam` others live on, a sentence done
when `beam` hypotheses have finished (with a non-zero length penalty: CTranslate2 exits at the first
finished top beam only when it is 0, so 0 is passed as a tiny positive value) or at its length
limit. What differs is the ranking of the finished ones: ours divides the log-probability by
((5 + length) / 6) ** alpha (GNMT; an imported model: length ** alpha, as CTranslate2 does), so
CTranslate2 is asked for its `beam` finished hypotheses with their lengths (EOS counted, as ours
does) and `best` ranks them by the model's rules; and the length limit. CTranslate2 takes one limit
per call: sources are sorted by length and translated in chunks, each with the largest limit of its
sentences, and an output longer than its own limit is cut there and ended with EOS, as the engine
ends a translation at its limit (CTranslate2 would end it with whatever token came). For greedy
search that is exactly the engine's output; a beam search that reaches the limit (not done before)
can still end differently. An imported model whose EOS at the limit is free (transformers'
forced_eos_token_id) is translated in chunks of one limit, and a beam search that reached it is run
again one step short with EOS appended at no cost: what the engine does at that step (every live
beam ends with EOS, ranked as it is).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from s2s_desktop.engine.api import EOS_ID, UNK_ID, DecodeOptions
from s2s_desktop.engine.decoding.service import CAP, clean_text
from s2s_desktop.engine.formats.checkpoint import LoadedModel
from s2s_desktop.engine.formats.ctranslate2_export import require_ctranslate2, vocabulary

TINY_PENALTY = 1e-6  # stands for alpha 0 (0 would switch CTranslate2 to its early exit)


class Ct2Translator:
    """A CTranslate2 Translator on `model_dir` (exported from `loaded`), decoding like `loaded` does."""

    def __init__(self, model_dir: str | os.PathLike, loaded: LoadedModel, compute_type: str = "float32",
                 threads: int = 2, workers: int = 1, use_vmap: bool = False):
        """`threads`: intra-op threads of each of `workers` (CTranslate2's inter_threads), which decode
        different chunks at the same time. `use_vmap`: restrict the target vocabulary with the export's
        vmap.txt (a model with a shortlist), as our --shortlist does."""
        ct2 = require_ctranslate2()
        self.loaded = loaded
        self.rules = loaded.search_rules
        self.use_vmap = use_vmap
        self.translator = ct2.Translator(str(model_dir), device="cpu", compute_type=compute_type,
                                         inter_threads=workers, intra_threads=threads)
        self.src_pieces = vocabulary(loaded.src_tok)
        self.tgt_ids = {p: i for i, p in enumerate(vocabulary(loaded.tgt_tok))}
        config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
        # A multilingual export prepends the >>xxx<< token itself (add_source_bos): it is not passed twice.
        self.added_prefix = config["bos_token"] if config.get("add_source_bos") else None

    def encode(self, texts: Sequence[str], opts: DecodeOptions) -> list[list[int]]:
        """Source ids as the engine's translator makes them (cleaned, cut to the source limit, no EOS)."""
        max_source, _ = self.loaded.length_limits(opts.max_source_tokens, CAP)
        return [ids[:max_source] for ids in self.loaded.src_tok.encode_batch([clean_text(t) for t in texts])]

    def translate(self, texts: Sequence[str], opts: DecodeOptions = DecodeOptions(), batch_size: int = 32) -> list[str]:
        """Text in, text out (an empty text gives an empty translation, as in the engine)."""
        out_ids = self.translate_ids(self.encode(texts, opts), opts, batch_size)
        return [self.loaded.tgt_tok.decode(ids) if ids is not None else "" for ids in out_ids]

    def translate_ids(self, src_ids: Sequence[Sequence[int]], opts: DecodeOptions = DecodeOptions(),
                      batch_size: int = 32) -> list[list[int] | None]:
        """The best output ids of each source (EOS included when it ended), None for an empty source."""
        _, cap = self.loaded.length_limits(opts.max_source_tokens, CAP)
        results: list[list[int] | None] = [None] * len(src_ids)
        free_eos = self.rules.free_forced_eos and opts.beam > 1
        chunks = list(self._chunks(src_ids, opts, cap, batch_size, free_eos))
        # every chunk queued at once, so that several workers decode side by side
        pending = [self._search([src_ids[i] for i in chunk], opts, max(limits), asynchronous=True)
                   for chunk, limits in chunks]
        for (chunk, limits), futures in zip(chunks, pending):
            found = [f.result() for f in futures]
            short: set[int] = set()
            if free_eos and limits[0] > 1:  # searches that reached the limit: again one step short, EOS free
                short = {j for j, r in enumerate(found) if any(len(h) == limits[j] for h in r.hypotheses)}
                for j, r in zip(sorted(short), self._search([src_ids[chunk[j]] for j in sorted(short)], opts,
                                                            limits[0] - 1)):
                    found[j] = r
            for j, (i, limit, result) in enumerate(zip(chunk, limits, found)):
                ids = self.best(result, opts, limit if j in short else 0)
                if len(ids) >= limit and ids[limit - 1] != EOS_ID:
                    ids = ids[: limit - 1] + [EOS_ID]  # the engine ends a translation at its limit with EOS
                results[i] = ids
        return results

    def _search(self, src_ids, opts: DecodeOptions, steps: int, asynchronous: bool = False) -> list:
        if not src_ids:
            return []
        return self.translator.translate_batch(
            [self._pieces(ids) for ids in src_ids], beam_size=opts.beam, num_hypotheses=opts.beam,
            length_penalty=self._penalty(opts), return_scores=True, return_end_token=True, max_input_length=0,
            max_decoding_length=steps, min_decoding_length=min(opts.min_len, steps), asynchronous=asynchronous,
            use_vmap=self.use_vmap,
        )

    def _pieces(self, ids: Sequence[int]) -> list[str]:
        pieces = [self.src_pieces[t] for t in ids]
        return pieces[1:] if self.added_prefix is not None and pieces[:1] == [self.added_prefix] else pieces

    @staticmethod
    def _penalty(opts: DecodeOptions) -> float:
        return opts.length_penalty if opts.length_penalty > 0 else TINY_PENALTY

    def _chunks(self, src_ids, opts: DecodeOptions, cap: int, batch_size: int, same_limit: bool):
        """Non-empty sources sorted by length, in chunks of `batch_size` (of one output limit each when
        `same_limit`), with each one's limit."""
        order = sorted((i for i in range(len(src_ids)) if len(src_ids[i])), key=lambda i: len(src_ids[i]))
        groups: dict[int, list[int]] = {}
        for i in order:
            groups.setdefault(self._limit(len(src_ids[i]), opts, cap) if same_limit else 0, []).append(i)
        for group in groups.values():
            for start in range(0, len(group), batch_size):
                chunk = group[start : start + batch_size]
                yield chunk, [self._limit(len(src_ids[i]), opts, cap) for i in chunk]

    def best(self, result, opts: DecodeOptions, free_eos_at: int = 0) -> list[int]:
        """The hypothesis our rules rank first among CTranslate2's (scores there: log-prob / len ** penalty).
        With `free_eos_at` (the limit), one that stopped unfinished a step short gets EOS at no cost."""
        best_ids, best_score = None, float("-inf")
        ct2_penalty, alpha = self._penalty(opts), opts.length_penalty
        for pieces, score in zip(result.hypotheses, result.scores):
            n = len(pieces)
            log_prob = score * n**ct2_penalty
            ids = [self.tgt_ids.get(p, UNK_ID) for p in pieces]
            if free_eos_at and n == free_eos_at - 1 and (not ids or ids[-1] != EOS_ID):
                ids.append(EOS_ID)
            ours = log_prob / self.rules.penalty(float(len(ids)), alpha)
            if best_ids is None or ours > best_score:
                best_ids, best_score = ids, ours
        return best_ids or []

    @staticmethod
    def _limit(n_source: int, opts: DecodeOptions, cap: int) -> int:
        """The engine's output limit (pieces, EOS included) for a source of n pieces (search.max_lengths)."""
        return int(min(max(n_source * opts.max_len_a + opts.max_len_b, 1), cap))
