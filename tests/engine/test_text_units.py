"""Sentence splitting and piece-to-word aggregation (pure functions, no model)."""

import numpy as np
import pytest

from s2s_desktop.engine.data.segment import split_sentences
from s2s_desktop.engine.data.words import aggregate_attention, group_text, piece_to_word, word_groups


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello world. This is Dr. Smith! Is it?  Yes.", ["Hello world.", "This is Dr. Smith!", "Is it?", "Yes."]),
        ("e.g. the cat sat. A dog barked.", ["e.g. the cat sat.", "A dog barked."]),
        ("J. R. R. Tolkien wrote it. Then he slept.", ["J. R. R. Tolkien wrote it.", "Then he slept."]),
        ("Er sagte: „Ja.“ Dann ging er.", ["Er sagte: „Ja.“", "Dann ging er."]),
        ("Version 2.5 is out. 3 bugs were fixed.", ["Version 2.5 is out.", "3 bugs were fixed."]),
        ("one line\nsecond line", ["one line", "second line"]),
        ("no punctuation at all", ["no punctuation at all"]),
        ("", []),
    ],
)
def test_split_sentences(text, expected):
    seg = split_sentences(text)
    assert list(seg.sentences) == expected
    assert seg.leading + "".join(s + sep for s, sep in zip(seg.sentences, seg.separators)) == text


def test_split_keeps_layout_exactly():
    text = "  First para. Second sentence!\n\n\tThird para?\r\nLast line without end"
    seg = split_sentences(text)
    assert seg.leading + "".join(s + sep for s, sep in zip(seg.sentences, seg.separators)) == text
    assert seg.separators[1] == "\n\n\t" or seg.separators[1].startswith("\n\n")
    assert len(seg.sentences) == 4


def test_word_groups_follow_sentencepiece_word_starts():
    pieces = ["▁A", "▁bi", "cy", "cle", "▁is", "▁red", ".", "</s>"]
    groups = word_groups(pieces)
    assert groups == [[0], [1, 2, 3], [4], [5, 6], [7]]
    assert group_text(pieces, groups) == ["A", "bicycle", "is", "red.", "</s>"]
    assert piece_to_word(groups, len(pieces)).tolist() == [0, 1, 1, 1, 2, 3, 3, 4]


def test_word_attention_preserves_row_sums():
    rng = np.random.default_rng(0)
    att = rng.random((2, 3, 6, 8))
    att /= att.sum(-1, keepdims=True)
    src_groups = word_groups(["▁a", "b", "▁c", "▁d", "e", "f", "▁g", "</s>"])
    tgt_groups = word_groups(["▁x", "y", "▁z", "▁w", "v", "</s>"])
    words = aggregate_attention(att, tgt_groups, src_groups)
    assert words.shape == (2, 3, len(tgt_groups), len(src_groups))
    np.testing.assert_allclose(words.sum(-1), 1.0)
    # a source word's weight is the sum over its pieces; a target word's row the mean of its pieces
    np.testing.assert_allclose(words[..., 0, 0], att[..., 0:2, 0:2].sum(-1).mean(-1))
