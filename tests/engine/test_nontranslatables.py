"""Numbers, times, dates, phone numbers, codes, e-mails, URLs, paths, emoji and names come out of the
translation exactly once (decoding/protect.py): the detector, the restorer, and real models."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from s2s_desktop.assets import bundled_model
from s2s_desktop.engine.api import Candidate, DecodeOptions
from s2s_desktop.engine.decoding.protect import WORD_START, Masked, Protector, adapt_number, find_items

# -- the detector, without a model ------------------------------------------------------------------------
KNOWN = {"Paris", "Tom", "Mary", "I", "The", "She", "We", "Call", "Please", "Open", "Visit", "Der", "sah"}


def _pieces(word: str) -> list[str]:
    """A stand-in tokenizer: known words are one piece, others split in pieces of two letters."""
    return [word] if word in KNOWN else [word[i:i + 2] for i in range(0, len(word), 2)]


def _unknown(ch: str) -> bool:
    return ch in "@\\😀"


@pytest.mark.parametrize("text, expected", [
    ("I paid 3,50 euros.", [("number", "3,50")]),
    ("It costs 1,234.56 dollars or 7.", [("number", "1,234.56"), ("number", "7")]),
    ("The train leaves at 7:45.", [("time", "7:45")]),
    ("She was born in 1987.", [("number", "1987")]),
    ("The deadline is 2024-03-15, not 15/03/2024.", [("date", "2024-03-15"), ("date", "15/03/2024")]),
    ("Call me at 555-1234.", [("phone", "555-1234")]),
    ("Call +49 30 1234567 now.", [("phone", "+49 30 1234567")]),
    ("Order A4-2019X and the B12 part.", [("code", "A4-2019X"), ("code", "B12")]),
    ("Write to anna.b@example.com.", [("email", "anna.b@example.com")]),
    ("Visit https://example.org/a?b=1.", [("url", "https://example.org/a?b=1")]),
    ("See www.example.com or example.org.", [("url", "www.example.com"), ("url", "example.org")]),
    ("Open C:\\Users\\tom\\notes.txt.", [("path", "C:\\Users\\tom\\notes.txt")]),
    ("Open /etc/hosts and report.pdf.", [("path", "/etc/hosts"), ("path", "report.pdf")]),
    ("I love you 😀.", [("symbol", "😀")]),
    ("Angela Merkel visited Paris.", [("name", "Angela Merkel")]),
    ("We met Priya in Oslo.", [("name", "Priya"), ("name", "Oslo")]),
])
def test_the_detector_finds_each_item(text, expected):
    found = [(i.kind, i.text) for i in find_items(text, _pieces, _unknown, "en", "de")]
    assert found == expected
    for item in find_items(text, _pieces, _unknown, "en", "de"):
        assert text[item.start:item.end] == item.text


@pytest.mark.parametrize("text", [
    "She came 3rd in the 1990s race.",  # ordinals and decades are words the model translates
    "Tom and Mary went to Paris.",  # names the vocabulary knows (one piece each)
    "Unfortunately, we are late.",  # a capitalised first word is not a name on its own
    "He said and/or maybe 1/2.",
])
def test_the_detector_leaves_ordinary_words_alone(text):
    assert [i.text for i in find_items(text, _pieces, _unknown, "en", "de") if i.kind in ("name", "path", "code")] == []


def test_nouns_of_a_language_that_capitalises_them_are_not_names():
    text = "Der Bahnhofsvorsteher sah Angela Merkel."
    assert [i.text for i in find_items(text, _pieces, _unknown, "de", "en")] == ["Angela Merkel"]


@pytest.mark.parametrize("number, lang, expected", [
    ("3.50", "de", "3,50"), ("3,50", "de", "3,50"), ("3,50", "en", "3.50"), ("1,250,000", "de", "1.250.000"),
    ("2,345.50", "de", "2.345,50"), ("2.345,50", "en", "2,345.50"), ("1,000", "de", "1,000"),  # ambiguous
    ("1.000", "en", "1.000"), ("1987", "de", "1987"), ("3.5", "xx", "3.5"), ("40%", "de", "40%"),
    ("0.500", "de", "0,500"), ("12,5%", "en", "12.5%"),
])
def test_number_separators_follow_the_target_only_where_certain(number, lang, expected):
    assert adapt_number(number, lang) == expected


# -- the restorer, on hand-made candidates ----------------------------------------------------------------
class _Tok:
    """A tokenizer over a fixed list of pieces (SentencePiece-style decode)."""

    def __init__(self, pieces):
        self.vocab = ["<pad>", "<unk>", "<s>", "</s>", *pieces]

    vocab_size = property(lambda self: len(self.vocab))

    def piece_to_id(self, p):
        return self.vocab.index(p) if p in self.vocab else None

    def id_to_piece(self, i):
        return self.vocab[i]

    def decode(self, ids):
        return "".join(self.vocab[i] for i in ids if i > 3).replace(WORD_START, " ").strip()

    def encode(self, text):
        return [self.piece_to_id(WORD_START + w) or 1 for w in text.split()]

    def pieces(self, word):
        return [word]


TOK = _Tok(["▁Ich", "▁zahle", "▁Euro", ".", "▁2", "▁Boston", "▁um", "s", "▁I", "▁pay", "▁euros", "▁at", "7", "▁Bostons", "▁Haus"])


def _cand(tokens, att_rows, prefix=0):
    """A candidate over 4 source positions with the given per-row peak source positions."""
    att = np.zeros((1, 2, len(tokens), 4))
    for t, s in enumerate(att_rows):
        att[:, :, t, s] = 1.0
    alts = tuple((tok, "▁Euro") for tok in tokens)
    return Candidate(TOK.decode([TOK.piece_to_id(t) for t in tokens if t != "</s>"]), tuple(tokens),
                     np.linspace(0.5, 0.9, len(tokens)), -1.0, -1.0, att, alts, np.full((len(tokens), 2), 0.5), prefix)


def _masked(*items):
    """items: (text, surrogate, source position)"""
    from s2s_desktop.engine.decoding.protect import Item

    return Masked("", [], tuple(Item("number", 0, len(t), t, t.replace(".", ",")) for t, _, _ in items),
                  tuple(s for _, s, _ in items), tuple(p for _, _, p in items))


def _check_shapes(c: Candidate):
    T = len(c.tokens)
    assert c.attention.shape[2] == T and c.token_probs.shape == (T,) and len(c.alt_tokens) == T
    assert c.alt_probs.shape[0] == T


def test_a_copied_surrogate_becomes_the_item_in_text_tokens_and_alternatives():
    p = Protector(TOK, TOK, "en", "de")
    cand = _cand(["▁Ich", "▁zahle", "▁2", "▁Euro", ".", "</s>"], [0, 1, 2, 3, 3, 3])
    out = p.restore(_masked(("3.50", "2", 2)), cand)
    assert out.text == "Ich zahle 3,50 Euro."
    assert out.tokens == ("▁Ich", "▁zahle", "▁3,50", "▁Euro", ".", "</s>")
    assert out.alt_tokens[2][0] == "▁3,50"
    np.testing.assert_array_equal(out.attention, cand.attention)  # same rows: only labels changed
    _check_shapes(out)


def test_a_surrogate_written_twice_is_kept_once_where_the_attention_points():
    p = Protector(TOK, TOK, "en", "de")
    cand = _cand(["▁2", "▁Ich", "▁zahle", "▁2", ".", "</s>"], [0, 1, 1, 2, 3, 3])
    out = p.restore(_masked(("7", "2", 2)), cand)
    assert out.tokens == ("▁Ich", "▁zahle", "▁7", ".", "</s>")
    assert out.text == "Ich zahle 7."
    np.testing.assert_array_equal(out.attention[:, :, 2], cand.attention[:, :, 3])
    _check_shapes(out)


def test_a_dropped_surrogate_is_inserted_before_the_word_attending_to_it():
    p = Protector(TOK, TOK, "en", "de")
    cand = _cand(["▁Ich", "▁zahle", "▁Euro", "s", ".", "</s>"], [0, 1, 2, 2, 3, 3])
    out = p.restore(_masked(("3.50", "2", 2)), cand)
    assert out.text == "Ich zahle 3,50 Euros."
    assert out.tokens[2] == "▁3,50" and out.token_probs[2] == 1.0
    assert out.attention[0, 0, 2].tolist() == [0, 0, 1, 0]  # copied from its source position
    _check_shapes(out)


def test_digits_the_model_glues_to_a_number_surrogate_go_with_it():
    p = Protector(TOK, TOK, "en", "de")
    cand = _cand(["▁Ich", "▁zahle", "▁2", "7", ".", "</s>"], [0, 1, 2, 2, 3, 3])
    out = p.restore(_masked(("3.50", "2", 2)), cand)
    assert out.text == "Ich zahle 3,50." and out.tokens == ("▁Ich", "▁zahle", "▁3,50", ".", "</s>")
    _check_shapes(out)


def test_a_genitive_piece_of_a_name_surrogate_keeps_its_s():
    p = Protector(TOK, TOK, "en", "de")
    cand = _cand(["▁Bostons", "▁Haus", ".", "</s>"], [1, 2, 3, 3])
    out = p.restore(_masked(("Merkel", "Boston", 1)), cand)
    assert out.text == "Merkels Haus." and out.tokens[0] == "▁Merkels"


def test_two_items_and_a_glued_one():
    p = Protector(TOK, TOK, "en", "de")
    cand = _cand(["▁um", "▁Boston", "s", "▁2", ".", "</s>"], [0, 1, 1, 2, 3, 3])
    out = p.restore(_masked(("9:30", "2", 2), ("Merkel", "Boston", 1)), cand)
    assert out.text == "um Merkels 9:30."
    assert out.tokens[:4] == ("▁um", "▁Merkel", "s", "▁9:30")


def test_a_forced_prefix_keeps_its_length_and_reads_the_items_back_as_surrogates():
    p = Protector(TOK, TOK, "en", "de")
    masked = _masked(("3.50", "2", 2))
    assert p.mask_prefix(["▁Ich", "▁3,50"], masked) == ["▁Ich", "▁2"]
    assert p.mask_prefix("Ich zahle 3,50", masked) == "Ich zahle 2"
    cand = _cand(["▁Ich", "▁zahle", "▁Euro", ".", "</s>"], [0, 1, 2, 3, 3], prefix=2)
    out = p.restore(masked, cand)
    assert out.prefix_length == 2 and out.tokens.count("▁3,50") == 1 and out.tokens.index("▁3,50") >= 2


# -- real models ---------------------------------------------------------------------------------------------
SENTENCES = {  # written for this test: each item must come out exactly once
    "The tickets cost 4.80 and 12,50 euros.": ["4,80", "12,50"],
    "The bus leaves at 6:15 and arrives at 18:40.": ["6:15", "18:40"],
    "He moved here in 2003.": ["2003"],
    "The invoice is dated 2023-11-02.": ["2023-11-02"],
    "Phone 0171-2233445 after lunch.": ["0171-2233445"],
    "Your parcel number is XJ-9931B.": ["XJ-9931B"],
    "Mail me at lena.k@mail.example.net tonight.": ["lena.k@mail.example.net"],
    "The photos are at https://example.com/pics/2024.": ["https://example.com/pics/2024"],
    "Save it to D:\\work\\plan.docx please.": ["D:\\work\\plan.docx"],
    "Good morning 🌞!": ["🌞"],
    "Yesterday Svetlana Ivanova met Kwame.": ["Svetlana Ivanova", "Kwame"],
}


def _once(needle: str, text: str) -> bool:
    return len(re.findall(r"(?<![\w.,:/@-])" + re.escape(needle) + r"(?![\w@]|[.,:/-]\w)", text)) == 1


@pytest.fixture(scope="module")
def builtin():
    from s2s_desktop.engine.decoding.service import Translator

    return Translator.open(str(bundled_model()), "cpu", precision="fp32")


def test_the_builtin_model_carries_every_item_over_exactly_once(builtin):
    results = builtin.translate(list(SENTENCES), DecodeOptions(beam=2, nbest=2))
    for r, items in zip(results, SENTENCES.values()):
        for cand in r.nbest:
            for item in items:
                assert _once(item, cand.text), (r.source, cand.text, item)
                assert sum(item in tok for tok in cand.tokens) == 1, (cand.tokens, item)  # the inspector's label
            T, S = len(cand.tokens), len(r.source_tokens)
            assert cand.attention.shape[2:] == (T, S) and len(cand.token_probs) == T and len(cand.alt_tokens) == T
        shown = "".join(r.source_tokens).replace(WORD_START, " ")
        assert all(item.replace(",", ".") in shown or item in shown for item in items if "," not in item)


def test_protection_off_reads_the_source_as_it_is(builtin):
    text = "The bus leaves at 6:15 with Svetlana Ivanova."
    (off,) = builtin.translate([text], DecodeOptions(protect=False))
    assert off.source_tokens == tuple(builtin.loaded.src_tok.pieces(text)) + ("</s>",)
    plain = ["I love you.", "Where is the station?"]  # nothing to protect: the same output either way
    on = builtin.translate(plain, DecodeOptions())
    assert [t.best.tokens for t in on] == [t.best.tokens for t in builtin.translate(plain, DecodeOptions(protect=False))]


def test_a_what_if_prefix_through_a_restored_token_decodes(builtin):
    (first,) = builtin.translate(["He moved here in 2003."], DecodeOptions())
    k = first.best.tokens.index("▁2003")
    (again,) = builtin.translate(["He moved here in 2003."], DecodeOptions(), prefixes=[list(first.best.tokens[: k + 1])])
    assert again.best.tokens[: k + 1] == first.best.tokens[: k + 1] and _once("2003", again.text)


def test_a_model_trained_here_carries_the_items_over(reverse_model_file):
    """The reverse task's model (conftest: number words, no digits or capitals in its vocabulary) copies
    what it can; the rest is placed by the attention. Every item still appears exactly once."""
    from s2s_desktop.engine.decoding.service import Translator

    translator = Translator.open(str(reverse_model_file), "cpu")
    cases = {"one two 3,50 three": ["3,50"], "four 7:45 five six": ["7:45"], "seven bob@example.org eight": [
        "bob@example.org"], "nine 😀 ten one": ["😀"], "two https://example.com/x three 555-1234": [
        "https://example.com/x", "555-1234"], "four Merkel five": ["Merkel"]}
    for opts in (DecodeOptions(beam=1), DecodeOptions(beam=3, nbest=3)):
        for r, items in zip(translator.translate(list(cases), opts), cases.values()):
            for cand in r.nbest:
                for item in items:
                    assert _once(item, cand.text), (r.source, cand.text)
                assert cand.attention.shape[2] == len(cand.tokens) == len(cand.token_probs)
    off = translator.translate(list(cases), dataclasses.replace(DecodeOptions(beam=1), protect=False))
    assert not any(_once(item, r.text) for r, items in zip(off, cases.values()) for item in items)
