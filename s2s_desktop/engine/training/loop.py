"""The trainer: a generator of typed events, checking a stop flag at every step.

    for event in train(model_cfg, train_cfg, stop=threading.Event()):
        ...   # StepReport, EvalReport, SampleTranslations, ModelSaved, Notice, Finished, Failed

The CLI prints these events and the GUI plots them; each is also appended to `metrics.jsonl` in the
run folder. A run folder holds `config.json`, `metrics.jsonl`, `best.s2s`, `last.s2s` and the resume
state; `train(..., resume=True)` continues a stopped or killed run exactly (same batches, RNG and
optimizer state), so its loss trajectory is the one the uninterrupted run would have had.

In a process started by torchrun, `train` is one rank of a distributed run (see `distributed`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from s2s_desktop import __version__
from s2s_desktop.engine.api import (
    EOS_ID,
    EvalReport,
    Event,
    Failed,
    Finished,
    ModelConfig,
    ModelSaved,
    Notice,
    RunStarted,
    Sample,
    SampleTranslations,
    StepReport,
    TrainConfig,
)
from s2s_desktop.engine.data.batching import (
    EpochBatches,
    bucket_batches,
    make_batch,
    target_tokens,
)
from s2s_desktop.engine.formats.checkpoint import (
    MODEL_SUFFIX,
    ModelMeta,
    atomic_write,
    save_model,
)
from s2s_desktop.engine.config import validate_model_config, validate_train_config
from s2s_desktop.engine.data.dataset import (
    PreparedData,
    build_tokenizers,
    prepare_data,
    read_corpora,
)
from s2s_desktop.engine.device import device_label
from s2s_desktop.engine.training.distributed import Ranks
from s2s_desktop.engine.metrics import score
from s2s_desktop.engine.models.model import Seq2Seq, build_model, sequence_loss
from s2s_desktop.engine.training.run_folder import read_metrics  # noqa: F401 - part of this module's API
from s2s_desktop.engine.training.resume_state import (
    RESUME_FILE,
    Progress,
    ResumeState,
    load_resume,
    save_resume,
)
from s2s_desktop.engine.decoding.search import greedy_search, max_lengths
from s2s_desktop.engine.data.tokenizer import Tokenizer
from s2s_desktop.errors import ConfigError, S2SError, TrainingError

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
BEST_FILE = "best" + MODEL_SUFFIX
LAST_FILE = "last" + MODEL_SUFFIX
MAX_BAD_STEPS = 5  # consecutive non-finite losses before the run fails
# Options that may change when a run is resumed (how long and where it runs, not what it learns).
RESUMABLE_OVERRIDES = ("max_steps", "max_epochs", "max_minutes", "device", "threads", "patience", "log_every")


class MetricsLog:
    """Append-only JSON-lines log; tolerates a truncated last line left by a killed process."""

    def __init__(self, path: Path):
        self.path = path
        if path.exists() and path.stat().st_size:
            with open(path, "rb+") as fh:
                fh.seek(-1, 2)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115  (kept open for the whole run)

    def write(self, event: Event) -> None:
        try:
            self._fh.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
            self._fh.flush()
        except OSError as exc:
            raise TrainingError(f"Could not append to {self.path}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        self._fh.close()


class LRSchedule:
    """Linear warmup, then constant, inverse-square-root decay, cosine decay, or reduce-on-plateau.

    Cosine decays to ``min_lr`` at ``max_steps``: for a fixed budget it ends with a small learning
    rate (what averaging checkpoints only approximates).
    """

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg

    def lr(self, step: int, progress: Progress) -> float:
        cfg = self.cfg
        warm = cfg.warmup_steps
        if cfg.schedule == "inverse-sqrt":
            factor = min(step / warm, math.sqrt(warm / max(step, 1)))
        elif cfg.schedule == "cosine" and step > warm:
            done = min(1.0, (step - warm) / max(1, cfg.max_steps - warm))
            floor = min(cfg.min_lr / cfg.lr, 1.0)
            factor = floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * done))
        else:
            factor = min(1.0, step / warm) if warm else 1.0
        if cfg.schedule == "plateau":
            factor *= progress.lr_scale
        return max(cfg.lr * factor, cfg.min_lr if step > warm else 0.0)

    def after_eval(self, improved: bool, progress: Progress) -> bool:
        """Update the plateau counter; True when the LR was cut."""
        if self.cfg.schedule != "plateau":
            return False
        if improved:
            progress.plateau_bad = 0
            return False
        progress.plateau_bad += 1
        if progress.plateau_bad >= self.cfg.plateau_patience and self.cfg.lr * progress.lr_scale > self.cfg.min_lr:
            progress.lr_scale *= self.cfg.plateau_factor
            progress.plateau_bad = 0
            return True
        return False


def _better(metric: str, value: float, best: float | None) -> bool:
    if best is None:
        return True
    return value < best if metric == "loss" else value > best


def _autocast(device: torch.device, precision: str):
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    if not use_bf16:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def train(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    stop: threading.Event | None = None,
    pause: threading.Event | None = None,
    resume: bool = False,
) -> Iterator[Event]:
    """Train, yielding events. Errors in user input raise S2SError before the first event; problems
    during the run (NaN loss, disk full) end it with a `Failed` event."""
    ranks = Ranks.join()  # the processes of a torchrun job; a single one otherwise
    try:
        run = _Run.open(model_cfg, train_cfg, resume, ranks)
        try:
            yield from run.loop(stop or threading.Event(), pause)
        finally:
            run.close()
    finally:
        ranks.leave()


class _Run:
    """State of one training run; `loop` is the generator behind `train`."""

    @classmethod
    def open(cls, model_cfg: ModelConfig, cfg: TrainConfig, resume: bool, ranks: Ranks) -> _Run:
        run_dir = Path(cfg.out_dir)
        state = ranks.from_main(lambda: _existing_state(run_dir, resume))  # rank 0 reads the run folder
        if state is not None:
            saved_train = TrainConfig.from_dict(state.configs["train"])
            # Options given now (those that differ from the defaults) replace the saved ones.
            defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
            overrides = {k: getattr(cfg, k) for k in RESUMABLE_OVERRIDES if getattr(cfg, k) != defaults[k]}
            cfg = dataclasses.replace(saved_train, out_dir=str(run_dir), **overrides)
            model_cfg = ModelConfig.from_dict(state.configs["model"])
            if state.configs.get("processes", 1) != ranks.world:
                raise ConfigError(
                    f"{run_dir} was trained in {state.configs.get('processes', 1)} process(es); resume it with "
                    f"as many (--nproc-per-node), not {ranks.world}"
                )
        validate_train_config(cfg)
        device = ranks.device(cfg.device, cfg.threads)
        torch.manual_seed(cfg.seed)
        tokenizers = state.tokenizers() if state else None
        if tokenizers is None and ranks.world > 1:
            # SentencePiece is trained once, on rank 0: every rank must cut the corpus into the same pieces.
            tokenizers = _tokenizers(ranks.from_main(lambda: _train_tokenizers(cfg)))
        with ranks.together():  # no collectives in here: a failed rank would leave the others waiting in one
            data, model_cfg, model, optimizer, progress, configs = cls._build(
                model_cfg, cfg, device, state, tokenizers, ranks
            )
        return cls(run_dir, model_cfg, cfg, device, data, model, optimizer, progress, configs, state is not None, ranks)

    @staticmethod
    def _build(model_cfg, cfg, device, state, tokenizers, ranks):
        """Data, model, optimizer and the run folder: the part of `open` that involves no other process."""
        run_dir = Path(cfg.out_dir)
        data = prepare_data(cfg, tokenizers)
        model_cfg = dataclasses.replace(
            model_cfg, src_vocab_size=data.src_tok.vocab_size, tgt_vocab_size=data.tgt_tok.vocab_size
        )
        if cfg.joint_vocab is False and model_cfg.share_embeddings:
            raise ConfigError("--share-embeddings needs --joint-vocab")
        if model_cfg.arch == "transformer" and cfg.teacher_forcing < 1.0:
            raise ConfigError("--teacher-forcing below 1 (scheduled sampling) is only available for --arch rnn")
        validate_model_config(model_cfg)
        if ranks.is_main:
            try:
                run_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise TrainingError(f"Cannot create the run folder {run_dir}: {exc.strerror or exc}") from exc
        model = build_model(model_cfg).to(device)
        fused = device.type == "cuda"
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=cfg.lr, betas=(0.9, cfg.adam_beta2), weight_decay=cfg.weight_decay, fused=fused
        )
        progress = Progress()
        if state is not None:
            state.restore(model, optimizer)
            ranks.restore_rng(state.tensors)
            progress = state.progress
        else:
            ranks.seed(cfg.seed)
        configs = {"model": model_cfg.to_dict(), "train": cfg.to_dict(), "app_version": __version__}
        if ranks.world > 1:
            configs["processes"] = ranks.world
        if ranks.is_main:
            atomic_write(run_dir / CONFIG_FILE, json.dumps(configs, indent=2).encode())
        return data, model_cfg, model, optimizer, progress, configs

    def __init__(self, run_dir, model_cfg, cfg, device, data, model, optimizer, progress, configs, resumed, ranks):
        self.run_dir: Path = run_dir
        self.model_cfg: ModelConfig = model_cfg
        self.cfg: TrainConfig = cfg
        self.device: torch.device = device
        self.data: PreparedData = data
        self.model: Seq2Seq = model
        self.optimizer = optimizer
        self.progress: Progress = progress
        self.configs = configs
        self.resumed = resumed
        self.ranks: Ranks = ranks
        self.schedule = LRSchedule(cfg)
        # --batch-tokens is per process: the global batches hold N times as many tokens.
        self.batches = EpochBatches(data.train_src, data.train_tgt, cfg.batch_tokens * ranks.world, cfg.seed)
        self.loss = ranks.loss_function(model, self._loss)
        self.log = MetricsLog(run_dir / METRICS_FILE) if ranks.is_main else None
        self.sample_idx = self._sample_indices()

    def close(self) -> None:
        self.loss = None  # DistributedDataParallel holds the process group: let it go first
        if self.log is not None:
            self.log.close()

    def _emit(self, event: Event) -> Event:
        """Every rank yields the run's events; rank 0 logs them."""
        if self.log is not None:
            self.log.write(event)
        return event

    def _loss(self, model: Seq2Seq, batch):
        return sequence_loss(model, batch, self.cfg.label_smoothing, self.cfg.teacher_forcing)

    def _sample_indices(self) -> np.ndarray:
        n = len(self.data.valid_src)
        if self.cfg.valid_sample and self.cfg.valid_sample < n:
            rng = np.random.default_rng(self.cfg.seed)
            return np.sort(rng.choice(n, self.cfg.valid_sample, replace=False))
        return np.arange(n)

    # -- the loop ----------------------------------------------------------------------------------
    def loop(self, stop: threading.Event, pause: threading.Event | None) -> Iterator[Event]:
        p = self.progress
        cfg = self.cfg
        yield self._emit(
            RunStarted(
                run_dir=str(self.run_dir),
                device=self.ranks.label(device_label(str(self.device))),
                num_params=self.model.num_parameters(),
                resumed_from_step=p.step if self.resumed else 0,
                data=self.data.summary,
                model=self.model_cfg.to_dict(),
                train=cfg.to_dict(),
            )
        )
        reason = None
        bad_steps = 0
        interval = _Interval()
        clock = time.perf_counter()
        elapsed_before = p.elapsed
        try:
            while reason is None:
                batches = self.batches.indices(p.epoch)
                while p.batch_in_epoch < len(batches):
                    if self.ranks.any(stop.is_set()):  # every rank stops at the same step
                        reason = "stopped"
                        break
                    if pause is not None and pause.is_set():
                        paused_at = time.perf_counter()
                        while pause.is_set() and not stop.is_set():
                            time.sleep(0.05)
                        clock += time.perf_counter() - paused_at  # paused time is not training time
                        continue
                    indices = batches[p.batch_in_epoch]
                    p.batch_in_epoch += 1
                    ok = self._train_step(indices, interval)
                    p.elapsed = elapsed_before + time.perf_counter() - clock
                    if not ok:
                        bad_steps += 1
                        yield self._emit(Notice(p.step, f"step {p.step + 1}: the loss is not finite; batch skipped"))
                        if bad_steps >= MAX_BAD_STEPS:
                            raise TrainingError(
                                f"the loss was NaN or infinite for {MAX_BAD_STEPS} steps in a row at step {p.step}; "
                                "lower the learning rate (--lr) or raise --warmup-steps. The last saved model "
                                "is kept."
                            )
                        continue
                    bad_steps = 0
                    if p.step % cfg.log_every == 0:
                        yield self._emit(interval.report(p, self.optimizer.param_groups[0]["lr"]))
                    if p.step % cfg.valid_every == 0:
                        yield from self._evaluate_and_save()
                        if self.ranks.from_main(lambda: bool(cfg.patience and p.bad_evals >= cfg.patience)):
                            reason = "early-stopping"
                    reason = reason or self._limit_reached()
                    if reason:
                        break
                else:
                    p.epoch += 1
                    p.batch_in_epoch = 0
                    if cfg.max_epochs is not None and p.epoch >= cfg.max_epochs:
                        reason = "max-epochs"
            if p.last_eval_step != p.step and p.step > 0:
                # An evaluation off the schedule (the run stopped between two): it saves models but
                # leaves the schedule and early stopping alone, so that a resumed run continues
                # exactly as the uninterrupted one would have.
                yield from self._evaluate_and_save(scheduled=False)
            elif p.step > 0:
                self._save_resume()
        except S2SError as exc:
            failed = Failed(p.step, str(exc))
            try:
                self._emit(failed)
            except TrainingError:
                pass  # the log itself is what failed; the event still reaches the caller
            yield failed
            return
        best = self.run_dir / BEST_FILE
        yield self._emit(
            Finished(
                step=p.step,
                reason=reason or "stopped",
                best_path=str(best) if best.exists() else "",
                best_step=p.best_step,
                best_scores=dict(p.best_scores),
                elapsed=p.elapsed,
            )
        )

    def _limit_reached(self) -> str | None:
        cfg, p = self.cfg, self.progress
        if cfg.max_steps is not None and p.step >= cfg.max_steps:
            return "max-steps"
        if cfg.max_minutes is not None and self.ranks.any(p.elapsed >= cfg.max_minutes * 60):
            return "max-minutes"
        return None

    def _train_step(self, indices: np.ndarray, interval: _Interval) -> bool:
        p, cfg, ranks = self.progress, self.cfg, self.ranks
        mine, weight = ranks.batch_part(indices)  # on a single process: all of it, weight 1
        batch = make_batch(self.data.train_src, self.data.train_tgt, mine, self.device)
        n_tokens = target_tokens(self.data.train_tgt, indices)  # of the whole (global) batch
        lr = self.schedule.lr(p.step + 1, p)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        with _autocast(self.device, cfg.precision):
            loss, nll = self.loss(batch)
        loss_sum, nll_sum = ranks.sum(weight * float(loss.detach()), weight * float(nll.detach()))
        if not math.isfinite(loss_sum):  # the same sum on every rank: all of them skip the batch
            self.optimizer.zero_grad(set_to_none=True)
            return False
        # The per-token loss of the global batch; DDP averages over the N ranks, hence "/ N".
        ranks.backward(loss * weight / (n_tokens / ranks.world))
        if cfg.clip_norm > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_norm))
        else:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), float("inf")))
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        p.step += 1
        p.tokens_seen += n_tokens
        interval.add(loss_sum, nll_sum, n_tokens, grad_norm)
        return True

    # -- validation and saving ---------------------------------------------------------------------
    def _evaluate_and_save(self, scheduled: bool = True) -> Iterator[Event]:
        p, cfg = self.progress, self.cfg
        val_loss = self._validation_loss()
        decode_start = time.perf_counter()
        idx = self.sample_idx
        hyps = self.ranks.map(  # each rank decodes a share
            lambda part: translate_ids(self.model, self.data.tgt_tok, [self.data.valid_src[i] for i in part], self.device),
            idx,
        )
        refs = [self.data.valid_targets[i] for i in idx]
        scores = score(hyps, refs)
        decode_seconds = time.perf_counter() - decode_start
        value = {"loss": val_loss, "bleu": scores.bleu, "chrf": scores.chrf}[cfg.early_stopping]
        improved = _better(cfg.early_stopping, value, p.best_file_value)
        if improved:
            p.best_file_value = value
            p.best_step = p.step
            p.best_scores = {"loss": val_loss, "ppl": _ppl(val_loss), "bleu": scores.bleu, "chrf": scores.chrf}
        cut = False
        if scheduled:
            progress_made = _better(cfg.early_stopping, value, p.best_value)
            if progress_made:
                p.best_value = value
                p.bad_evals = 0
            else:
                p.bad_evals += 1
            cut = self.schedule.after_eval(progress_made, p)
        p.last_eval_step = p.step
        yield self._emit(
            EvalReport(
                step=p.step,
                epoch=p.epoch,
                loss=val_loss,
                ppl=_ppl(val_loss),
                bleu=scores.bleu,
                chrf=scores.chrf,
                is_best=improved,
                metric=cfg.early_stopping,
                elapsed=p.elapsed,
                decode_seconds=decode_seconds,
            )
        )
        chosen = idx[: cfg.samples_shown]
        attention = sample_attention(self.model, self.data.src_tok, self.data.tgt_tok,
                                     [self.data.valid_src[i] for i in chosen], self.device)
        shown = [
            Sample(self.data.valid_sources[i], self.data.valid_targets[i], hyps[j], *attention[j])
            for j, i in enumerate(chosen)
        ]
        if shown:
            yield self._emit(SampleTranslations(p.step, tuple(shown)))
        if cut:
            yield self._emit(Notice(p.step, f"validation did not improve: learning rate cut to {cfg.lr * p.lr_scale:.3g}"))
        if improved:
            yield self._emit(self._save(BEST_FILE, "best"))
        yield self._emit(self._save(LAST_FILE, "last"))
        if cfg.keep_last:
            yield self._emit(self._save(f"step-{p.step:07d}{MODEL_SUFFIX}", "step"))
            p.kept_steps.append(p.step)
            while len(p.kept_steps) > cfg.keep_last:
                old = self.run_dir / f"step-{p.kept_steps.pop(0):07d}{MODEL_SUFFIX}"
                if self.ranks.is_main:
                    old.unlink(missing_ok=True)
        self._save_resume()

    def _save_resume(self) -> None:
        rng = self.ranks.rng_states()  # every rank's random state, for an exact resume
        if self.ranks.is_main:
            save_resume(self.run_dir, self.model, self.optimizer, self.progress, self.configs, self.data.src_tok,
                        self.data.tgt_tok, extra=rng)

    def _save(self, name: str, role: str) -> ModelSaved:
        """Rank 0 writes the file; every rank reports the save."""
        p = self.progress
        meta = ModelMeta(
            src_lang=self.cfg.src_lang,
            tgt_lang=self.cfg.tgt_lang,
            joint_vocab=self.cfg.joint_vocab,
            training={
                "steps": p.step,
                "epochs": p.epoch,
                "tokens_seen": p.tokens_seen,
                "train_seconds": round(p.elapsed, 1),
                "data": dataclasses.asdict(self.data.summary),
                "corpus": self.cfg.train_tsv or f"{self.cfg.train_src} + {self.cfg.train_tgt}",
                "best": {"step": p.best_step, **p.best_scores},
                "early_stopping": self.cfg.early_stopping,
                "device": str(self.device),
            },
        )
        path = self.run_dir / name
        if self.ranks.is_main:
            save_model(path, self.model, self.data.src_tok, self.data.tgt_tok, meta)
        return ModelSaved(p.step, str(path), role)

    @torch.inference_mode()
    def _validation_loss(self) -> float:
        self.model.eval()
        total, count = 0.0, 0
        lens_s = np.array([len(x) for x in self.data.valid_src])
        lens_t = np.array([len(x) for x in self.data.valid_tgt])
        for indices in self.ranks.part(bucket_batches(lens_s, lens_t, self.cfg.batch_tokens)):
            batch = make_batch(self.data.valid_src, self.data.valid_tgt, indices, self.device)
            with _autocast(self.device, self.cfg.precision):
                _, nll = sequence_loss(self.model, batch, 0.0)
            total += float(nll)
            count += batch.n_tokens
        total, count = self.ranks.sum(total, count)
        return total / max(count, 1)


