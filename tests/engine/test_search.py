"""Greedy and beam search: agreement, batching, n-best order, prefixes, length limits."""

import numpy as np
import pytest
import torch

from s2s_desktop.engine.api import EOS_ID, DecodeOptions
from s2s_desktop.engine.data.batching import make_batch
from s2s_desktop.engine.decoding.search import beam_search, greedy_search, max_lengths
from s2s_desktop.engine.decoding.service import Translator
from s2s_desktop.engine.formats.checkpoint import load_model

SENTENCES = ["one two three", "four five", "six seven eight nine ten two", "three", "ten nine eight one"]


@pytest.fixture(scope="module")
def loaded(reverse_model_file):
    return load_model(reverse_model_file)


def encode(loaded, texts):
    ids = loaded.src_tok.encode_batch(texts)
    batch = make_batch(ids, None, np.arange(len(ids)))
    with torch.inference_mode():
        enc = loaded.model.encode(batch.src, batch.src_lengths)
    return enc, max_lengths(batch.src_lengths, 2.0, 5, 100)


def test_beam_of_one_equals_greedy(loaded):
    enc, limits = encode(loaded, SENTENCES)
    greedy = greedy_search(loaded.model, enc, limits)
    beam = beam_search(loaded.model, enc, 1, limits, alpha=0.0)
    for g, (b,) in zip(greedy, beam):
        assert g.ids.tolist() == b.ids.tolist()
        np.testing.assert_allclose(g.token_probs, b.token_probs, rtol=1e-5)
        np.testing.assert_allclose(g.attention, b.attention, rtol=1e-5, atol=1e-7)
        assert g.log_prob == pytest.approx(b.log_prob, abs=1e-4)


@pytest.mark.parametrize("beam", [1, 4])
def test_batched_equals_one_by_one(loaded, beam):
    translator = Translator(loaded, torch.device("cpu"))
    opts = DecodeOptions(beam=beam, nbest=min(beam, 2))
    together = translator.translate(SENTENCES, opts)
    for sentence, t in zip(SENTENCES, together):
        (alone,) = translator.translate([sentence], opts)
        assert alone.text == t.text
        assert alone.best.score == pytest.approx(t.best.score, abs=1e-4)
        assert [c.text for c in alone.nbest] == [c.text for c in t.nbest]
        np.testing.assert_allclose(alone.best.attention, t.best.attention, atol=1e-5)


def test_model_learned_to_reverse(loaded):
    """The fixture model is a real model: most outputs are the reversed input."""
    translator = Translator(loaded, torch.device("cpu"))
    out = translator.translate(SENTENCES, DecodeOptions(beam=4))
    correct = sum(o.text == " ".join(reversed(s.split())) for o, s in zip(out, SENTENCES))
    assert correct >= 3


def test_nbest_sorted_distinct_and_scored(loaded):
    enc, limits = encode(loaded, SENTENCES)
    results = beam_search(loaded.model, enc, 5, limits, nbest=5, alpha=1.0)
    for hyps in results:
        assert len(hyps) == 5
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.ids) for h in hyps}) == 5
        for h in hyps:
            assert h.ids[-1] == EOS_ID
            # the score is the sum of the token log-probs, normalised by the GNMT length penalty
            assert h.log_prob == pytest.approx(float(np.log(h.token_probs).sum()), abs=1e-3)
            assert h.score == pytest.approx(h.log_prob / ((5 + len(h.ids)) / 6), abs=1e-3)
            assert h.attention.shape[2] == len(h.ids)


def test_wide_beam_finds_at_least_the_greedy_log_prob(loaded):
    enc, limits = encode(loaded, SENTENCES)
    wide = beam_search(loaded.model, enc, 8, limits, alpha=0.0)
    greedy = greedy_search(loaded.model, enc, limits)
    for g, (w,) in zip(greedy, wide):
        assert w.log_prob >= g.log_prob - 1e-4


@pytest.mark.parametrize("beam", [1, 3])
def test_forced_prefix_is_kept_verbatim(loaded, beam):
    enc, limits = encode(loaded, ["one two three", "four five six"])
    prefix_ids = [loaded.tgt_tok.encode("seven eight"), loaded.tgt_tok.encode("nine")]
    if beam == 1:
        hyps = greedy_search(loaded.model, enc, limits, prefixes=prefix_ids)
    else:
        hyps = [h[0] for h in beam_search(loaded.model, enc, beam, limits, prefixes=prefix_ids)]
    for h, prefix in zip(hyps, prefix_ids):
        assert h.ids[: len(prefix)].tolist() == prefix
        assert h.ids[-1] == EOS_ID and len(h.ids) > len(prefix)


@pytest.mark.parametrize("beam", [1, 3])
def test_max_length_terminates(loaded, beam):
    enc, _ = encode(loaded, SENTENCES)
    limits = torch.full((len(SENTENCES),), 2, dtype=torch.long)
    if beam == 1:
        hyps = greedy_search(loaded.model, enc, limits, min_len=5)
    else:
        hyps = [h[0] for h in beam_search(loaded.model, enc, beam, limits, min_len=5)]
    for h in hyps:
        # min_len bans EOS early, the limit forces it: the limit wins and the output still ends
        assert len(h.ids) == 2 and h.ids[-1] == EOS_ID


@pytest.mark.parametrize("vocab", [1000, 640, 997])  # whole blocks of 200; 640 and 997 padded to whole blocks
def test_best_candidates_are_the_top_of_every_beam_and_piece(vocab):
    """The blockwise selection gives what one topk over (sentences, beam x vocabulary) gives, values and
    indices, also with whole beams at -inf (the start of a search, a sentence at its length limit)."""
    from s2s_desktop.engine.decoding.search import best_candidates

    generator = torch.Generator().manual_seed(vocab)
    a, k = 7, 4
    log_probs = torch.randn(a, k, vocab, generator=generator).log_softmax(-1)
    scores = torch.randn(a, k, generator=generator)
    scores[0, 1:] = float("-inf")
    log_probs[2, :, :] = float("-inf")
    log_probs[2, :, 3] = -0.5  # only one piece left in every beam of sentence 2
    values, indices = best_candidates(scores, log_probs, 2 * k)
    expected = (scores[:, :, None] + log_probs).view(a, -1).topk(2 * k, dim=1)
    assert torch.equal(values, expected.values)
    finite = torch.isfinite(values)
    assert torch.equal(indices[finite], expected.indices[finite])  # (-inf ties may come in any order)
