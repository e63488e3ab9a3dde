"""No loops: the repetition guard in greedy and beam search (batched), the degenerate flag of a
`Translation`, and sentence splitting in `s2s translate`.

The searches are run on `LoopModel`, a model made to loop: after BOS it emits the source's first
piece, then cycles 4 -> 5 -> 6 -> 4 ... for ever; EOS is its second choice (`eos` high) or one it never
makes (`eos` low: then beam search loops too)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch

from s2s_desktop.cli import main
from s2s_desktop.engine.api import BOS_ID, EOS_ID, Candidate, DecodeOptions, Translation
from s2s_desktop.engine.data.batching import make_batch
from s2s_desktop.engine.decoding.degenerate import degenerate_reason
from s2s_desktop.engine.decoding.repetition import RepeatGuard, ban_repeats, source_allowance
from s2s_desktop.engine.decoding.search import beam_search, decode_batch, greedy_search, max_lengths
from s2s_desktop.engine.decoding.service import Translator
from s2s_desktop.engine.models.protocol import Encoded

VOCAB = 10
CYCLE = {4: 5, 5: 6, 6: 4}  # the loop; any other piece is followed by 4


class LoopModel:
    """Enough of `Seq2Seq` for the searches: the next piece depends on the previous one only."""

    def __init__(self, eos: float = -5.0):
        self.eos = eos

    def encode(self, src: torch.Tensor, lengths: torch.Tensor) -> Encoded:
        mask = src != 0
        return Encoded(src[:, :, None].float(), mask, src[:, :1].float(), None)

    def init_state(self, enc: Encoded, need_weights=True):
        return None

    def reorder_state(self, state, idx):
        return state

    def step(self, prev: torch.Tensor, state, enc: Encoded):
        first = enc.final[:, 0].long()  # (N,) the source's first piece
        nxt = torch.where(prev == BOS_ID, first, torch.full_like(prev, 4))
        for a, b in CYCLE.items():
            nxt = torch.where(prev == a, torch.full_like(prev, b), nxt)
        logits = torch.zeros((prev.shape[0], VOCAB))
        logits[:, EOS_ID] = self.eos
        logits.scatter_(1, nxt[:, None], 5.0)
        logits[:, 7] = 1.0  # a third choice, so that beams differ
        attn = enc.src_mask.float()[:, None, None, :] / enc.src_mask.sum(1)[:, None, None, None]  # (N, 1, 1, S)
        return torch.log_softmax(logits, -1), attn, state


SOURCES = [[4, 8, 9], [5, 8, 9, 7, 8, 9, 7], [6, 7, 8, 9, 7, 8, 9]]  # allowances: 1, 2, 2 (n = 3); 1, 1, 1 (n = 4)


def top_count(ids, n: int) -> int:
    body = [i for i in ids if i != EOS_ID]
    counts = Counter(tuple(body[i : i + n]) for i in range(len(body) - n + 1))
    return max(counts.values(), default=0)


def search(sources, beam: int, n: int, nbest: int = 1, prefixes=None, eos: float = -5.0):
    model = LoopModel(eos)
    batch = make_batch(sources, None, np.arange(len(sources)))
    enc = model.encode(batch.src, batch.src_lengths)
    limits = max_lengths(batch.src_lengths, 1.0, 20, 100)  # 23, 27, 27: sentences leave the batch at different steps
    guard = RepeatGuard.for_sources(sources, n)
    if beam == 1:
        return [[h] for h in greedy_search(model, enc, limits, prefixes=prefixes, guard=guard)]
    return beam_search(model, enc, beam, limits, nbest=nbest, prefixes=prefixes, guard=guard)


def test_source_allowance_counts_the_most_repeated_ngram():
    assert source_allowance(SOURCES, 3) == [1, 2, 2]
    assert source_allowance(SOURCES, 4) == [1, 1, 1]
    assert source_allowance([[1, 1, 1, 1], []], 2) == [3, 1]


def test_ban_repeats_bans_the_token_that_completes_a_repeat():
    seq = torch.tensor([[4, 5, 6, 4, 5], [4, 5, 6, 4, 5], [7, 8, 9, 7, 8], [4, 5, 6, 4, 5]])
    log_probs = torch.zeros((4, VOCAB))
    ban_repeats(log_probs, seq, torch.tensor([1, 2, 1, 1]), 3, skip=torch.tensor([False, False, False, True]))
    banned = [torch.isinf(row).nonzero().flatten().tolist() for row in log_probs]
    assert banned == [[6], [], [9], []]  # row 1 may repeat once more; row 3 is being forced
    seq = torch.tensor([[4, 5, 6, 4, 5, 6, 4, 5], [4, 5, 7, 4, 5, 6, 4, 5]])
    log_probs = torch.zeros((2, VOCAB))
    ban_repeats(log_probs, seq, torch.tensor([2, 2]), 3)
    assert [torch.isinf(row).nonzero().flatten().tolist() for row in log_probs] == [[6], []]  # twice, once


@pytest.mark.parametrize("beam", [1, 3])
def test_without_the_guard_the_model_loops(beam):
    for (h,) in search(SOURCES, beam, 0):
        assert top_count(h.ids.tolist(), 3) >= 5  # ran to the length limit in the cycle


@pytest.mark.parametrize("beam", [1, 3])
@pytest.mark.parametrize("n", [3, 4])
def test_guard_keeps_every_ngram_within_the_source_allowance(beam, n):
    allowed = source_allowance(SOURCES, n)
    for hyps, allow in zip(search(SOURCES, beam, n, nbest=beam), allowed):
        assert hyps
        for h in hyps:
            ids = h.ids.tolist()
            assert top_count(ids, n) <= allow, ids
            assert np.isfinite(h.log_prob)


def test_guard_lets_the_model_end_where_it_would_loop():
    (a,), (b,), _ = search(SOURCES, 1, 3, eos=3.0)
    assert a.ids.tolist() == [4, 5, 6, 4, 5, EOS_ID]  # "4 5 6" once: the second 6 is banned, EOS is next best
    assert b.ids.tolist() == [5, 6, 4, 5, 6, 4, 5, 6, EOS_ID]  # allowance 2: each trigram twice


@pytest.mark.parametrize("beam", [1, 3])
def test_guard_batched_equals_one_by_one(beam):
    together = search(SOURCES, beam, 3, nbest=beam)
    for src, hyps in zip(SOURCES, together):
        (alone,) = search([src], beam, 3, nbest=beam)
        assert [h.ids.tolist() for h in alone] == [h.ids.tolist() for h in hyps]
        assert [h.score for h in alone] == pytest.approx([h.score for h in hyps])


@pytest.mark.parametrize("beam", [1, 3])
def test_a_forced_prefix_is_never_banned(beam):
    prefix = [4, 5, 6, 4, 5, 6]  # repeats "4 5 6" beyond the allowance of 1
    (hyps,) = search([SOURCES[0]], beam, 3, prefixes=[prefix])
    ids = hyps[0].ids.tolist()
    assert ids[: len(prefix)] == prefix and np.isfinite(hyps[0].log_prob)


def test_decode_options_switch_it_on_by_default():
    assert DecodeOptions().repeat_ngram > 0
    model, device = LoopModel(), torch.device("cpu")
    on = decode_batch(model, SOURCES, device, DecodeOptions(beam=2))
    off = decode_batch(model, SOURCES, device, DecodeOptions(beam=2, repeat_ngram=0))
    for (a,), (b,), allow in zip(on, off, source_allowance(SOURCES, DecodeOptions().repeat_ngram)):
        assert top_count(a.ids.tolist(), DecodeOptions().repeat_ngram) <= allow < top_count(b.ids.tolist(), 3)


def test_guard_holds_on_the_builtin_model_for_a_long_line():
    """The issue's case: a long two-sentence line fed whole (greedy looped on it with the guard off)."""
    from s2s_desktop.assets import bundled_model

    path = bundled_model()
    if path is None:
        pytest.skip("no built-in model in this installation")
    translator = Translator.open(str(path), "cpu")
    line = ("What is the best way to learn to speak a language like a native speaker? Should I live in the country, "
            "talk to native speakers every day, read newspapers, listen to the radio, or take lessons with a teacher "
            "who is a native speaker?")
    (src,) = translator.loaded.src_tok.encode_batch([line])
    for beam in (1, 5):
        (t,) = translator.translate([line], DecodeOptions(beam=beam, alternatives=0))
        tgt = translator.loaded.tgt_tok
        ids = [tgt.piece_to_id(p) for p in t.best.tokens if p != "</s>"]
        assert top_count(ids, 4) <= source_allowance([src], 4)[0]


