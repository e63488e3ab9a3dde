"""`s2s train --init-from MODEL`: a run starts from a model file's architecture, tokenizers and weights."""

from pathlib import Path

import pytest

from s2s_desktop.engine.api import Finished, ModelConfig
from s2s_desktop.engine.formats.checkpoint import load_model
from s2s_desktop.engine.training.loop import train
from s2s_desktop.engine.training.run_folder import LAST_FILE
from s2s_desktop.errors import ConfigError

from .test_training import SMALL, config, reverse_corpus


def last(events) -> str:
    """The run's last.s2s (the Finished event names the best one)."""
    return str(Path(events[-1].best_path).with_name(LAST_FILE))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small RNN after 20 updates, and its corpus."""
    tmp = tmp_path_factory.mktemp("init")
    corpus = tmp / "reverse.tsv"
    reverse_corpus(corpus, 300, seed=3)
    events = list(train(SMALL, config(tmp / "first", corpus, max_steps=20, valid_every=20)))
    assert isinstance(events[-1], Finished), events[-1]
    return events[-1].best_path, corpus


def test_a_warm_start_keeps_the_files_weights_tokenizers_and_architecture(tmp_path, trained):
    model_file, corpus = trained
    # The options below ask for another architecture and vocabulary: the file's win.
    other = ModelConfig(arch="transformer", emb_size=16, heads=2, ff_size=32)
    cfg = config(tmp_path, corpus, init_from=str(model_file), vocab_size=40, lr=1e-12, schedule="constant",
                 max_steps=1, valid_every=1)
    events = list(train(other, cfg))
    assert isinstance(events[-1], Finished), events[-1]
    before, after = load_model(model_file), load_model(last(events))
    assert after.config == before.config and after.config.arch == "rnn"
    assert after.src_tok.vocab_size == before.src_tok.vocab_size
    assert after.src_tok.encode("one two three") == before.src_tok.encode("one two three")
    a, b = before.model.state_dict(), after.model.state_dict()
    assert a.keys() == b.keys()
    # lr 1e-12 sits on the schedule's floor (1e-5): one Adam step moves a weight by about 1e-5
    assert max((a[k].float() - b[k].float()).abs().max().item() for k in a) < 1e-4


def test_a_fresh_run_does_not_start_from_the_file(tmp_path, trained):
    """Control for the test above: without --init-from the same one update starts from random weights."""
    model_file, corpus = trained
    events = list(train(SMALL, config(tmp_path, corpus, lr=1e-12, schedule="constant", max_steps=1, valid_every=1)))
    a, b = load_model(model_file).model.state_dict(), load_model(last(events)).model.state_dict()
    assert max((a[k].float() - b[k].float()).abs().max().item() for k in a) > 1e-2


def test_the_other_direction_needs_one_vocabulary_and_shared_embeddings(tmp_path, trained):
    model_file, corpus = trained  # en -> xx, separate vocabularies
    cfg = config(tmp_path, corpus, init_from=str(model_file), src_lang="xx", tgt_lang="en", max_steps=1)
    with pytest.raises(ConfigError, match="joint vocabulary and shared embeddings"):
        list(train(SMALL, cfg))


def test_the_other_direction_of_a_joint_shared_model_trains(tmp_path, trained):
    _, corpus = trained
    shared = ModelConfig(**{**SMALL.to_dict(), "share_embeddings": True})
    first = list(train(shared, config(tmp_path / "a", corpus, joint_vocab=True, max_steps=5, valid_every=5)))
    assert isinstance(first[-1], Finished), first[-1]
    back = list(train(SMALL, config(tmp_path / "b", corpus, init_from=last(first), src_lang="xx",
                                    tgt_lang="en", max_steps=2, valid_every=2)))
    assert isinstance(back[-1], Finished), back[-1]
    loaded = load_model(last(back))
    assert loaded.meta["src_lang"] == "xx" and loaded.config.share_embeddings and loaded.src_tok is loaded.tgt_tok


def test_a_missing_init_file_is_named(tmp_path, trained):
    _, corpus = trained
    with pytest.raises(Exception, match="nope.s2s"):
        list(train(SMALL, config(tmp_path, corpus, init_from=str(tmp_path / "nope.s2s"), max_steps=1)))

