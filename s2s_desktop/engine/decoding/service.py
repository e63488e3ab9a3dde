"""The engine's facade for the CLI and the GUI worker: load a model file and translate sentences,
paragraphs and files. Everything it returns is plain data from `api` (numpy arrays, no tensors)."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from s2s_desktop.engine.allocator import keep_decoding_buffers
from s2s_desktop.engine.api import (
    CONTRAST_METHODS,
    EOS_ID,
    EXPLAIN_METHODS,
    UNK_ID,
    BeamTree,
    Candidate,
    Contrast,
    DecodeOptions,
    Explanation,
    FileSummary,
    ModelInfo,
    ParagraphTranslation,
    SelfAttention,
    Translation,
)
from s2s_desktop.engine.data.batching import bucket_batches, make_batch
from s2s_desktop.engine.data.corpus import read_lines
from s2s_desktop.engine.data.segment import split_sentences
from s2s_desktop.engine.data.words import WORD_START
from s2s_desktop.engine.decoding.degenerate import degenerate_reason
from s2s_desktop.engine.decoding.protect import Protector, mask_batch, masked_prefixes
from s2s_desktop.engine.decoding.search import Hypothesis, decode_batch, max_lengths
from s2s_desktop.engine.device import resolve_device
from s2s_desktop.engine.formats.atomic import atomic_write
from s2s_desktop.engine.formats.checkpoint import LoadedModel, load_model
from s2s_desktop.errors import ConfigError, InputError

EOS_PIECE = "</s>"
UNK_PIECE = "<unk>"
CAP = 1024  # the longest output (pieces, EOS included) whatever the options; a model file may allow fewer
Prefix = str | Sequence[str] | None  # target text, or target pieces, to force at the start
PROGRESS_SECONDS = 0.25  # translate_file(chunk=0): how often progress is reported


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
    if opts.nbest > opts.beam:
        raise ConfigError(f"--nbest ({opts.nbest}) cannot exceed --beam ({opts.beam})")
    if opts.max_len_a < 0 or opts.max_len_b < 0 or opts.max_len_a == opts.max_len_b == 0:
        raise ConfigError("--max-len-a and --max-len-b must be non-negative and not both 0")
    if opts.max_source_tokens < 1:
        raise ConfigError("the maximum source length must be at least 1 token")
    if opts.min_len < 0:
        raise ConfigError("the minimum output length cannot be negative")
    if opts.repeat_ngram < 0:
        raise ConfigError(f"--repeat-guard must be 0 (off) or a phrase length in pieces (got {opts.repeat_ngram})")


def _place(rows: np.ndarray, order: Sequence[int], n: int) -> np.ndarray:
    """(n, S): rows[i] at order[i], zeros where no row is yet."""
    out = np.zeros((n, rows.shape[1]), dtype=np.float32)
    out[list(order)[: len(rows)]] = rows
    return out


def _normalised(scores: np.ndarray) -> np.ndarray:
    """Rows summing to 1 (an all-zero row stays 0)."""
    return scores / np.maximum(scores.sum(axis=-1, keepdims=True), 1e-12)


def _check_steps(steps: int) -> None:
    if not 1 <= steps <= 1024:
        raise InputError(f"integrated gradients: {steps} steps; choose 1 to 1024")


PRECISIONS = ("auto", "fp32", "bf16", "int8")


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto": bf16 on CUDA; on a CPU, int8 where fbgemm's quantized kernels exist and int8 measures
    faster than fp32 here (about 1/4 of the weight bytes; -0.1 BLEU on Multi30k, see
    docs/benchmarks.md), else bf16 where the CPU has native bf16 matmuls and they measure faster,
    else fp32."""
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)} (got {precision!r})")
    int8_ok = device.type == "cpu" and bool({"fbgemm", "x86"} & set(torch.backends.quantized.supported_engines))
    if precision == "int8" and not int8_ok:
        raise ConfigError("--precision int8 needs the CPU (fbgemm); use bf16 or fp32 on this device")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16"
    from s2s_desktop.engine.models.lowp import faster_than_fp32

    if int8_ok and faster_than_fp32("int8", torch.get_num_threads()):
        return "int8"
    native_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(
        torch.cpu, "_is_amx_tile_supported", lambda: False
    )()
    return "bf16" if native_bf16 and faster_than_fp32("bf16", torch.get_num_threads()) else "fp32"


