"""The trainer: a generator of typed events, checking a stop flag at every step.

    for event in train(model_cfg, train_cfg, stop=threading.Event()):
        ...   # StepReport, EvalReport, SampleTranslations, ModelSaved, Notice, Finished, Failed

`stop` ends the run after the current step, with a last validation of the steps since the previous
one; `hurry` (set with `stop`) skips that validation, or cuts one in progress short, and saves at once.

The CLI prints these events and the GUI plots them; each is also appended to `metrics.jsonl` in the
run folder (its names, writer and readers: `run_folder`). A run folder holds `config.json`,
`metrics.jsonl`, `best.s2s`, `last.s2s` and the resume state; `train(..., resume=True)` continues a
stopped or killed run exactly (same batches, RNG and optimizer state), so its loss trajectory is the
one the uninterrupted run would have had.

In a process started by torchrun, `train` is one rank of a distributed run (see `distributed`). The
learning-rate schedule is in `schedule`, what one validation computes in `validation`.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from s2s_desktop.engine import metrics
from s2s_desktop.engine.api import (
    EvalReport,
    Event,
    Failed,
    Finished,
    ModelConfig,
    ModelSaved,
    Notice,
    RunStarted,
    SampleTranslations,
    TrainConfig,
)
from s2s_desktop.engine.config import run_config, validate, write_run_config
from s2s_desktop.engine.data.batching import EpochBatches, make_batch, target_tokens
from s2s_desktop.engine.data.dataset import (
    PreparedData,
    build_tokenizers,
    prepare_data,
    read_corpora,
)
from s2s_desktop.engine.data.tokenizer import Tokenizer
from s2s_desktop.engine.device import device_label
from s2s_desktop.engine.formats.atomic import remove_leftovers
from s2s_desktop.engine.formats.checkpoint import ModelMeta, save_model
from s2s_desktop.engine.models.model import Seq2Seq, build_model, sequence_loss
from s2s_desktop.engine.training.distributed import Ranks
from s2s_desktop.engine.training.resume_state import Progress, ResumeState, load_resume, save_resume
from s2s_desktop.engine.training.run_folder import (
    BEST_FILE,
    CONFIG_FILE,
    LAST_FILE,
    METRICS_FILE,
    MetricsLog,
    holds_run,
    step_file,
    written_by_the_trainer,
)
from s2s_desktop.engine.training.schedule import LRSchedule
from s2s_desktop.engine.training.step_interval import StepInterval
from s2s_desktop.engine.training.validation import ValidationSkipped, autocast, perplexity, samples, validate_run
from s2s_desktop.errors import ConfigError, S2SError, TrainingError

MAX_BAD_STEPS = 5  # consecutive non-finite losses before the run fails
# Options that may change when a run is resumed (how long and where it runs, not what it learns).
RESUMABLE_OVERRIDES = ("max_steps", "max_epochs", "max_minutes", "device", "threads", "patience", "log_every")


def train(
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    stop: threading.Event | None = None,
    pause: threading.Event | None = None,
    resume: bool = False,
    hurry: threading.Event | None = None,
) -> Iterator[Event]:
    """Train, yielding events. Errors in user input raise S2SError before the first event; problems
    during the run (NaN loss, disk full) end it with a `Failed` event."""
    ranks = Ranks.join()  # the processes of a torchrun job; a single one otherwise
    finished = False
    try:
        run = _Run.open(model_cfg, train_cfg, resume, ranks)
        run.hurry = hurry
        try:
            yield from run.loop(stop or threading.Event(), pause)
        finally:
            run.close()
        finished = True
    finally:
        ranks.leave(finished)


@dataclasses.dataclass
class _Built:
    """What `_Run._build` makes: the model config with the vocabulary sizes of the data, the data, the
    model and its optimizer (restored on resume), the progress so far and what config.json holds."""

    model_cfg: ModelConfig
    data: PreparedData
    model: Seq2Seq
    optimizer: torch.optim.Optimizer
    progress: Progress
    configs: dict[str, Any]


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
        init = None
        if state is None and cfg.init_from:
            init = _warm_start(cfg)
            model_cfg = init.config
            cfg = dataclasses.replace(cfg, joint_vocab=init.src_tok is init.tgt_tok)
        validate(model_cfg, cfg)
        device = ranks.device(cfg.device, cfg.threads)
        torch.manual_seed(cfg.seed)
        tokenizers = state.tokenizers() if state else None
        if init is not None:
            tokenizers = (init.src_tok, init.tgt_tok)
        if tokenizers is None and ranks.world > 1:
            # SentencePiece is trained once, on rank 0: every rank must cut the corpus into the same pieces.
            tokenizers = _tokenizers(ranks.from_main(lambda: _train_tokenizers(cfg)))
        with ranks.together():  # no collectives in here: a failed rank would leave the others waiting in one
            built = cls._build(model_cfg, cfg, device, state, tokenizers, ranks)
        if init is not None:
            built.model.load_state_dict(init.model.state_dict())
        return cls(built, cfg=cfg, device=device, ranks=ranks, resumed=state is not None)

    @staticmethod
    def _build(model_cfg: ModelConfig, cfg: TrainConfig, device: torch.device, state: ResumeState | None,
               tokenizers: tuple[Tokenizer, Tokenizer] | None, ranks: Ranks) -> _Built:
        """Data, model, optimizer and the run folder: the part of `open` that involves no other process."""
        run_dir = Path(cfg.out_dir)
        data = prepare_data(cfg, tokenizers)
        model_cfg = dataclasses.replace(
            model_cfg, src_vocab_size=data.src_tok.vocab_size, tgt_vocab_size=data.tgt_tok.vocab_size
        )
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
        configs = run_config(model_cfg, cfg, ranks.world)
        if ranks.is_main:
            write_run_config(run_dir / CONFIG_FILE, configs)
        return _Built(model_cfg, data, model, optimizer, progress, configs)

    def __init__(self, built: _Built, *, cfg: TrainConfig, device: torch.device, ranks: Ranks, resumed: bool):
        self.run_dir = Path(cfg.out_dir)
        self.model_cfg: ModelConfig = built.model_cfg
        self.cfg = cfg
        self.device = device
        self.data: PreparedData = built.data
        self.model: Seq2Seq = built.model
        self.optimizer = built.optimizer
        self.progress: Progress = built.progress
        self.configs = built.configs
        self.resumed = resumed
        self.ranks = ranks
        self.schedule = LRSchedule(cfg)
        # --batch-tokens is per process: the global batches hold N times as many tokens.
        self.batches = EpochBatches(self.data.train_src, self.data.train_tgt, cfg.batch_tokens * ranks.world, cfg.seed)
        self.loss = ranks.loss_function(self.model, self._loss)
        self.log = MetricsLog(self.run_dir / METRICS_FILE) if ranks.is_main else None
        self.sample_idx = self._sample_indices()
        self.hurry: threading.Event | None = None  # set: skip validations, the run is stopping at once

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
        interval = StepInterval()
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

    def _train_step(self, indices: np.ndarray, interval: StepInterval) -> bool:
        p, cfg, ranks = self.progress, self.cfg, self.ranks
        mine, weight = ranks.batch_part(indices)  # on a single process: all of it, weight 1
        batch = make_batch(self.data.train_src, self.data.train_tgt, mine, self.device)
        n_tokens = target_tokens(self.data.train_tgt, indices)  # of the whole (global) batch
        lr = self.schedule.lr(p.step + 1, p)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.model.train()
        with autocast(self.device, cfg.precision):
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
        hurry = self.hurry
        try:
            v = validate_run(self.model, self.data, cfg, self.device, self.ranks, self.sample_idx,
                             cancelled=hurry.is_set if hurry is not None else None)
        except ValidationSkipped:
            yield from self._save_unvalidated()
            return
        stopping = metrics.metric(cfg.early_stopping)  # its direction decides "better"
        value = v.loss if stopping is metrics.LOSS else v.scores[stopping.name]
        improved = stopping.improves(value, v.loss, p.best_file_value, p.best_scores.get("loss"))
        if improved:
            p.best_file_value = value
            p.best_step = p.step
            p.best_scores = {"loss": v.loss, "ppl": perplexity(v.loss), **v.scores}
        cut = False
        if scheduled:
            progress_made = stopping.better(value, p.best_value)
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
                loss=v.loss,
                ppl=perplexity(v.loss),
                scores=v.scores,
                is_best=improved,
                metric=cfg.early_stopping,
                elapsed=p.elapsed,
                decode_seconds=v.decode_seconds,
            )
        )
        shown = samples(self.model, self.data, self.sample_idx[: cfg.samples_shown], v.hypotheses, self.device)
        if shown:
            yield self._emit(SampleTranslations(p.step, shown))
        if cut:
            yield self._emit(Notice(p.step, f"validation did not improve: learning rate cut to {cfg.lr * p.lr_scale:.3g}"))
        if improved:
            yield self._emit(self._save(BEST_FILE, "best"))
        yield self._emit(self._save(LAST_FILE, "last"))
        if cfg.keep_last:
            yield self._emit(self._save(step_file(p.step), "step"))
            p.kept_steps.append(p.step)
            while len(p.kept_steps) > cfg.keep_last:
                old = self.run_dir / step_file(p.kept_steps.pop(0))
                if self.ranks.is_main:
                    old.unlink(missing_ok=True)
        self._save_resume()

    def _save_unvalidated(self) -> Iterator[Event]:
        """The run stops at once: the model is saved as it is, unscored (and as the best model when
        there is none yet, so that a run that has trained always leaves one to use)."""
        p = self.progress
        yield self._emit(Notice(p.step, f"stopped without validating: the model of step {p.step} is saved "
                                        "but not scored"))
        if not (self.run_dir / BEST_FILE).exists():
            yield self._emit(self._save(BEST_FILE, "best"))
        yield self._emit(self._save(LAST_FILE, "last"))
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
                "corpus": corpus_names(self.cfg),  # file names: a path is this machine's business
                "best": {"step": p.best_step, **p.best_scores},
                "early_stopping": self.cfg.early_stopping,
                "device": str(self.device),
            },
        )
        path = self.run_dir / name
        if self.ranks.is_main:
            save_model(path, self.model, self.data.src_tok, self.data.tgt_tok, meta)
        return ModelSaved(p.step, str(path), role)


def _warm_start(cfg: TrainConfig):
    """The model file a run starts from (`--init`): its architecture, tokenizers and weights. A model
    for the other direction is accepted only when it has one vocabulary for both sides and one embedding
    matrix (then the swap is exact: same pieces, same rows)."""
    from s2s_desktop.engine.formats.checkpoint import load_model

    loaded = load_model(cfg.init_from, "cpu")
    if not isinstance(loaded.src_tok, Tokenizer) or not isinstance(loaded.tgt_tok, Tokenizer):
        raise ConfigError(f"--init {cfg.init_from}: an imported model cannot be trained further here "
                          "(its tokenizer is Marian's, not one trained by s2s-desktop)")
    langs = (loaded.meta.get("src_lang"), loaded.meta.get("tgt_lang"))
    if langs == (cfg.tgt_lang, cfg.src_lang) and langs[0] != langs[1]:
        shared = loaded.src_tok is loaded.tgt_tok and getattr(loaded.config, "share_embeddings", False)
        if not shared:
            raise ConfigError(
                f"--init {cfg.init_from} translates {langs[0]}→{langs[1]}; a {cfg.src_lang}→{cfg.tgt_lang} run "
                "can start from it only if it has one joint vocabulary and shared embeddings")
    return loaded


def corpus_names(cfg: TrainConfig) -> str:
    """The corpus as a model file records it: file names only ("pairs.tsv", "train.en + train.de"); the
    full path would tell whoever receives the model about the trainer's folders and mean nothing to them."""
    if cfg.train_tsv:
        return Path(cfg.train_tsv).name
    return f"{Path(cfg.train_src).name} + {Path(cfg.train_tgt).name}"


def _existing_state(run_dir: Path, resume: bool) -> ResumeState | None:
    """The resume state of the run to continue, after checking that a new run starts in a new folder."""
    if resume:
        state = load_resume(run_dir)
        remove_leftovers(run_dir, written_by_the_trainer)  # a write the kill cut short
        return state
    if holds_run(run_dir):
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
