"""Tests for s2s_desktop.engine.data.corpus: reading, alignment, error messages and the valid split."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from s2s_desktop.engine.data.corpus import ParallelCorpus, read_lines, read_parallel, split_by_source
from s2s_desktop.errors import ConfigError, CorpusError, S2SError

SHARED_RAW = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "multi30k" / "raw"


def write(path: Path, data: bytes | str) -> Path:
    """Write bytes verbatim, or text as UTF-8 without newline translation."""
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


# --------------------------------------------------------------------------- read_lines


def test_read_lines_final_newline_optional(tmp_path: Path) -> None:
    with_nl = write(tmp_path / "a.txt", "one\ntwo\n")
    without = write(tmp_path / "b.txt", "one\ntwo")
    assert read_lines(with_nl) == ["one", "two"]
    assert read_lines(without) == ["one", "two"]


def test_read_lines_bom_and_crlf(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.txt", b"\xef\xbb\xbfHallo\r\nWelt\r\n")
    assert read_lines(path) == ["Hallo", "Welt"]


def test_read_lines_bare_cr(tmp_path: Path) -> None:
    path = write(tmp_path / "mac.txt", b"one\rtwo\r")
    assert read_lines(str(path)) == ["one", "two"]


def test_read_lines_gzip_detected_by_magic_not_extension(tmp_path: Path) -> None:
    path = write(tmp_path / "plain_name.txt", gzip.compress("Ä\nß\n".encode()))
    assert read_lines(path) == ["Ä", "ß"]


def test_read_lines_keeps_unicode_line_separators_inside_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "u.txt", "a\x85b\u2028c\x1cd\nsecond\n")
    assert read_lines(path) == ["a\x85b\u2028c\x1cd", "second"]


@pytest.mark.parametrize("content", [b"", b"  \n\n\t\r\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path / "empty.txt", content)
    with pytest.raises(CorpusError, match="is empty") as info:
        read_lines(path)
    assert str(path) in str(info.value)


def test_empty_gzip_file(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.gz", gzip.compress(b""))
    with pytest.raises(CorpusError, match="is empty"):
        read_lines(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.en"
    with pytest.raises(CorpusError) as info:
        read_lines(path)
    assert f"Corpus file not found: {path}" in str(info.value)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="is a folder") as info:
        read_lines(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_binary_file_reports_line_of_nul(tmp_path: Path) -> None:
    path = write(tmp_path / "bin.txt", b"fine\nalso fine\nbro\x00ken\n")
    with pytest.raises(CorpusError) as info:
        read_lines(path)
    assert f"{path} looks like a binary file (NUL byte on line 3)" in str(info.value)
    assert "corpus" not in str(info.value)  # the same words for a file to translate (issue 17 item 9)


def test_utf16_file_is_reported_as_binary_with_hint(tmp_path: Path) -> None:
    path = write(tmp_path / "u16.txt", "hello\n".encode("utf-16"))
    with pytest.raises(CorpusError, match="UTF-16.*UTF-8"):
        read_lines(path)


def test_invalid_utf8_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "latin1.txt", b"ok\nstill ok\n" + "naïve\n".encode("latin-1"))
    with pytest.raises(CorpusError) as info:
        read_lines(path)
    message = str(info.value)
    assert f"{path}, line 3: invalid UTF-8 (byte 0xef at column 3)" in message
    assert "re-save the file as UTF-8" in message


def test_invalid_utf8_column_counts_characters(tmp_path: Path) -> None:
    path = write(tmp_path / "mixed.txt", "äö".encode() + b"\xff\n")
    with pytest.raises(CorpusError, match=r"line 1: invalid UTF-8 \(byte 0xff at column 3\)"):
        read_lines(path)


def test_invalid_utf8_inside_gzip(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.gz", gzip.compress(b"a\nb\n\xc3\n"))
    with pytest.raises(CorpusError, match=r"line 3: invalid UTF-8 \(byte 0xc3"):
        read_lines(path)


def test_corrupt_gzip(tmp_path: Path) -> None:
    path = write(tmp_path / "corrupt.gz", b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(CorpusError, match="is not a valid gzip file") as info:
        read_lines(path)
    assert str(path) in str(info.value)


def test_truncated_gzip(tmp_path: Path) -> None:
    whole = gzip.compress("".join(f"sentence number {i}\n" for i in range(500)).encode())
    path = write(tmp_path / "cut.gz", whole[: len(whole) // 2])
    with pytest.raises(CorpusError, match="truncated gzip") as info:
        read_lines(path)
    assert str(path) in str(info.value)


def test_corpus_error_is_an_s2s_error() -> None:
    assert issubclass(CorpusError, S2SError)


# --------------------------------------------------------------------------- read_parallel


def test_read_tsv(tmp_path: Path) -> None:
    path = write(tmp_path / "train.tsv", " Hello \t Hallo \nA dog.\tEin Hund.\n")
    corpus = read_parallel(tsv=path)
    assert corpus == ParallelCorpus(
        sources=["Hello", "A dog."],
        targets=["Hallo", "Ein Hund."],
        line_numbers=[1, 2],
        skipped_empty=0,
        origin="train.tsv",
    )
    assert len(corpus) == 2


def test_read_tsv_skips_empty_pairs_and_blank_lines(tmp_path: Path) -> None:
    text = "a\tA\n\nb\t \n  \t c\n\t\nd\tD\n\n"
    corpus = read_parallel(tsv=write(tmp_path / "t.tsv", text))
    assert corpus.sources == ["a", "d"]
    assert corpus.targets == ["A", "D"]
    assert corpus.line_numbers == [1, 6]
    assert corpus.skipped_empty == 5  # lines 2, 3, 4, 5 and 7


def test_read_tsv_gzip_bom_crlf(tmp_path: Path) -> None:
    data = gzip.compress(b"\xef\xbb\xbfone\teins\r\ntwo\tzwei\r\n")
    corpus = read_parallel(tsv=write(tmp_path / "t.tsv.gz", data))
    assert corpus.sources == ["one", "two"]
    assert corpus.targets == ["eins", "zwei"]


@pytest.mark.parametrize(("bad_line", "tabs"), [("no tab here", 0), ("a\tb\tc", 2)])
def test_read_tsv_wrong_tab_count(tmp_path: Path, bad_line: str, tabs: int) -> None:
    path = write(tmp_path / "t.tsv", f"x\tX\n\ny\tY\n{bad_line}\n")
    with pytest.raises(CorpusError) as info:
        read_parallel(tsv=path)
    expected = f"{path}, line 4: expected exactly one TAB between source and target, found {tabs}"
    assert expected in str(info.value)


def test_read_two_files(tmp_path: Path) -> None:
    src = write(tmp_path / "train.en", "A man .\n\nTwo dogs\n")
    tgt = write(tmp_path / "train.de", "Ein Mann .\nleer\nZwei Hunde\n")
    corpus = read_parallel(src=src, tgt=tgt)
    assert corpus.sources == ["A man .", "Two dogs"]
    assert corpus.targets == ["Ein Mann .", "Zwei Hunde"]
    assert corpus.line_numbers == [1, 3]
    assert corpus.skipped_empty == 1
    assert corpus.origin == "train.en + train.de"


def test_two_files_tab_inside_sentence_is_kept(tmp_path: Path) -> None:
    src = write(tmp_path / "s.txt", "a\tb\n")
    tgt = write(tmp_path / "t.txt", "c\n")
    assert read_parallel(src=src, tgt=tgt).sources == ["a\tb"]


def test_two_files_unicode_separators_keep_alignment(tmp_path: Path) -> None:
    src = write(tmp_path / "s.txt", "one\u2028still one\nx\x85y\nthree\n")
    tgt = write(tmp_path / "t.txt", "eins\nzwei\ndrei\n")
    corpus = read_parallel(src=src, tgt=tgt)
    assert corpus.sources == ["one\u2028still one", "x\x85y", "three"]
    assert corpus.targets == ["eins", "zwei", "drei"]


def test_two_files_gzip_and_plain_mixed(tmp_path: Path) -> None:
    src = write(tmp_path / "s.gz", gzip.compress(b"a\nb\n"))
    tgt = write(tmp_path / "t.txt", "A\nB")  # no final newline: same count
    assert read_parallel(src=src, tgt=tgt).targets == ["A", "B"]


def test_two_files_mismatched_counts_names_both(tmp_path: Path) -> None:
    src = write(tmp_path / "train.en", "a\nb\nc\n")
    tgt = write(tmp_path / "train.de", "A\nB\n")
    with pytest.raises(CorpusError) as info:
        read_parallel(src=src, tgt=tgt)
    message = str(info.value)
    assert f"{src} has 3 lines but {tgt} has 2" in message
    assert "aligned line by line" in message


def test_no_pairs_left(tmp_path: Path) -> None:
    path = write(tmp_path / "t.tsv", "a\t \n \tb\n")
    with pytest.raises(CorpusError, match="contains no sentence pairs") as info:
        read_parallel(tsv=path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"src": "a"}, {"tgt": "b"}, {"tsv": "t", "src": "a"}, {"tsv": "t", "src": "a", "tgt": "b"}],
)
def test_wrong_argument_combination(kwargs: dict[str, str]) -> None:
    with pytest.raises(CorpusError, match=r"either one TSV file \(tsv=...\) or both"):
        read_parallel(**kwargs)


def test_read_parallel_propagates_file_errors(tmp_path: Path) -> None:
    src = write(tmp_path / "s.txt", "a\n")
    with pytest.raises(CorpusError, match="Corpus file not found: .*missing.de"):
        read_parallel(src=src, tgt=tmp_path / "missing.de")


# --------------------------------------------------------------------------- split_by_source


def make_corpus(n_sources: int = 30, repeats: int = 3) -> ParallelCorpus:
    """A corpus where every source occurs ``repeats`` times, interleaved across the file."""
    sources = [f"s{i}" for _ in range(repeats) for i in range(n_sources)]
    targets = [f"t{k}" for k in range(len(sources))]
    lines = list(range(1, len(sources) + 1))
    return ParallelCorpus(sources, targets, lines, skipped_empty=4, origin="train.tsv")


def test_split_is_deterministic_and_seed_dependent() -> None:
    corpus = make_corpus()
    first = split_by_source(corpus, valid_size=10, seed=7)
    second = split_by_source(corpus, valid_size=10, seed=7)
    other = split_by_source(corpus, valid_size=10, seed=8)
    assert first == second
    assert set(first[1].sources) != set(other[1].sources)


def test_split_is_disjoint_by_source_and_complete() -> None:
    corpus = make_corpus()
    train, valid = split_by_source(corpus, valid_size=10, seed=1)
    assert not set(train.sources) & set(valid.sources)
    pairs = sorted(zip(train.line_numbers + valid.line_numbers, train.targets + valid.targets))
    assert pairs == list(zip(corpus.line_numbers, corpus.targets))


def test_split_sizes_take_whole_groups() -> None:
    corpus = make_corpus(n_sources=30, repeats=3)
    train, valid = split_by_source(corpus, valid_size=10, seed=3)
    assert len(valid) == 12  # four whole groups of three: the first count >= 10
    assert len(train) == 90 - 12


def test_split_keeps_file_order_and_metadata() -> None:
    corpus = make_corpus()
    train, valid = split_by_source(corpus, valid_size=5, seed=0)
    for part in (train, valid):
        assert part.line_numbers == sorted(part.line_numbers)
        for source, target, line in zip(part.sources, part.targets, part.line_numbers):
            assert (source, target) == (corpus.sources[line - 1], corpus.targets[line - 1])
    assert (train.skipped_empty, valid.skipped_empty) == (4, 0)
    assert train.origin == "train.tsv (train split)"
    assert valid.origin == "train.tsv (validation split)"


def test_split_does_not_depend_on_file_order() -> None:
    corpus = make_corpus(n_sources=20, repeats=1)
    reversed_corpus = ParallelCorpus(
        corpus.sources[::-1], corpus.targets[::-1], corpus.line_numbers[::-1], 0, "r"
    )
    _, valid = split_by_source(corpus, valid_size=5, seed=2)
    _, valid_reversed = split_by_source(reversed_corpus, valid_size=5, seed=2)
    assert set(valid.sources) == set(valid_reversed.sources)


def test_split_keeps_one_group_for_training() -> None:
    corpus = make_corpus(n_sources=3, repeats=2)
    train, valid = split_by_source(corpus, valid_size=1000, seed=0)
    assert len(set(train.sources)) == 1
    assert len(train) == 2
    assert len(valid) == 4


def test_split_single_source_raises() -> None:
    corpus = ParallelCorpus(["same", "same"], ["a", "b"], [1, 2], 0, "one.tsv")
    with pytest.raises(CorpusError, match="one.tsv has a single distinct source sentence"):
        split_by_source(corpus, valid_size=1, seed=0)


def test_split_rejects_non_positive_size() -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        split_by_source(make_corpus(), valid_size=0, seed=0)


# --------------------------------------------------------------------------- shared data


@pytest.mark.shared_data
def test_multi30k_train_reads_29000_pairs() -> None:
    if not SHARED_RAW.is_dir():
        pytest.skip(f"{SHARED_RAW} is absent")
    corpus = read_parallel(src=SHARED_RAW / "train.en.gz", tgt=SHARED_RAW / "train.de.gz")
    assert len(corpus) == 29000
    assert corpus.skipped_empty == 0
    assert corpus.line_numbers[-1] == 29000
    assert corpus.origin == "train.en.gz + train.de.gz"