# --------------------------------------------------------------------------- the degenerate flag


@pytest.mark.parametrize(("source", "output", "expected"), [
    ("▁a ▁b ▁c", "▁x ▁y ▁z", None),
    ("▁a ▁b ▁c", "▁3 5 5 5 5 5", "“5” 5 times in a row"),
    ("▁bye ▁bye ▁bye ▁bye ▁bye", "▁tschüss ▁tschüss ▁tschüss ▁tschüss ▁tschüss", None),  # the source has it
    ("▁a ▁b ▁c ▁d", "▁mit ▁einem ▁Mann , ▁mit ▁einem ▁Mann , ▁mit ▁einem ▁Mann .", "“mit einem Mann” repeated 3"),
    ("▁a ▁b ▁c ▁d", "▁x <unk> ▁y <unk> <unk>", "3 of 5 pieces unknown"),
    ("▁a ▁b ▁c ▁d", "▁x <unk> ▁y ▁z ▁w ▁v ▁u", None),  # one unknown piece (an emoji) is not a broken output
])
def test_degenerate_reason(source, output, expected):
    reason = degenerate_reason((*source.split(), "</s>"), (*output.split(), "</s>"))
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason


def test_degenerate_reason_names_the_length_limit():
    tokens = ("▁x", "▁y", "▁z", "</s>")
    assert "length limit" in degenerate_reason(("▁a", "</s>"), tokens, limit=4)
    assert degenerate_reason(("▁a", "</s>"), tokens, limit=5) is None


