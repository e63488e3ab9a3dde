"""The trainer learns, reports, saves, stops and resumes exactly."""

import json
import os
import random
import threading

import pytest

from s2s_desktop.engine.api import EvalReport, Failed, Finished, ModelConfig, StepReport, TrainConfig
from s2s_desktop.engine.decoding.service import Translator
from s2s_desktop.engine.training.loop import train
from s2s_desktop.engine.training.run_folder import METRICS_FILE, read_metrics
from s2s_desktop.errors import ConfigError

WORDS = "zero one two three four five six seven eight nine".split()


def reverse_corpus(path, n, seed):
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 7))]
        pairs.append((" ".join(words), " ".join(reversed(words))))
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    return pairs


SMALL = ModelConfig(emb_size=32, encoder_hidden=64, decoder_hidden=128, dropout=0.0)


def config(tmp_path, train_file, **kw):
    base = dict(
        out_dir=str(tmp_path / "run"), src_lang="en", tgt_lang="xx", train_tsv=str(train_file), valid_size=100,
        vocab_size=24, batch_tokens=800, lr=3e-3, valid_every=100, log_every=10, threads=2,
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.slow
@pytest.mark.parametrize("attention", ["luong-general", "bahdanau"])
def test_reverse_task_is_learned(tmp_path, attention):
    """A sequence-reversal task reaches >= 95% exact match on held-out inputs within a few hundred steps."""
    train_file = tmp_path / "reverse.tsv"
    reverse_corpus(train_file, 3000, seed=1)
    # vocab 60 keeps every number word one piece, so the task is reversing words, not characters
    cfg = config(tmp_path, train_file, max_steps=400, valid_every=200, vocab_size=60, batch_tokens=400)
    events = list(train(ModelConfig(**{**SMALL.to_dict(), "attention": attention}), cfg))
    finished = events[-1]
    assert isinstance(finished, Finished), events[-1]
    assert finished.reason == "max-steps" and finished.step == 400
    test_pairs = reverse_corpus(tmp_path / "test.tsv", 200, seed=99)
    translator = Translator.open(finished.best_path, "cpu")
    outputs = translator.translate([s for s, _ in test_pairs])
    exact = sum(o.text == t for o, (_, t) in zip(outputs, test_pairs)) / len(test_pairs)
    assert exact >= 0.95, exact
    evals = [e for e in events if isinstance(e, EvalReport)]
    assert evals[-1].scores["bleu"] > 90 and evals[-1].loss < 0.5  # per-token NLL: nearly certain


def test_interrupted_and_resumed_run_matches_uninterrupted(tmp_path):
    train_file = tmp_path / "reverse.tsv"
    reverse_corpus(train_file, 600, seed=2)
    common = dict(log_every=1, valid_every=5, vocab_size=24, batch_tokens=300)
    model = ModelConfig(**{**SMALL.to_dict(), "dropout": 0.2})  # dropout makes the RNG state matter
    straight = [e for e in train(model, config(tmp_path / "a", train_file, max_steps=16, **common))
                if isinstance(e, StepReport)]
    first = list(train(model, config(tmp_path / "b", train_file, max_steps=7, **common)))
    assert isinstance(first[-1], Finished) and first[-1].step == 7
    resumed = list(train(model, config(tmp_path / "b", train_file, max_steps=16, **common), resume=True))
    assert resumed[0].resumed_from_step == 7
    steps_b = [e for e in first + resumed if isinstance(e, StepReport)]
    assert [e.step for e in steps_b] == [e.step for e in straight] == list(range(1, 17))
    assert [e.loss for e in steps_b] == [e.loss for e in straight]
    # The run folder's log holds both parts; its last step line is the final step.
    logged = read_metrics(tmp_path / "b" / "run" / METRICS_FILE)
    assert [e.step for e in logged if isinstance(e, StepReport)][-1] == 16


def test_killed_run_with_truncated_log_resumes(tmp_path):
    train_file = tmp_path / "reverse.tsv"
    reverse_corpus(train_file, 300, seed=3)
    cfg = config(tmp_path, train_file, max_steps=5, valid_every=5, vocab_size=24, batch_tokens=300)
    list(train(SMALL, cfg))
    log = tmp_path / "run" / METRICS_FILE
    with open(log, "a", encoding="utf-8") as fh:
        fh.write('{"event": "step", "step": 6, "lo')  # a killed writer's half line
    events = list(train(SMALL, config(tmp_path, train_file, max_steps=8, valid_every=5, vocab_size=24,
                                      batch_tokens=300), resume=True))
    assert isinstance(events[-1], Finished) and events[-1].step == 8
    lines = log.read_text(encoding="utf-8").splitlines()
    parsed = read_metrics(log)
    assert len(parsed) == len(lines) - 1  # only the half line is skipped
    assert json.loads(lines[-1])["event"] == "finished"


def test_stop_flag_ends_the_run_with_a_saved_model(tmp_path):
    train_file = tmp_path / "reverse.tsv"
    reverse_corpus(train_file, 600, seed=4)
    stop = threading.Event()
    events = []
    for event in train(SMALL, config(tmp_path, train_file, max_steps=1000, log_every=1), stop=stop):
        events.append(event)
        if isinstance(event, StepReport) and event.step == 3:
            stop.set()
    assert isinstance(events[-1], Finished)
    # The flag was set after the event was consumed, so the trainer saw it before step 4
    assert events[-1].reason == "stopped" and events[-1].step in (3, 4)
    assert Translator.open(events[-1].best_path, "cpu").translate(["one two"])[0].text is not None


def test_stop_event_passed_in(tmp_path):
    train_file = tmp_path / "reverse.tsv"
    reverse_corpus(train_file, 300, seed=5)
    stop = threading.Event()
    gen = train(SMALL, config(tmp_path, train_file, max_steps=1000, log_every=1), stop=stop)
    for event in gen:
        if isinstance(event, StepReport):
            stop.set()
    assert isinstance(event, Finished) and event.reason == "stopped" and event.step <= 2


def test_nan_loss_fails_with_a_message(tmp_path, monkeypatch):
    import torch

    from s2s_desktop.engine.training import loop as training

    train_file = tmp_path / "reverse.tsv"
    reverse_corpus(train_file, 300, seed=6)
    real = training.sequence_loss

    def poisoned(*args, **kw):
        loss, nll = real(*args, **kw)
        return loss * torch.tensor(float("nan")), nll

    monkeypatch.setattr(training, "sequence_loss", poisoned)
    events = list(train(SMALL, config(tmp_path, train_file, max_steps=50)))
    assert isinstance(events[-1], Failed)
    assert "NaN" in events[-1].message and "--lr" in events[-1].message


def test_max_minutes_and_early_stopping(tmp_path):
    train_file = tmp_path / "reverse.tsv"
    reverse_corpus(train_file, 300, seed=7)
    events = list(train(SMALL, config(tmp_path / "a", train_file, max_minutes=0.0005, log_every=1)))
    assert events[-1].reason == "max-minutes"
    # lr so small that BLEU never improves: patience 2 stops after the third evaluation
    events = list(train(SMALL, config(tmp_path / "b", train_file, lr=1e-9, valid_every=2, patience=2,
                                      early_stopping="bleu", max_steps=100)))
    evals = [e for e in events if isinstance(e, EvalReport)]
    assert events[-1].reason == "early-stopping" and len(evals) == 3  # patience counts BLEU alone
    # BLEU tied at 0.00 throughout: the best model follows the validation loss (issue 17, item 7)
    assert all(e.scores["bleu"] == 0.0 for e in evals)
    assert [e.is_best for e in evals] == [True] + [b.loss < a.loss - 1e-4 for a, b in zip(evals, evals[1:])]


def test_bad_training_options_are_named(tmp_path):
    train_file = tmp_path / "reverse.tsv"
    reverse_corpus(train_file, 50, seed=8)
    with pytest.raises(ConfigError, match="--batch-tokens"):
        list(train(SMALL, config(tmp_path, train_file, batch_tokens=0)))
    with pytest.raises(ConfigError, match="--warmup-steps"):
        list(train(SMALL, config(tmp_path, train_file, schedule="inverse-sqrt")))
    with pytest.raises(ConfigError, match="--train"):
        list(train(SMALL, config(tmp_path, None, train_tsv=None)))


def test_options_that_contradict_each_other_are_refused_before_the_corpus_is_read(tmp_path):
    missing = tmp_path / "missing.tsv"  # would be a CorpusError, had the data been read first
    with pytest.raises(ConfigError, match="--joint-vocab"):
        list(train(ModelConfig(**{**SMALL.to_dict(), "share_embeddings": True}), config(tmp_path, missing)))
    with pytest.raises(ConfigError, match="--teacher-forcing"):
        list(train(ModelConfig(arch="transformer", emb_size=32, heads=4), config(tmp_path, missing, teacher_forcing=0.5)))
    assert not (tmp_path / "run").exists()


def test_full_disk_during_training_fails_with_a_message(tmp_path, monkeypatch):
    import errno

    from s2s_desktop.engine.formats import checkpoint

    train_file = tmp_path / "reverse.tsv"
    reverse_corpus(train_file, 300, seed=9)

    def no_space(path, data, error=checkpoint.CheckpointError):
        raise error(f"Could not write {path}: {os.strerror(errno.ENOSPC)}")

    events = []
    gen = train(SMALL, config(tmp_path, train_file, max_steps=20, valid_every=5, log_every=1))
    for event in gen:
        events.append(event)
        if isinstance(event, StepReport) and event.step == 2:
            monkeypatch.setattr("s2s_desktop.engine.training.loop.save_model",
                                lambda path, *a, **k: no_space(path, b""))
    assert isinstance(events[-1], Failed)
    assert "No space left on device" in events[-1].message and "best.s2s" in events[-1].message
    assert events[-1].step == 5


def test_stop_now_skips_the_last_validation_and_still_leaves_a_model(tmp_path):
    """A second Stop in the app: the run saves at once, without validating (which can take a minute)."""
    train_file = tmp_path / "reverse.tsv"
    reverse_corpus(train_file, 300, seed=6)
    stop, hurry = threading.Event(), threading.Event()
    events = []
    for event in train(SMALL, config(tmp_path, train_file, max_steps=1000, log_every=1, valid_every=500),
                       stop=stop, hurry=hurry):
        events.append(event)
        if isinstance(event, StepReport) and event.step == 3:
            hurry.set()
            stop.set()
    assert not [e for e in events if isinstance(e, EvalReport)]  # no validation at the stop
    notices = [e.message for e in events if e.kind == "notice"]
    assert notices and "without validating" in notices[-1]
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.reason == "stopped" and finished.best_scores == {}
    assert finished.best_path  # the only model there is, so that the app can use it
    assert Translator.open(finished.best_path, "cpu").translate(["one two"])[0].text is not None
    assert (tmp_path / "run" / "last.s2s").is_file() and (tmp_path / "run" / "resume.safetensors").is_file()


def test_stop_now_cuts_a_validation_in_progress_short(tmp_path, monkeypatch):
    from s2s_desktop.engine.training import validation

    train_file = tmp_path / "reverse.tsv"
    reverse_corpus(train_file, 300, seed=6)
    stop, hurry = threading.Event(), threading.Event()
    real = validation.validation_loss

    def slow_start(*args, **kwargs):  # the user presses Stop twice while the validation runs
        hurry.set()
        stop.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(validation, "validation_loss", slow_start)
    events = list(train(SMALL, config(tmp_path, train_file, max_steps=1000, log_every=1, valid_every=4),
                        stop=stop, hurry=hurry))
    assert not [e for e in events if isinstance(e, EvalReport)]
    assert events[-1].reason == "stopped" and events[-1].step == 4
