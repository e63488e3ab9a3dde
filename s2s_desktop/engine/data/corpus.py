"""Reading parallel corpora (sentence-aligned source/target text) from disk.

Two layouts are accepted: one TSV file with ``source<TAB>target`` per line, or two plain
files aligned line by line (``train.en`` + ``train.de``). Either may be gzipped.

Every problem becomes a :class:`CorpusError` whose message names the file, the 1-based line
where it applies, and what to do, because a silently misaligned corpus trains a useless model.
Stdlib only: this module is imported by the CLI and the GUI before torch is loaded.
"""

from __future__ import annotations

import gzip
import os
import random
import zlib
from dataclasses import dataclass
from pathlib import Path

from s2s_desktop.errors import ConfigError, CorpusError

__all__ = ["ParallelCorpus", "read_lines", "read_parallel", "split_by_source"]

PathArg = str | os.PathLike[str]

_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass
class ParallelCorpus:
    """Aligned sentence pairs plus enough provenance to point the user back at the file."""

    sources: list[str]
    targets: list[str]
    line_numbers: list[int]  # 1-based line of each kept pair in its file(s)
    skipped_empty: int  # pairs dropped because one or both sides were empty/whitespace
    origin: str  # human-readable description, e.g. "train.tsv" or "train.en + train.de"

    def __len__(self) -> int:
        return len(self.sources)


# --------------------------------------------------------------------------- reading one file


def read_lines(path: PathArg) -> list[str]:
    """Return the lines of a UTF-8 (optionally gzipped) text file, without terminators.

    The file is read and decoded in one go (fast for 200k+ lines); the slow line-by-line
    work happens only to locate an error. Lines are split on ``\\n`` only (``\\r\\n`` and bare
    ``\\r`` files are tolerated), never with ``str.splitlines``, which also breaks on
    ``\\x1c``, ``\\x85`` or ``\\u2028`` that occur inside real sentences and would shift
    every following pair out of alignment.
    """
    name = os.fspath(path)
    data = _decompress_if_gzip(name, _read_bytes(name))
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM):]
    _check_not_binary(name, data)
    text = _decode_utf8(name, data)
    if not text.strip():
        raise CorpusError(f"{name} is empty; choose a file that contains one sentence per line")
    return _split_lines(text)


