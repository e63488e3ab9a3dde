"""Training corpora with hostile text: encodings (UTF-16, Latin-1, broken UTF-8, BOMs, gzip whole or cut),
separators and line ends (extra TABs, CR, NEL, U+2028), very long lines and binary bytes, as one TSV file
or two aligned files. Reading them and training the SentencePiece model on them either works or raises the
project's own error, in a child process."""

from __future__ import annotations

import gzip

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.hostile import FUZZ, hostile

WORDS = st.sampled_from(["one", "two", "Ünïcode", "\u00a0", "\t", "\r", "\x85", "\u2028", "\x1c", "\x00", "\ufeff",
                         "\U0001f600", "\ud800", "a" * 100_000, " ", "", "<unk>", "\u200b", "\x7f"])
SIDE = st.lists(WORDS | st.text(max_size=12), max_size=6).map(" ".join)
ENDS = st.sampled_from(["\n", "\n", "\r\n", "\r", "\x85", "\u2028", ""])
ENCODINGS = st.sampled_from(["utf-8"] * 5 + ["utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"])


def encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, "surrogatepass" if encoding.startswith("utf") else "replace")


@st.composite
def spoiled(draw, data: bytes) -> bytes:
    """The encoded file as it is, gzipped (whole or cut), or with bytes of binary spliced in."""
    kind = draw(st.sampled_from(["plain"] * 5 + ["gzip", "gzip_cut", "binary"]))
    if kind == "gzip":
        return gzip.compress(data, mtime=0)
    if kind == "gzip_cut":
        packed = gzip.compress(data, mtime=0)
        return packed[:draw(st.integers(0, len(packed) - 1))]
    if kind == "binary":
        at = draw(st.integers(0, len(data)))
        return data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]
    return data


@st.composite
def corpora(draw):
    """(layout, {suffix: bytes}, what): a TSV file, or .en and .de files aligned line by line."""
    pairs = draw(st.lists(st.tuples(SIDE, SIDE), min_size=1, max_size=8))
    end, encoding = draw(ENDS), draw(ENCODINGS)
    if draw(st.booleans()):
        sep = draw(st.sampled_from(["\t"] * 5 + ["\t\t", " ", "|||", ""]))
        text = end.join(s + sep + t for s, t in pairs)
        files = {".tsv": draw(spoiled(encode(text, encoding)))}
    else:
        files = {ext: draw(spoiled(encode(end.join(side), encoding)))
                 for ext, side in ((".en", [s for s, _ in pairs]), (".de", [t for _, t in pairs]))}
    return files, f"{encoding}, end {end!r}, {pairs!r}"[:2000]


@given(corpora())
@FUZZ
def _corpora(child, folder, corpus):
    files, what = corpus
    for old in folder.iterdir():
        old.unlink()
    for ext, data in files.items():
        (folder / f"corpus{ext}").write_bytes(hostile(data, what))
    child.check(folder / ("corpus.tsv" if ".tsv" in files else "corpus.en"))


def test_a_hostile_corpus_is_read_or_refused_by_name(isolated, tmp_path):
    child = isolated("corpus")
    (tmp_path / "good.tsv").write_text("one two\teins zwei\nthree\tdrei\n", encoding="utf-8")
    child.check(tmp_path / "good.tsv")
    assert child.tally["ok"] == 1
    folder = tmp_path / "corpus"
    folder.mkdir()
    _corpora(child, folder)