def _existing_state(run_dir: Path, resume: bool) -> ResumeState | None:
    """The resume state of the run to continue, after checking that a new run starts in a new folder."""
    if resume:
        return load_resume(run_dir)
    if (run_dir / RESUME_FILE).exists() or (run_dir / BEST_FILE).exists():
        raise ConfigError(
            f"{run_dir} already holds a training run; continue it with --resume or choose a new --out folder"
        )
    return None


def _train_tokenizers(cfg: TrainConfig) -> tuple[bytes, bytes]:
    src, tgt = build_tokenizers(cfg, read_corpora(cfg)[0])
    return src.model_bytes, tgt.model_bytes


def _tokenizers(model_bytes: tuple[bytes, bytes]) -> tuple[Tokenizer, Tokenizer]:
    src = Tokenizer(model_bytes[0])
    return src, (src if model_bytes[1] == model_bytes[0] else Tokenizer(model_bytes[1]))


def _ppl(nll: float) -> float:
    return float(math.exp(min(nll, 50.0)))


class _Interval:
    """Sums between two step reports."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.loss = self.nll = self.grad = 0.0
        self.tokens = self.steps = 0
        self.start = time.perf_counter()

    def add(self, loss: float, nll: float, tokens: int, grad_norm: float):
        self.loss += loss
        self.nll += nll
        self.tokens += tokens
        self.grad += grad_norm
        self.steps += 1

    def report(self, p: Progress, lr: float) -> StepReport:
        seconds = max(time.perf_counter() - self.start, 1e-9)
        out = StepReport(
            step=p.step,
            epoch=p.epoch,
            loss=self.loss / max(self.tokens, 1),
            nll=self.nll / max(self.tokens, 1),
            lr=lr,
            tokens_per_sec=self.tokens / seconds,
            grad_norm=self.grad / max(self.steps, 1),
            tokens_seen=p.tokens_seen,
            elapsed=p.elapsed,
        )
        self.reset()
        return out


@torch.inference_mode()
def sample_attention(model: Seq2Seq, src_tok, tgt_tok, src_ids: list[list[int]], device) -> list[tuple]:
    """(source pieces, target pieces, attention rows) of the greedy decode of a few sentences: the last
    decoder layer, averaged over heads, rounded to 4 decimals (it goes into metrics.jsonl)."""
    if not src_ids:
        return []
    model.eval()
    batch = make_batch(src_ids, None, np.arange(len(src_ids)), device)
    enc = model.encode(batch.src, batch.src_lengths)
    hyps = greedy_search(model, enc, max_lengths(batch.src_lengths, 1.5, 10, 512), topk=0)
    out = []
    for ids, h in zip(src_ids, hyps):
        weights = np.asarray(h.attention[-1]).mean(axis=0)  # [T, S]
        src = tuple(src_tok.ids_to_pieces(ids)) + ("</s>",)
        tgt = tuple("</s>" if i == EOS_ID else tgt_tok.id_to_piece(int(i)) for i in h.ids)
        out.append((src, tgt, tuple(tuple(round(float(v), 4) for v in row) for row in weights)))
    return out


@torch.inference_mode()
def translate_ids(
    model: Seq2Seq, tgt_tok, src_ids: list[list[int]], device, batch_tokens: int = 6000, max_a: float = 1.5, max_b: int = 10
) -> list[str]:
    """Greedy translations of already-encoded sources, batched by length, in input order."""
    model.eval()
    out: list[str] = [""] * len(src_ids)
    lens = np.array([len(x) for x in src_ids])
    for indices in bucket_batches(lens, None, batch_tokens):
        batch = make_batch(src_ids, None, indices, device)
        enc = model.encode(batch.src, batch.src_lengths)
        hyps = greedy_search(model, enc, max_lengths(batch.src_lengths, max_a, max_b, 512), topk=0)
        for i, h in zip(indices, hyps):
            out[i] = tgt_tok.decode(h.ids)
    return out