def _read_bytes(name: str) -> bytes:
    """Read the raw file, turning OS errors into messages a user can act on."""
    if os.path.isdir(name):
        raise CorpusError(f"{name} is a folder, not a corpus file; choose the text file inside it")
    try:
        with open(name, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise CorpusError(f"Corpus file not found: {name}; check the path") from None
    except PermissionError:
        raise CorpusError(
            f"Cannot read corpus file {name}: permission denied; check the file's permissions"
        ) from None
    except OSError as exc:
        raise CorpusError(f"Cannot read corpus file {name}: {exc.strerror or exc}") from None


def _decompress_if_gzip(name: str, data: bytes) -> bytes:
    """Decompress when the data starts with the gzip magic (the extension is not trusted)."""
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except EOFError:
        raise CorpusError(
            f"{name} is a truncated gzip file (it ends before the compressed data does); "
            "download or compress it again"
        ) from None
    except (OSError, zlib.error) as exc:
        raise CorpusError(
            f"{name} is not a valid gzip file ({exc}); download or compress it again"
        ) from None


def _check_not_binary(name: str, data: bytes) -> None:
    """Reject data with NUL bytes: no text corpus has them, binary and UTF-16 files do."""
    nul = data.find(b"\x00")
    if nul < 0:
        return
    line, _ = _locate(data, nul)
    hint = "choose a plain-text (UTF-8) file instead"  # read_lines reads corpora and files to translate
    if data.startswith(_UTF16_BOMS) or nul <= 1:
        hint = "if it is UTF-16 text, re-save it as UTF-8"
    raise CorpusError(f"{name} looks like a binary file (NUL byte on line {line}); {hint}")


def _decode_utf8(name: str, data: bytes) -> str:
    """Decode strictly; on failure report the line and column of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _locate(data, exc.start)
        bad = data[exc.start]
        raise CorpusError(
            f"{name}, line {line}: invalid UTF-8 (byte 0x{bad:02x} at column {column}); "
            "re-save the file as UTF-8"
        ) from None


def _locate(data: bytes, offset: int) -> tuple[int, int]:
    """Map a byte offset to a 1-based (line, character column), splitting as `_split_lines` does.

    Bytes before ``offset`` are assumed to decode (true for the first decode error); where they
    do not, the column is counted with replacement characters.
    """
    sep = b"\n" if b"\n" in data or b"\r" not in data else b"\r"
    line = data.count(sep, 0, offset) + 1
    line_start = data.rfind(sep, 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return line, column


def _split_lines(text: str) -> list[str]:
    """Split on ``\\n`` (CRLF, or bare CR when the file has no LF); a final newline adds no line."""
    text = text.replace("\r\n", "\n")
    if "\n" not in text:
        text = text.replace("\r", "\n")
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return lines


# --------------------------------------------------------------------------- parallel corpora


def read_parallel(
    tsv: PathArg | None = None, src: PathArg | None = None, tgt: PathArg | None = None
) -> ParallelCorpus:
    """Read either one TSV file (``tsv``) or two aligned files (``src`` and ``tgt``).

    Sides are stripped; pairs with an empty side are dropped and counted in ``skipped_empty``
    so the user can see how much of the file was unused.
    """
    if tsv is not None and src is None and tgt is None:
        return _read_tsv(os.fspath(tsv))
    if tsv is None and src is not None and tgt is not None:
        return _read_two_files(os.fspath(src), os.fspath(tgt))
    raise CorpusError(
        "Give either one TSV file (tsv=...) or both a source and a target file (src=..., tgt=...); "
        f"got tsv={_show(tsv)}, src={_show(src)}, tgt={_show(tgt)}"
    )


def _show(path: PathArg | None) -> str:
    return "none" if path is None else os.fspath(path)


def _read_tsv(name: str) -> ParallelCorpus:
    """Parse ``source<TAB>target`` lines; blank lines are skipped, other tab counts are errors."""
    sources: list[str] = []
    targets: list[str] = []
    numbers: list[int] = []
    skipped = 0
    for number, line in enumerate(read_lines(name), start=1):
        if not line.strip():
            skipped += 1
            continue
        tabs = line.count("\t")
        if tabs != 1:
            raise CorpusError(
                f"{name}, line {number}: expected exactly one TAB between source and target, "
                f"found {tabs}; fix the line, or give sources and targets as two separate files"
            )
        source, target = line.split("\t")
        skipped += _keep_pair(source, target, number, sources, targets, numbers)
    return _finish(sources, targets, numbers, skipped, Path(name).name, name)


def _read_two_files(src: str, tgt: str) -> ParallelCorpus:
    """Pair line i of ``src`` with line i of ``tgt``; differing line counts are an error."""
    src_lines = read_lines(src)
    tgt_lines = read_lines(tgt)
    if len(src_lines) != len(tgt_lines):
        raise CorpusError(
            f"{src} has {len(src_lines)} lines but {tgt} has {len(tgt_lines)}; "
            "the files must be aligned line by line"
        )
    sources: list[str] = []
    targets: list[str] = []
    numbers: list[int] = []
    skipped = 0
    for number, (source, target) in enumerate(zip(src_lines, tgt_lines), start=1):
        skipped += _keep_pair(source, target, number, sources, targets, numbers)
    origin = f"{Path(src).name} + {Path(tgt).name}"
    return _finish(sources, targets, numbers, skipped, origin, f"{src} + {tgt}")


def _keep_pair(
    source: str,
    target: str,
    number: int,
    sources: list[str],
    targets: list[str],
    numbers: list[int],
) -> int:
    """Append the stripped pair if both sides are non-empty; return 1 if it was skipped."""
    source, target = source.strip(), target.strip()
    if not source or not target:
        return 1
    sources.append(source)
    targets.append(target)
    numbers.append(number)
    return 0


def _finish(
    sources: list[str],
    targets: list[str],
    numbers: list[int],
    skipped: int,
    origin: str,
    full_name: str,
) -> ParallelCorpus:
    """Build the corpus, refusing one with no usable pair (training on it would be pointless)."""
    if not sources:
        raise CorpusError(
            f"{full_name} contains no sentence pairs ({skipped} pairs had an empty side); "
            "check that source and target text are both present"
        )
    return ParallelCorpus(sources, targets, numbers, skipped, origin)


# --------------------------------------------------------------------------- validation split


def split_by_source(
    corpus: ParallelCorpus, valid_size: int, seed: int
) -> tuple[ParallelCorpus, ParallelCorpus]:
    """Split off a validation set of at least ``valid_size`` pairs, deterministically.

    Whole groups of pairs sharing a source sentence go to one side, so that validation never
    scores sentences the model was trained on. The groups are shuffled from their sorted order
    with ``random.Random(seed)``, which makes the split depend only on the data and the seed.
    At least one group always stays in training. Returns ``(train, valid)``, each in file order.
    """
    if valid_size < 1:
        raise ConfigError(f"The validation size must be at least 1 pair, got {valid_size}")
    groups = _group_by_source(corpus.sources)
    if len(groups) < 2:
        raise CorpusError(
            f"{corpus.origin} has a single distinct source sentence, so no validation set can be "
            "split off without overlapping training; give a separate validation corpus"
        )
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    valid_indices: list[int] = []
    for source in order[:-1]:  # the last group always stays in training
        if len(valid_indices) >= valid_size:
            break
        valid_indices.extend(groups[source])
    chosen = set(valid_indices)
    train_indices = [i for i in range(len(corpus)) if i not in chosen]
    train = _subset(corpus, train_indices, corpus.skipped_empty, "train split")
    valid = _subset(corpus, sorted(chosen), 0, "validation split")
    return train, valid


def _group_by_source(sources: list[str]) -> dict[str, list[int]]:
    """Map each distinct source sentence to the indices of its pairs, in file order."""
    groups: dict[str, list[int]] = {}
    for index, source in enumerate(sources):
        groups.setdefault(source, []).append(index)
    return groups


def _subset(corpus: ParallelCorpus, indices: list[int], skipped: int, label: str) -> ParallelCorpus:
    return ParallelCorpus(
        sources=[corpus.sources[i] for i in indices],
        targets=[corpus.targets[i] for i in indices],
        line_numbers=[corpus.line_numbers[i] for i in indices],
        skipped_empty=skipped,
        origin=f"{corpus.origin} ({label})",
    )