class Translator:
    """A loaded model ready to translate on one device.

    A multilingual imported model (`target_languages` not empty) translates into `target_language`,
    the ">>xxx<<" code put before each source sentence (the file's default, or the one given)."""

    def __init__(self, loaded: LoadedModel, device: torch.device, precision: str = "auto",
                 target_language: str | None = None):
        self.loaded = loaded
        self.device = device
        self.precision = resolve_precision(precision, device)
        self.rules = loaded.search_rules  # how the model's own implementation searches (ours by default)
        if device.type == "cpu":
            keep_decoding_buffers()  # (fewer page faults per search step: allocator.py)
        if target_language is not None:
            self.target_language = target_language
        loaded.model.set_inference_precision(self.precision)

    @classmethod
    def open(cls, path: str, device: str = "auto", threads: int | None = None, precision: str = "auto",
             target_language: str | None = None) -> Translator:
        dev = resolve_device(device, threads)
        return cls(load_model(path, dev), dev, precision, target_language)

    @property
    def target_languages(self) -> tuple[str, ...]:
        """The target-language codes of a multilingual model (its ">>xxx<<" tokens); () for the others."""
        return getattr(self.loaded.src_tok, "target_languages", ())

    @property
    def target_language(self) -> str | None:
        return getattr(self.loaded.src_tok, "target_language", None)

    @target_language.setter
    def target_language(self, code: str | None) -> None:
        if code and not self.target_languages:
            raise InputError(f"{self.loaded.path}: this model translates into one language; it has no target "
                             f"language {code!r} to choose")
        if self.target_languages:
            self.loaded.src_tok.target_language = code  # checked there (InputError naming the codes)

    @property
    def model(self):
        return self.loaded.model

    def info(self) -> ModelInfo:
        """What a user wants to know about the open model (plain data, JSON-able with `to_json`)."""
        loaded, meta = self.loaded, self.loaded.meta
        path = loaded.path
        return ModelInfo(
            path=str(path),
            file_size=os.path.getsize(path) if path and os.path.exists(path) else 0,
            format_version=1,
            app_version=meta.get("app_version"),
            src_lang=meta["src_lang"],
            tgt_lang=meta["tgt_lang"],
            parameters=loaded.model.num_parameters(),
            src_vocab=loaded.src_tok.vocab_size,
            tgt_vocab=loaded.tgt_tok.vocab_size,
            joint_vocab=meta.get("joint_vocab", False),
            storage=meta.get("storage"),
            model=meta["model"],
            training=meta.get("training", {}),
            device=str(self.device),
            precision=self.precision,
            provenance=dict(meta.get("provenance") or {}),
            target_languages=tuple(self.target_languages),
            target_language=self.target_language,
        )

    def _forced_batch(self, source: str, tokens: Sequence[str], protect: bool):
        """(batch, target ids) for `source` translated as `tokens` (target pieces, "</s>" optional),
        read as the search read it: a protected translation's tokens hold the items' text, so both
        sides go through the surrogates."""
        src_tok = self.loaded.src_tok
        cleaned = clean_text(source)
        (ids,) = src_tok.encode_batch([cleaned])
        masked = self._protector().mask(cleaned) if protect else None
        if masked is not None:
            ids = masked.ids
        max_source, _ = self.loaded.length_limits(DecodeOptions().max_source_tokens, CAP)
        ids = ids[:max_source]
        shown = [t for t in tokens if t != EOS_PIECE]
        pieces = self._protector().mask_prefix(shown, masked) if masked else shown
        if masked is not None:
            # A protected item the search inserted (the model never wrote its surrogate) may have no
            # piece in a separate target vocabulary, nor its surrogate: the model reads <unk> there.
            # (Found by the soak: a toy en->eo RNN's own translations could not be explained.)
            tok = self.loaded.tgt_tok
            items = {WORD_START + it.output for it in masked.items} | {it.output for it in masked.items}
            pieces = [p if tok.piece_to_id(p) is not None or (orig not in items and orig == p) else UNK_PIECE
                      for p, orig in zip(pieces, shown)]
        target = self._prefix_ids(pieces) + ([EOS_ID] if EOS_PIECE in tokens else [])
        batch = make_batch([ids], [target[:-1] if target and target[-1] == EOS_ID else target], np.arange(1),
                           self.device)
        return batch, target

    def _transformer_attention(self, batch, n_target: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A Transformer's encoder self-attention (L, H, S, S), cross-attention (L, H, T, S) and decoder
        self-attention (L, H, T, T) of sentence 0 of `batch`, teacher-forced on its first `n_target` inputs."""
        model = self.model
        model.eval()
        with torch.inference_mode():
            encoder = model.encoder_attention(batch.src)[0].float().cpu().numpy()
            if n_target:
                enc = model.encode(batch.src, batch.src_lengths)
                _, (cross, weights) = model.decode(enc, batch.tgt_in[:, :n_target], need_weights=True)
                return encoder, cross[0].float().cpu().numpy(), weights[0].float().cpu().numpy()
        t = self.loaded.config.transformer
        return (encoder, np.zeros((t.decoder_layers, t.heads, 0, encoder.shape[-1]), dtype=np.float32),
                np.zeros((t.decoder_layers, t.heads, 0, 0), dtype=np.float32))

    def self_attention(self, source: str, tokens: Sequence[str], protect: bool = True) -> SelfAttention:
        """Encoder and decoder self-attention of a Transformer for `source` translated as `tokens` (target
        pieces, "</s>" included), teacher-forced: what the inspector shows next to the search's
        cross-attention. Raises InputError for a model without self-attention (the RNN)."""
        if self.loaded.config.arch != "transformer":
            raise InputError(f"{self.loaded.path}: a {self.loaded.config.arch} model has no self-attention")
        batch, target = self._forced_batch(source, tokens, protect)
        encoder, _, decoder = self._transformer_attention(batch, len(target))
        shown = [t for t in tokens if t != EOS_PIECE]  # the decoder's inputs as the translation shows them
        inputs = tuple(["<s>"] + shown)[: len(target)]
        return SelfAttention(encoder, decoder, inputs)

    def explain(self, source: str, tokens: Sequence[str], method: str, steps: int = 32, protect: bool = True,
                cancelled: Callable[[], bool] | None = None, first: int | None = None,
                progress: Callable[[Explanation], None] | None = None) -> Explanation | None:
        """Attribution of each output position of `source` translated as `tokens` (pieces, "</s>"
        included) to the source pieces: input x gradient, integrated gradients (`steps`), or attention
        rollout (Transformers). None when `cancelled()` said so. Integrated gradients computes the
        output position `first` before the others and hands each partial map to `progress`. Raises
        InputError for an unknown method or rollout of an RNN."""
        from s2s_desktop.engine.attribution import attention_rollout, input_x_gradient, integrated_gradients

        if method not in EXPLAIN_METHODS:
            raise InputError(f"unknown attribution method {method!r}: choose one of {', '.join(EXPLAIN_METHODS)}")
        if method == "rollout" and self.loaded.config.arch != "transformer":
            raise InputError(f"{self.loaded.path}: attention rollout needs self-attention, which a "
                             f"{self.loaded.config.arch} model does not have")
        _check_steps(steps)
        start = time.perf_counter()
        batch, target = self._forced_batch(source, tokens, protect)
        if not target:
            raise InputError("there is no output to explain")
        if method == "rollout":
            encoder, cross, _ = self._transformer_attention(batch, len(target))
            scores = attention_rollout(encoder, cross)
        else:
            src_ids = batch.src[0, : int(batch.src_lengths[0]) - 1].tolist()
            tgt_ids = [i for i in target if i != EOS_ID]
            if method == "input_x_gradient":
                scores = input_x_gradient(self, src_ids, tgt_ids)[: len(target)]
            else:
                n = len(target)
                order = list(range(n))
                if first is not None and 0 <= first < n:
                    order = [first, *order[:first], *order[first + 1:]]

                def partial(rows: np.ndarray) -> None:  # (done, S) of the positions order[:done]
                    progress(Explanation(method, _normalised(_place(rows, order, n)), steps,
                                         time.perf_counter() - start, rows_done=len(rows)))

                raw = integrated_gradients(self, src_ids, tgt_ids, steps, cancelled, order,
                                           partial if progress is not None else None,
                                           first_alone=first is not None and 0 <= first < n)
                if raw is None:
                    return None
                scores = _place(raw, order, n)
            scores = _normalised(scores)
        return Explanation(method, np.asarray(scores, dtype=np.float32), steps if method == "integrated_gradients"
                           else 0, time.perf_counter() - start)

    def contrast(self, source: str, tokens: Sequence[str], position: int, alternative: str,
                 method: str = "integrated_gradients", steps: int = 32, protect: bool = True) -> Contrast:
        """Why `tokens[position]` and not `alternative` there (see `Contrast`), `source` translated as
        `tokens` (pieces, "</s>" included) and the prefix before `position` kept. Raises InputError for
        a position outside the output, an alternative outside the vocabulary or equal to the chosen
        piece, or an unknown method."""
        from s2s_desktop.engine.attribution import float32_model, input_x_gradient, integrated_gradients

        if method not in CONTRAST_METHODS:
            raise InputError(f"unknown contrast method {method!r}: choose one of {', '.join(CONTRAST_METHODS)}")
        _check_steps(steps)
        tokens = list(tokens)
        if not 0 <= position < len(tokens):
            raise InputError(f"position {position} is outside the output ({len(tokens)} pieces)")
        chosen = tokens[position]
        if alternative == chosen:
            raise InputError(f"the alternative {alternative!r} is the chosen piece: pick another one")
        alt_id = EOS_ID if alternative == EOS_PIECE else self.loaded.tgt_tok.piece_to_id(alternative)
        if alt_id is None:
            raise InputError(f"{alternative!r} is not in the target vocabulary")
        start = time.perf_counter()
        batch, target = self._forced_batch(source, tokens, protect)
        # where `position` is in the ids the model reads (a protected item is one surrogate there)
        at = len(self._forced_batch(source, tokens[:position], protect)[1])
        if at >= len(target):
            raise InputError(f"position {position} is outside the output the model reads")
        src_ids = batch.src[0, : int(batch.src_lengths[0]) - 1].tolist()
        tgt_ids = [i for i in target if i != EOS_ID]
        kwargs = dict(positions=[at], contrast=(at, alt_id), signed=True)
        scores = (input_x_gradient(self, src_ids, tgt_ids, **kwargs) if method == "input_x_gradient" else
                  integrated_gradients(self, src_ids, tgt_ids, steps, **kwargs))[0]
        with torch.inference_mode(), float32_model(self) as model:
            model.eval()
            enc = model.encode(batch.src, batch.src_lengths)
            hidden, _ = model.decode(enc, batch.tgt_in[:, : at + 1])
            logp = torch.log_softmax(model.logits(hidden[:, at]).float(), dim=-1)[0]
            difference = float(logp[target[at]] - logp[alt_id])
        return Contrast(position, chosen, alternative, np.asarray(scores, dtype=np.float32), difference, method,
                        steps if method == "integrated_gradients" else 0, time.perf_counter() - start)

    def beam_tree(self, source: str, opts: DecodeOptions = DecodeOptions()) -> BeamTree:
        """Every hypothesis the beam search of `source` (one sentence) kept at each step, with its score and
        fate (see `beam_tree`); searched as `translate` searches it (a beam of at least 2), so the
        chosen leaves are its n-best. Protected items appear as the surrogates the search saw."""
        from s2s_desktop.engine.decoding.beam_tree import TreeRecorder, build_tree

        opts = dataclasses.replace(opts, beam=max(opts.beam, 2), nbest=max(min(opts.nbest, max(opts.beam, 2)), 1))
        validate_options(opts)
        cleaned = clean_text(source)
        if not cleaned:
            raise InputError("there is no sentence to search")
        ids = self.loaded.src_tok.encode_batch([cleaned])
        masks, ids = mask_batch(self._protector() if opts.protect else None, [cleaned], ids)
        max_source, _ = self.loaded.length_limits(opts.max_source_tokens, CAP)
        recorder = TreeRecorder()
        self.model.eval()
        _, cap = self.loaded.length_limits(opts.max_source_tokens, CAP)
        decode_batch(self.model, [ids[0][:max_source]], self.device, opts, None, cap, self.rules, False, recorder)
        tok = self.loaded.tgt_tok
        nodes = build_tree(*recorder.history, recorder, recorder.chosen,
                           lambda i: EOS_PIECE if i == EOS_ID else tok.id_to_piece(i))
        return BeamTree(source, opts.beam, tuple(nodes))

    # -- sentences ---------------------------------------------------------------------------------
    def translate(
        self,
        texts: Sequence[str],
        opts: DecodeOptions = DecodeOptions(),
        batch_tokens: int = 4000,
        progress: Callable[[int, int], bool | None] | None = None,
        prefixes: Sequence[Prefix] | None = None,
        attention: bool = True,
    ) -> list[Translation]:
        """Translate independent sentences, batched by length; results are in input order.

        `prefixes[i]` (target text or pieces) forces the start of output i. `progress(done, total)` is
        called after each batch; returning False cancels, and the list then stops at the first input
        that was not translated. `attention` False (file translation, the server, evaluation) skips
        recording the attention where nothing needs it, for speed: the candidates' `attention` is then
        empty (0 layers), and the tokens are the same. A sentence whose protected item the output dropped
        or wrote twice is searched again with attention: restoring it reads where the model attended.
        """
        validate_options(opts)
        if opts.shortlist and self.loaded.shortlist is None:
            raise ConfigError(f"{self.loaded.path or 'this model'} has no shortlist: add one with `s2s shortlist`, "
                              "or translate without --shortlist")
        src_tok = self.loaded.src_tok
        cleaned = [clean_text(t) for t in texts]
        ids = src_tok.encode_batch(cleaned)
        protector = self._protector() if opts.protect else None
        masks, ids = mask_batch(protector, cleaned, ids)
        max_source, _ = self.loaded.length_limits(opts.max_source_tokens, CAP)
        truncated = [len(x) > max_source for x in ids]
        ids = [x[:max_source] for x in ids]
        forced = [self._prefix_ids(p) for p in masked_prefixes(protector, prefixes, masks)] if prefixes else [
            [] for _ in texts]
        if len(forced) != len(texts):
            raise InputError(f"{len(forced)} prefixes for {len(texts)} texts")
        results: list[Translation | None] = [None] * len(texts)
        todo = []
        for i, text in enumerate(cleaned):
            if text:
                todo.append(i)
            else:
                results[i] = _empty_translation(texts[i])
        done = len(texts) - len(todo)
        lens = np.array([len(ids[i]) + len(forced[i]) for i in todo])
        width = max(batch_tokens // opts.beam, 1)
        self.model.eval()
        batches = [[todo[j] for j in local] for local in bucket_batches(lens, None, width)]
        for chosen, found in zip(batches, self._searches(batches, ids, forced, opts, attention)):
            if not attention and protector is not None:
                found = self._with_attention_where_restoring_reads_it(protector, chosen, found, ids, forced, masks, opts)
            for i, nbest in zip(chosen, found):
                source_tokens = tuple(src_tok.ids_to_pieces(ids[i])) + (EOS_PIECE,)
                cands = tuple(self._candidate(h, len(forced[i])) for h in nbest)
                if masks[i] is not None:  # the non-translatables back in place of their surrogates
                    source_tokens, cands = protector.restored(masks[i], source_tokens, cands)
                results[i] = Translation(texts[i], source_tokens, cands[0], cands, truncated[i],
                                         degenerate_reason(source_tokens, cands[0].tokens,
                                                           self._output_limit(len(ids[i]), len(forced[i]), opts)))
            done += len(chosen)
            if progress is not None and progress(done, len(texts)) is False:
                break
        out: list[Translation] = []
        for r in results:
            if r is None:
                break
            out.append(r)
        return out

    def _with_attention_where_restoring_reads_it(self, protector: Protector, chosen: list[int], found: list,
                                                 ids, forced, masks, opts: DecodeOptions) -> list:
        """`found` (searched without attention), with the sentences whose protected items cannot be
        restored without it (an item the output dropped or wrote twice) searched again with it."""
        tok = self.loaded.tgt_tok

        def pieces(h: Hypothesis) -> list[str]:
            return [EOS_PIECE if i == EOS_ID else tok.id_to_piece(i) for i in h.ids]

        again = [j for j, i in enumerate(chosen) if masks[i] is not None and any(
            protector.needs_attention(masks[i], len(ids[i]), pieces(h)) for h in found[j])]
        if not again:
            return found
        redone = self._search([ids[chosen[j]] for j in again], [forced[chosen[j]] for j in again], opts, True)
        found = list(found)
        for j, nbest in zip(again, redone):
            found[j] = nbest
        return found

    pool = None  # a DecodePool (pool.py) once `set_workers` asked for more than one process

    def set_workers(self, workers: int) -> None:
        """Decode batches in `workers` processes of one torch thread each (pool.py), for files and lists of
        sentences that make several batches; 1 decodes here. Only for a model opened from a file."""
        from s2s_desktop.engine.decoding.pool import DecodePool

        if workers < 1:
            raise ConfigError(f"--workers must be at least 1 (got {workers})")
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        if workers > 1:
            if self.device.type != "cpu":
                raise ConfigError("--workers is for the CPU; on a GPU one process decodes")
            self.pool = DecodePool(self.loaded.path, self.precision, workers)

    def close(self) -> None:
        """Stop the worker processes, if any (they also stop when the translator is collected)."""
        self.set_workers(1)

    def _searches(self, batches: list[list[int]], ids, forced, opts: DecodeOptions, attention: bool):
        """The hypotheses of each batch (indices into `ids` / `forced`), in order: in the pool's worker
        processes when there is one and more than one batch, else here."""
        jobs = [([ids[i] for i in chosen], [forced[i] for i in chosen]) for chosen in batches]
        if self.pool is None or len(jobs) < 2:
            return (self._search(a, f, opts, attention) for a, f in jobs)
        return self.pool.search(jobs, opts, attention)

    def _search(self, ids: list[list[int]], forced: list[list[int]], opts: DecodeOptions,
                attention: bool = True) -> list[list[Hypothesis]]:
        _, cap = self.loaded.length_limits(opts.max_source_tokens, CAP)
        return decode_batch(self.model, ids, self.device, opts, forced if any(forced) else None, cap, self.rules,
                            attention, shortlist=self.loaded.shortlist if opts.shortlist else None)

    def _output_limit(self, n_source: int, n_forced: int, opts: DecodeOptions) -> int:
        """The most pieces (EOS included) the search allowed an output of `n_source` source pieces."""
        _, cap = self.loaded.length_limits(opts.max_source_tokens, CAP)
        return int(max_lengths(torch.tensor([n_source + 1]), opts.max_len_a, opts.max_len_b, cap)[0]) + n_forced

    def _protector(self) -> Protector:
        """The masking of non-translatables for this model and target language, built on first use."""
        lang = self.target_language or self.loaded.meta["tgt_lang"]
        if getattr(self, "_protect", None) is None or self._protect.tgt_lang != lang:
            self._protect = Protector(self.loaded.src_tok, self.loaded.tgt_tok, self.loaded.meta["src_lang"], lang)
        return self._protect

    def _prefix_ids(self, prefix: Prefix) -> list[int]:
        tok = self.loaded.tgt_tok
        if prefix is None or (isinstance(prefix, str) and not prefix.strip()):
            return []
        if isinstance(prefix, str):
            return tok.encode(clean_text(prefix))
        ids = []
        for piece in prefix:
            if piece == UNK_PIECE:
                ids.append(UNK_ID)
                continue
            i = tok.piece_to_id(piece)
            if i is None:
                raise InputError(f"the forced prefix contains {piece!r}, which is not in the target vocabulary")
            ids.append(i)
        return ids

    def _candidate(self, h: Hypothesis, prefix_length: int) -> Candidate:
        tok = self.loaded.tgt_tok

        def piece(i: int) -> str:
            return EOS_PIECE if i == EOS_ID else tok.id_to_piece(i)

        return Candidate(
            text=tok.decode(h.ids),
            tokens=tuple(piece(i) for i in h.ids),
            token_probs=h.token_probs,
            log_prob=h.log_prob,
            score=h.score,
            attention=h.attention,
            alt_tokens=tuple(tuple(piece(i) for i in row) for row in h.alt_ids),
            alt_probs=h.alt_probs,
            prefix_length=prefix_length,
            token_entropy=h.entropy if h.alt_ids.ndim == 2 and h.alt_ids.shape[1] else None,  # only with alternatives
        )

    # -- paragraphs and files ----------------------------------------------------------------------
    def translate_paragraph(
        self,
        text: str,
        opts: DecodeOptions = DecodeOptions(),
        progress: Callable[[int, int], bool | None] | None = None,
    ) -> ParagraphTranslation | None:
        """Split into sentences, translate them as one batch, re-join with the original separators:
        what every front end translates typed or pasted text with (a model is trained on sentences; a
        paragraph fed whole gets cut short or loops).

        `progress` works as in `translate`; when it cancels, the result is None (a partial paragraph
        would misalign the separators).
        """
        result = self.translate_paragraphs([text], opts, progress=progress)
        return None if result is None else result[0]

    def translate_paragraphs(
        self,
        texts: Sequence[str],
        opts: DecodeOptions = DecodeOptions(),
        batch_tokens: int = 4000,
        progress: Callable[[int, int], bool | None] | None = None,
        attention: bool = True,
    ) -> list[ParagraphTranslation] | None:
        """`translate_paragraph` for several texts (the CLI's lines), their sentences batched together;
        None when `progress` cancels. `attention` as in `translate`."""
        segs = [split_sentences(text) for text in texts]
        units = [s for seg in segs for s in seg.sentences]
        done = self.translate(units, opts, batch_tokens, progress, attention=attention) if units else []
        if len(done) != len(units):
            return None
        out, k = [], 0
        for text, seg in zip(texts, segs):
            out.append(ParagraphTranslation(text, tuple(done[k : k + len(seg.sentences)]), seg.separators, seg.leading))
            k += len(seg.sentences)
        return out

    def translate_file(
        self,
        src: str | Path,
        dst: str | Path,
        opts: DecodeOptions = DecodeOptions(),
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
        chunk: int = 256,
        split: bool = False,
    ) -> FileSummary:
        """Translate a text file line by line (one output line per input line, empty lines kept).

        Works in chunks of `chunk` sentences so that `progress(lines done, lines)` is called often and
        `cancel` is honoured within one chunk; `chunk` 0 sizes them as it goes, from one sentence, so
        that progress comes about every PROGRESS_SECONDS (the app's dialog). With `split`, each line is
        split into sentences translated one by one (as the app's translate panel does). A cancelled
        run writes nothing. The output is written atomically.
        """
        lines = read_lines(src)
        opts = dataclasses.replace(opts, alternatives=0)  # only the text is written
        start = time.perf_counter()
        segments = [split_sentences(line) if split else None for line in lines]
        units: list[str] = []  # the sentences to translate, in order
        ends: list[int] = []  # ends[i]: units of lines 0..i
        for line, seg in zip(lines, segments):
            units.extend(seg.sentences if seg is not None else [line])
            ends.append(len(units))
        texts: list[str] = []
        size = chunk if chunk > 0 else 1
        lines_done = 0
        while len(texts) < len(units) or lines_done < len(lines):
            if cancel is not None and cancel.is_set():
                return FileSummary(lines_done, time.perf_counter() - start, True, "")
            began = time.perf_counter()
            batch = units[len(texts) : len(texts) + size]
            texts.extend(t.text for t in self.translate(batch, opts, attention=False))
            if chunk <= 0 and batch:  # the next chunk takes about PROGRESS_SECONDS
                per_unit = (time.perf_counter() - began) / len(batch)
                size = int(min(max(PROGRESS_SECONDS / max(per_unit, 1e-6), 1), 64))
            while lines_done < len(lines) and ends[lines_done] <= len(texts):
                lines_done += 1
            if progress is not None:
                progress(lines_done, len(lines))
        out, k = [], 0
        for seg, end_ in zip(segments, ends):
            if seg is None:
                out.append(texts[k])
            else:
                out.append("".join(t + sep for t, sep in zip(texts[k:end_], seg.separators)).strip())
            k = end_
        atomic_write(dst, "".join(line + "\n" for line in out).encode("utf-8"), InputError)
        return FileSummary(len(out), time.perf_counter() - start, False, str(dst))


def _empty_translation(source: str) -> Translation:
    cand = Candidate("", (), np.zeros(0), 0.0, 0.0, np.zeros((1, 1, 0, 0)), (), np.zeros((0, 0)))
    return Translation(source, (), cand, (cand,), False)
