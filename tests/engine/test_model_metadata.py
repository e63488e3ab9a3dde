"""What a trained model file says about its training: the corpus by file name only (a full path names the
trainer's folders to whoever receives the model, and means nothing on their machine)."""

from __future__ import annotations

from s2s_desktop.engine.api import Finished, TrainConfig
from s2s_desktop.engine.formats.checkpoint import load_model
from s2s_desktop.engine.training.loop import corpus_names, train
from tests.engine.test_training import SMALL, config, reverse_corpus


def test_a_trained_model_records_its_corpus_by_file_name(tmp_path):
    folder = tmp_path / "data" / "private-folder"
    folder.mkdir(parents=True)
    corpus = folder / "reverse.tsv"
    reverse_corpus(corpus, 200, seed=3)
    events = list(train(SMALL, config(tmp_path, corpus, max_steps=2, valid_every=2)))
    assert isinstance(events[-1], Finished)
    for path in (events[-1].best_path, tmp_path / "run" / "last.s2s"):
        training = load_model(path).meta["training"]
        assert training["corpus"] == "reverse.tsv"
        assert "private-folder" not in str(training)  # nowhere else in the summary either


def test_two_aligned_files_are_recorded_by_their_names() -> None:
    cfg = TrainConfig(out_dir="/r", src_lang="en", tgt_lang="de", train_src="/home/me/c/train.en",
                      train_tgt="/home/me/c/train.de")
    assert corpus_names(cfg) == "train.en + train.de"