def test_translation_keeps_its_old_constructor_and_reports_the_flag():
    cand = Candidate("x", ("▁x", "</s>"), np.ones(2), 0.0, 0.0, np.zeros((1, 1, 2, 2)))
    old = Translation("a", ("▁a", "</s>"), cand, (cand,), False)
    assert old.degenerate is None and old.to_json()["degenerate"] is None
    flagged = Translation("a", ("▁a", "</s>"), cand, (cand,), degenerate="a loop")
    assert flagged.to_json()["degenerate"] == "a loop"


def test_the_service_flags_an_output_cut_at_the_length_limit(reverse_model_file):
    translator = Translator.open(str(reverse_model_file), "cpu")
    cut, normal = translator.translate(["one two three four five", "one two"],
                                       DecodeOptions(beam=2, max_len_a=0.0, max_len_b=2))[0], \
        translator.translate(["one two"], DecodeOptions(beam=2))[0]
    assert cut.degenerate is not None and "length limit" in cut.degenerate
    assert normal.degenerate is None
    para = translator.translate_paragraph("one\nthree four five six seven eight",
                                          DecodeOptions(beam=2, max_len_a=0.0, max_len_b=4))
    assert para.degenerate is not None and para.degenerate.startswith("sentence 2: ")


# --------------------------------------------------------------------------- sentence splitting in the CLI


def run(capsys, *argv: str) -> tuple[str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out, captured.err


def test_cli_translate_splits_sentences_by_default(capsys, reverse_model_file, tmp_path):
    model = ("--model", str(reverse_model_file), "--beam", "2")
    line = "One two three. Four five six seven!"
    split, _ = run(capsys, "translate", *model, line)
    alone, _ = run(capsys, "translate", *model, "--no-split-sentences", "One two three.", "Four five six seven!")
    whole, _ = run(capsys, "translate", *model, "--no-split-sentences", line)
    assert split == " ".join(alone.splitlines()) + "\n"
    assert split != whole  # the line fed whole is another translation
    # --json: one object per line, its sentences inside
    out, _ = run(capsys, "translate", *model, "--json", line)
    (obj,) = [json.loads(x) for x in out.splitlines()]
    assert obj["source"] == line and [s["source"] for s in obj["sentences"]] == ["One two three.", "Four five six seven!"]
    assert obj["text"] == split.strip()
    # --input/--output (file translation) splits too
    src, dst = tmp_path / "in.txt", tmp_path / "out.txt"
    src.write_text(line + "\n\none two\n", encoding="utf-8")
    run(capsys, "translate", *model, "--input", str(src), "--output", str(dst))
    assert dst.read_text(encoding="utf-8").splitlines()[0] == split.strip()


def test_cli_warns_of_a_degenerate_output(capsys, reverse_model_file):
    out, err = run(capsys, "translate", "--model", str(reverse_model_file), "--max-len-a", "0", "--max-len-b", "2",
                   "one two three four five")
    assert len(out.splitlines()) == 1 and "looks broken" in err and "length limit" in err


def test_cli_refuses_a_negative_repeat_guard(capsys, tiny_model_file):
    code = main(["translate", "--model", str(tiny_model_file), "--repeat-guard", "-1", "one"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("s2s: error: ") and "--repeat-guard" in err and "-1" in err
