"""The metric registry: each metric gives the value its own library computes, has a direction and a
plot group, and a metric whose library is missing is reported, not crashed on."""

from __future__ import annotations

import dataclasses

import pytest
import sacrebleu
from sacrebleu.metrics import TER

from s2s_desktop.engine import metrics
from s2s_desktop.engine.api import EvalReport, TrainConfig
from s2s_desktop.engine.config import validate_train_config
from s2s_desktop.errors import ConfigError

HYPS = ["the cat sat on the mat", "a dog barks at night", "it is raining today", "Hello World"]
REFS = ["the cat sat on a mat", "the dog barks at night", "it rains today", "hello world"]


def test_bleu_and_chrf_are_sacrebleus_own_values():
    scores = metrics.score(HYPS, REFS, names=["bleu", "chrf"])
    assert scores["bleu"].value == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score)
    assert scores["chrf"].value == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score)
    assert scores["bleu"].signature.startswith("nrefs:1|case:mixed") and "BP = " in scores["bleu"].detail
    lower = metrics.score(HYPS, REFS, lowercase=True, names=["bleu"])["bleu"].value
    assert lower == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS], lowercase=True).score)
    assert lower > scores["bleu"].value  # "Hello World" matches once case is ignored


def test_ter_is_sacrebleus_value_and_lower_is_better():
    ter = metrics.score(HYPS, REFS, names=["ter"])["ter"]
    assert ter.value == pytest.approx(TER(case_sensitive=True).corpus_score(HYPS, [REFS]).score)
    assert metrics.score(HYPS, HYPS, names=["ter"])["ter"].value == 0.0  # no edits
    assert "case:mixed" in ter.signature  # case-sensitive like BLEU, unless --lowercase
    m = metrics.metric("ter")
    assert not m.higher_is_better and m.better(40.0, 50.0) and not m.better(60.0, 50.0) and m.plot == "edit"


def test_rouge_l_is_rouge_scores_sentence_average():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    value = metrics.score(HYPS, REFS, names=["rougeL"])["rougeL"].value
    library = rouge_scorer.RougeScorer(["rougeL"])  # its default tokenizer: the same on ASCII text
    expected = 100 * sum(library.score(r, h)["rougeL"].fmeasure for h, r in zip(HYPS, REFS)) / len(HYPS)
    assert value == pytest.approx(expected)
    assert metrics.metric("rougeL").higher_is_better and metrics.metric("rougeL").plot == "overlap"


def test_rouge_l_counts_words_of_any_script():
    pytest.importorskip("rouge_score")
    same = ["Москва — столица России", "Die Größe ändert sich"]
    assert metrics.score(same, same, names=["rougeL"])["rougeL"].value == pytest.approx(100.0)
    half = metrics.score(["Größe ändert"], ["Größe bleibt"], names=["rougeL"])["rougeL"].value
    assert half == pytest.approx(50.0)  # "größe" matches, the other word does not


def test_the_registry_drives_choices_labels_and_groups():
    assert metrics.stopping_choices() == ("loss", "bleu", "chrf", "ter", "rougeL")
    assert metrics.metric("loss") is metrics.LOSS and metrics.LOSS.better(1.0, 2.0)
    assert [m.name for m in metrics.training_metrics("bleu")] == ["bleu", "chrf"]  # TER, ROUGE-L only on request
    assert [m.name for m in metrics.training_metrics("ter")] == ["bleu", "chrf", "ter"]
    assert {g: [m.name for m in ms] for g, ms in metrics.plot_groups().items()} == {
        "overlap": ["bleu", "chrf", "rougeL"], "edit": ["ter"]}
    assert metrics.format_scores({"step": 40, "loss": 2.0, "bleu": 21.0, "ter": 60.5}) == \
        "step 40, loss 2.00, BLEU 21.00, TER 60.50"
    with pytest.raises(ConfigError, match="bleu"):
        metrics.metric("meteor")
    with pytest.raises(ValueError, match="3 hypotheses for 4"):
        metrics.score(HYPS[:3], REFS)


