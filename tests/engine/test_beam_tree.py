"""The beam-search tree (issue 21, item 4): rebuilt from the search's own history, so its chosen leaves are
exactly the n-best the search returns and every score adds up along its path."""

from __future__ import annotations

import math

import pytest

from s2s_desktop.engine.api import DecodeOptions
from s2s_desktop.engine.decoding.service import Translator
from s2s_desktop.errors import InputError


@pytest.fixture(scope="module")
def translator(reverse_model_file):
    return Translator.open(str(reverse_model_file), "cpu", precision="fp32")


@pytest.mark.parametrize("beam,nbest", [(4, 3), (2, 1)])
def test_the_chosen_leaves_are_the_n_best_and_scores_add_up(translator, beam, nbest):
    opts = DecodeOptions(beam=beam, nbest=nbest)
    source = "one two three four five"
    t = translator.translate([source], opts)[0]
    tree = translator.beam_tree(source, opts)
    nodes = tree.nodes
    chosen = [i for i, n in enumerate(nodes) if n.state == "chosen"]
    assert sorted(tuple(tree.prefix(i)) for i in chosen) == sorted(tuple(c.tokens[:-1]) for c in t.nbest)
    for i in chosen:  # a finished node's score is the length-normalised one the n-best reports
        assert any(math.isclose(nodes[i].score, c.score, rel_tol=1e-4) for c in t.nbest)
    for n in nodes:
        if n.state in ("live", "pruned") and n.parent >= 0:
            assert n.score == pytest.approx(nodes[n.parent].score + n.log_prob, abs=1e-4)
        assert n.parent < 0 or nodes[n.parent].state == "live"  # only extended prefixes have children
    per_step = {}
    for n in nodes:
        if n.state in ("live", "pruned"):
            per_step[n.step] = per_step.get(n.step, 0) + 1
    assert max(per_step.values()) <= beam
    assert {n.state for n in nodes} >= {"live", "chosen"}


def test_an_empty_sentence_has_no_tree(translator):
    with pytest.raises(InputError, match="no sentence"):
        translator.beam_tree("   ")
