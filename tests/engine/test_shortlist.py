"""The target-vocabulary shortlist (decoding/shortlist.py): what it lists, how beam search uses it, how a
model file stores it, and what a malformed one is told."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from s2s_desktop.cli import main
from s2s_desktop.engine.api import EOS_ID, DecodeOptions
from s2s_desktop.engine.decoding.search import beam_search, max_lengths
from s2s_desktop.engine.decoding.service import Translator
from s2s_desktop.engine.decoding.shortlist import Shortlist, build_shortlist
from s2s_desktop.engine.formats.checkpoint import load_model, resave
from s2s_desktop.engine.formats.safetensors_io import serialize
from s2s_desktop.errors import CheckpointError, ConfigError

NUMBER_WORDS = "one two three four five six seven eight nine ten".split()


def test_dice_pairs_each_source_piece_with_what_translates_it_and_keeps_the_frequent():
    # source piece 10 + k is always translated by target piece 20 + k; target 30 is in every sentence
    rng = random.Random(0)
    sources, targets = [], []
    for _ in range(300):
        ks = rng.sample(range(8), 3)
        sources.append([10 + k for k in ks])
        targets.append([30] + [20 + k for k in ks])
    shortlist = build_shortlist(sources, targets, 40, 40, frequent=1, per_source=2)
    assert shortlist.frequent.tolist() == [30]
    for k in range(8):
        assert shortlist.table[10 + k, 0] == 20 + k  # the highest Dice coefficient comes first
    assert (shortlist.table[:10] == -1).all()  # pieces never seen list nothing
    got = shortlist.candidates([[10, 11]], extra=[39]).tolist()
    assert got[: EOS_ID + 1] == list(range(EOS_ID + 1))  # the special ids first: their columns are their ids
    assert got == sorted(set(got)) and {20, 21, 30, 39} <= set(got) and 27 not in got


def test_copies_put_each_source_pieces_own_spelling_on_the_target_side(reverse_model_file):
    loaded = load_model(reverse_model_file)
    shortlist = Shortlist(np.zeros(0, np.int32), np.full((loaded.config.src_vocab_size, 1), -1, np.int32))
    with_copies = shortlist.with_copies(loaded.src_tok, loaded.tgt_tok)
    ids = loaded.src_tok.encode("seven")
    pieces = {loaded.tgt_tok.id_to_piece(i) for i in with_copies.candidates([ids]).tolist()[EOS_ID + 1 :]}
    assert set(loaded.src_tok.ids_to_pieces(ids)) <= pieces



def test_a_batchs_allowed_rows_are_each_sentences_own_shortlist():
    # what beam search keeps each sentence to: one row per sentence, its ids only, as `candidates` lists them
    rng = np.random.default_rng(5)
    table = rng.integers(-1, 50, size=(30, 4)).astype(np.int32)
    copies = rng.integers(-1, 50, size=30)
    shortlist = Shortlist(np.array([7, 9], np.int32), table, copies)
    sources = [[5, 6, 6], [], [29, 0, 31, -2], [12]]  # (31 and -2 are outside the table: ignored by both)
    extras = [[], [57], [], [4, 8]]
    allowed = shortlist.allowed(sources, extras)
    assert allowed.shape[1] >= 58
    for row, src, extra in zip(allowed, sources, extras):
        inside = [i for i in src if 0 <= i < len(table)]
        expected = ({*range(EOS_ID + 1), 7, 9, *extra} | {int(t) for i in inside for t in table[i] if t >= 0}
                    | {int(copies[i]) for i in inside if copies[i] >= 0})
        assert np.flatnonzero(row).tolist() == sorted(expected)
        assert shortlist.candidates([src], extra).tolist() == sorted(expected)
    assert shortlist.allowed(sources).shape[0] == len(sources)  # no prefixes: none added


@pytest.fixture(scope="module")
def listed_model(reverse_model_file, tmp_path_factory):
    """The reverse model with a shortlist built from its own task (number words, reversed)."""
    loaded = load_model(reverse_model_file)
    rng = random.Random(3)
    src, tgt = [], []
    for _ in range(500):
        words = [rng.choice(NUMBER_WORDS) for _ in range(rng.randint(2, 6))]
        src.append(" ".join(words))
        tgt.append(" ".join(reversed(words)))
    shortlist = build_shortlist(loaded.src_tok.encode_batch(src), loaded.tgt_tok.encode_batch(tgt),
                                loaded.config.src_vocab_size, loaded.config.tgt_vocab_size, frequent=2, per_source=3)
    return resave(loaded, tmp_path_factory.mktemp("listed") / "listed.s2s", shortlist)


def test_the_file_keeps_the_shortlist_and_the_weights(listed_model, reverse_model_file):
    plain = load_model(reverse_model_file)
    assert plain.shortlist is None
    assert listed_model.shortlist is not None and listed_model.shortlist.copies is not None
    for name, value in plain.model.state_dict().items():
        assert torch.equal(value, listed_model.model.state_dict()[name])


def test_beam_search_over_the_full_shortlist_is_the_full_search(listed_model):
    """With every target id listed, the columns are the ids: the same hypotheses, scores and alternatives."""
    model = listed_model.model
    ids = [listed_model.src_tok.encode(s) for s in ("one two three", "nine nine four five", "ten")]
    from s2s_desktop.engine.data.batching import make_batch

    batch = make_batch(ids, None, np.arange(len(ids)), torch.device("cpu"))
    with torch.inference_mode():
        enc = model.encode(batch.src, batch.src_lengths)
        limits = max_lengths(batch.src_lengths, 1.5, 5, 64)
        full = beam_search(model, enc, 3, limits, nbest=2)
        listed = beam_search(model, enc, 3, limits, nbest=2, vocab=torch.arange(model.cfg.tgt_vocab_size))
        small = beam_search(model, enc, 3, limits, nbest=2,
                            vocab=listed_model.shortlist.candidates(ids).to(torch.long))
    for a, b in zip(full, listed):
        for h, g in zip(a, b):
            assert h.ids.tolist() == g.ids.tolist()
            assert h.score == pytest.approx(g.score, abs=1e-5)
            assert h.alt_ids.tolist() == g.alt_ids.tolist()
    allowed = set(listed_model.shortlist.candidates(ids).tolist())
    for hyps in small:  # a real shortlist: every output piece is one it lists
        for h in hyps:
            assert set(h.ids.tolist()) <= allowed


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_translating_with_the_shortlist_keeps_this_tasks_translations(listed_model, precision):
    translator = Translator(listed_model, torch.device("cpu"), precision)
    texts = ["one two three", "four five six seven", "eight nine ten two", "three three one"]
    opts = DecodeOptions(beam=4, alternatives=3, protect=False)
    full = translator.translate(texts, opts)
    fast = translator.translate(texts, DecodeOptions(beam=4, alternatives=3, protect=False, shortlist=True))
    assert [t.best.text for t in fast] == [t.best.text for t in full]
    assert sum(t.best.text == " ".join(reversed(s.split())) for t, s in zip(fast, texts)) >= 3  # real outputs


def test_shortlist_on_a_model_without_one_is_a_clear_error(reverse_model_file):
    translator = Translator.open(str(reverse_model_file), "cpu", precision="fp32")
    with pytest.raises(ConfigError, match="has no shortlist: add one with `s2s shortlist`"):
        translator.translate(["one two"], DecodeOptions(shortlist=True))


@pytest.mark.parametrize("frequent, table, named", [
    (torch.zeros(3, dtype=torch.int32), None, "shortlist.table is missing"),
    (torch.zeros(3, dtype=torch.int64), "ok", "shortlist.frequent must be a 1-D int32 tensor"),
    (torch.tensor([5, 10**6], dtype=torch.int32), "ok", "shortlist.frequent holds ids outside the target vocabulary"),
    (torch.zeros(3, dtype=torch.int32), "rows", "rows for a source vocabulary"),
    (torch.zeros(3, dtype=torch.int32), "low", "shortlist.table holds ids outside the target vocabulary"),
])
def test_a_malformed_shortlist_in_a_file_is_named(listed_model, tmp_path, frequent, table, named):
    loaded = listed_model
    n_src = loaded.config.src_vocab_size
    tensors = {"shortlist.frequent": frequent}
    if table is not None:
        tensors["shortlist.table"] = {"ok": torch.zeros((n_src, 2), dtype=torch.int32),
                                      "rows": torch.zeros((n_src + 1, 2), dtype=torch.int32),
                                      "low": torch.full((n_src, 2), -2, dtype=torch.int32)}[table]
    from s2s_desktop.engine.formats import checkpoint

    model_tensors, header = checkpoint._model_tensors(loaded.model, loaded.src_tok, loaded.tgt_tok,
                                                      checkpoint.ModelMeta("en", "rev"))
    path = tmp_path / "bad.s2s"
    path.write_bytes(b"".join(serialize({**model_tensors, **tensors}, header)))
    with pytest.raises(CheckpointError, match=named):
        load_model(path)


def test_cli_shortlist_then_translate_with_it(capsys, tmp_path, reverse_model_file):
    tsv = tmp_path / "corpus.tsv"
    rng = random.Random(5)
    lines = []
    for _ in range(300):
        words = [rng.choice(NUMBER_WORDS) for _ in range(rng.randint(2, 5))]
        lines.append(f"{' '.join(words)}\t{' '.join(reversed(words))}\n")
    tsv.write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "listed.s2s"
    assert main(["shortlist", "--model", str(reverse_model_file), "--tsv", str(tsv), "--out", str(out)]) == 0
    assert "a shortlist from 300 pairs" in capsys.readouterr().out
    assert main(["translate", "--model", str(out), "--shortlist", "--no-protect", "one two three"]) == 0
    assert capsys.readouterr().out.strip() == "three two one"
    assert main(["shortlist", "--model", str(reverse_model_file), "--out", str(out)]) == 2
    assert "give the corpus as --tsv FILE" in capsys.readouterr().err
