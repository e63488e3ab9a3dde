"""Decoding in worker processes (pool.py): the same translations as one process, in input order, with
cancelling, and clear errors where a pool cannot work."""

from __future__ import annotations

import os
import shutil

import pytest

from s2s_desktop.cli import main
from s2s_desktop.engine.api import DecodeOptions
from s2s_desktop.engine.decoding.service import Translator
from s2s_desktop.engine.formats.checkpoint import load_model
from s2s_desktop.errors import ConfigError, ModelError

WORDS = "one two three four five six seven eight nine ten".split()
SENTENCES = [" ".join(WORDS[(i * 7 + j) % 10] for j in range(2 + i % 5)) for i in range(60)]
OPTS = DecodeOptions(beam=3, alternatives=0, protect=False)


@pytest.fixture(scope="module")
def pooled(reverse_model_file):
    """(one-process translator, two-worker translator) of the same file; the pool is started once."""
    single = Translator.open(str(reverse_model_file), "cpu", threads=1, precision="fp32")
    pooled = Translator.open(str(reverse_model_file), "cpu", threads=1, precision="fp32")
    pooled.set_workers(2)
    yield single, pooled
    pooled.close()


def test_workers_translate_exactly_what_one_process_does_in_input_order(pooled):
    single, workers = pooled
    # small batches, so that the 60 sentences make many batches for the two workers
    alone = single.translate(SENTENCES, OPTS, batch_tokens=30, attention=False)
    together = workers.translate(SENTENCES, OPTS, batch_tokens=30, attention=False)
    assert [t.source for t in together] == SENTENCES
    assert [t.best.tokens for t in together] == [t.best.tokens for t in alone]
    assert [t.best.score for t in together] == pytest.approx([t.best.score for t in alone], abs=1e-5)
    assert any(t.best.text != SENTENCES[0] for t in together)  # real outputs, not echoes


def test_cancelling_stops_at_a_batch_and_the_pool_still_works(pooled):
    _, workers = pooled
    seen = []

    def progress(done, total):
        seen.append(done)
        return done < 10

    partial = workers.translate(SENTENCES, OPTS, batch_tokens=30, progress=progress, attention=False)
    assert len(partial) < len(SENTENCES)
    assert seen[-1] >= 10 and all(done < 10 for done in seen[:-1])  # stopped at the batch that said so
    again = workers.translate(SENTENCES[:20], OPTS, batch_tokens=30, attention=False)
    assert len(again) == 20


def test_a_model_file_replaced_under_the_pool_is_an_error_not_other_weights(reverse_model_file, tmp_path):
    path = tmp_path / "model.s2s"
    shutil.copy(reverse_model_file, path)
    translator = Translator.open(str(path), "cpu", threads=1, precision="fp32")
    translator.set_workers(2)
    try:
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the workers start (and check) lazily
        with pytest.raises(ModelError, match="changed after it was opened"):
            translator.translate(SENTENCES, OPTS, batch_tokens=30, attention=False)
    finally:
        translator.close()


def test_workers_need_a_model_file_and_a_count_of_at_least_one(reverse_model_file):
    translator = Translator(load_model(reverse_model_file), __import__("torch").device("cpu"), "fp32")
    translator.loaded.path = ""  # a model made in memory (the app's training)
    with pytest.raises(ModelError, match="needs a model file"):
        translator.set_workers(2)
    with pytest.raises(ConfigError, match="--workers must be at least 1"):
        translator.set_workers(0)
    translator.set_workers(1)  # one process: nothing to start
    assert translator.pool is None


def test_cli_evaluate_with_workers_scores_as_one_process(capsys, tmp_path, reverse_model_file):
    src = tmp_path / "src.txt"
    ref = tmp_path / "ref.txt"
    src.write_text("".join(s + "\n" for s in SENTENCES), encoding="utf-8")
    ref.write_text("".join(" ".join(reversed(s.split())) + "\n" for s in SENTENCES), encoding="utf-8")
    scores = []
    for workers in ("1", "2"):
        code = main(["evaluate", "--model", str(reverse_model_file), "--src", str(src), "--ref", str(ref),
                     "--metrics", "bleu", "--batch-tokens", "40", "--threads", "1", "--precision", "fp32",
                     "--no-protect", "--workers", workers, "--json"])
        assert code == 0
        scores.append(__import__("json").loads(capsys.readouterr().out.strip().splitlines()[-1])["bleu"])
    assert scores[0] == scores[1] > 10