def test_a_metric_whose_library_is_missing_is_named_with_what_to_install(monkeypatch):
    missing = dataclasses.replace(metrics.METRICS["rougeL"], module="s2s_no_such_library")
    monkeypatch.setitem(metrics.METRICS, "rougeL", missing)
    assert not missing.available and "rouge-score" in missing.unavailable_reason
    assert "rougeL" not in metrics.score(HYPS, REFS)  # the default set leaves it out
    with pytest.raises(ConfigError, match="pip install"):
        metrics.score(HYPS, REFS, names=["rougeL"])
    cfg = TrainConfig(out_dir="run", src_lang="en", tgt_lang="de", train_tsv="t.tsv", early_stopping="rougeL")
    with pytest.raises(ConfigError, match="--early-stopping rougeL.*rouge-score"):
        validate_train_config(cfg)


def test_early_stopping_on_a_lower_is_better_metric(tmp_path, monkeypatch):
    """--early-stopping ter: TER is computed at each validation, and a lower TER is the better model."""
    from s2s_desktop.engine.training import loop
    from s2s_desktop.engine.training.loop import train
    from s2s_desktop.engine.training.validation import Validation
    from tests.engine.test_training import SMALL, config, reverse_corpus

    train_file = tmp_path / "reverse.tsv"
    reverse_corpus(train_file, 300, seed=7)
    events = list(train(SMALL, config(tmp_path / "real", train_file, valid_every=2, max_steps=2,
                                      early_stopping="ter")))
    real = [e for e in events if isinstance(e, EvalReport)][0]
    assert set(real.scores) == {"bleu", "chrf", "ter"} and real.metric == "ter"
    assert events[-1].best_scores["ter"] == real.scores["ter"]

    ter = iter([50.0, 40.0, 45.0, 30.0, 41.0, 42.0, 43.0])  # better, better, worse, best, worse x 3

    def scripted(model, data, cfg, device, ranks, indices, cancelled=None):
        hyps = ["x"] * len(indices)
        return Validation(1.0, {"bleu": 10.0, "chrf": 20.0, "ter": next(ter)}, hyps, 0.0)

    monkeypatch.setattr(loop, "validate_run", scripted)
    events = list(train(SMALL, config(tmp_path / "scripted", train_file, valid_every=2, patience=3,
                                      early_stopping="ter", max_steps=100)))
    evals = [e for e in events if isinstance(e, EvalReport)]
    assert [e.is_best for e in evals] == [True, True, False, True, False, False, False]
    assert events[-1].reason == "early-stopping" and events[-1].best_step == evals[3].step
    assert events[-1].best_scores["ter"] == 30.0


def test_a_tied_score_is_broken_by_the_validation_loss():
    bleu = metrics.METRICS["bleu"]
    assert bleu.improves(0.0, 3.0, None, None)  # nothing to beat yet
    assert bleu.improves(0.0, 2.0, 0.0, 3.0)  # BLEU tied at 0.00, the loss fell: the newer model is better
    assert not bleu.improves(0.0, 3.0, 0.0, 3.0) and not bleu.improves(0.0, 3.0 - 1e-9, 0.0, 3.0)  # noise
    assert not bleu.improves(0.0, 1.0, 5.0, 3.0)  # a worse BLEU is worse, whatever the loss
    assert metrics.LOSS.improves(2.0, 2.0, 3.0, 3.0) and not metrics.LOSS.improves(3.0, 3.0, 3.0, 3.0)


def test_best_by_bleu_tied_at_zero_follows_the_validation_loss(tmp_path, monkeypatch):
    """A short run: BLEU 0.00 at every validation while the loss falls; the best model is the last one."""
    from s2s_desktop.engine.api import Finished
    from s2s_desktop.engine.training import loop
    from s2s_desktop.engine.training.loop import train
    from s2s_desktop.engine.training.validation import Validation
    from tests.engine.test_training import SMALL, config, reverse_corpus

    train_file = tmp_path / "reverse.tsv"
    reverse_corpus(train_file, 300, seed=7)
    losses = iter([5.0, 4.0, 4.0, 3.0])

    def scripted(model, data, cfg, device, ranks, indices, cancelled=None):
        return Validation(next(losses), {"bleu": 0.0, "chrf": 5.0}, ["x"] * len(indices), 0.0)

    monkeypatch.setattr(loop, "validate_run", scripted)
    events = list(train(SMALL, config(tmp_path / "run", train_file, valid_every=2, max_steps=8, early_stopping="bleu")))
    evals = [e for e in events if isinstance(e, EvalReport)]
    assert [e.is_best for e in evals] == [True, True, False, True]
    assert isinstance(events[-1], Finished) and events[-1].best_step == 8 and events[-1].best_scores["loss"] == 3.0
