"""Why the new-run form cannot start a run, in the form's words.

The engine's config check names options as the command line spells them ("--warmup-steps"); the form
says the field ("Warmup steps"). The corpus files are checked here before the engine sees them: that
each one is there, and that it is text (a model file or an archive given as the corpus would otherwise
start a run that fails a minute later, while reading it).
"""

from __future__ import annotations

import os
import re
import zlib
from functools import lru_cache

from s2s_desktop.engine.api import TrainConfig

# The command line's option -> the form's field label, for the options the form shows.
FORM_TERMS = {
    "--vocab-size": "Vocabulary size", "--joint-vocab": "Joint vocabulary", "--share-embeddings": "Joint vocabulary",
    "--max-minutes": "Train for (minutes)", "--max-steps": "Train for (steps)", "--max-epochs": "Train for (epochs)",
    "--batch-tokens": "Batch (target tokens)", "--lr": "Learning rate", "--schedule": "LR schedule",
    "--warmup-steps": "Warmup steps", "--dropout": "Dropout", "--label-smoothing": "Label smoothing",
    "--early-stopping": "Best model by", "--patience": "Early-stop patience",
    "--valid-every": "Validate every (steps)", "--device": "Device", "--src-lang": "Languages (source)",
    "--tgt-lang": "Languages (target)", "--out": "Run name",
}
_OPTION = re.compile(r"--[a-z][a-z0-9-]*")
SNIFF_BYTES = 8192  # enough to tell text from a binary file; read again only when the file changes
_GZIP_MAGIC = b"\x1f\x8b"


def in_form_terms(message: str) -> str:
    """An engine message with its option names as the form's labels ("“Warmup steps”"), capitalised."""
    text = _OPTION.sub(lambda m: f"“{FORM_TERMS[m.group()]}”" if m.group() in FORM_TERMS else m.group()[2:], message)
    return text[:1].upper() + text[1:]


def corpus_problem(tsv: bool, train_tsv: str, train_src: str, train_tgt: str, valid_src: str, valid_tgt: str) -> str:
    """What is missing from the corpus fields ("" when nothing is), before the engine's check."""
    if tsv and not train_tsv:
        return "Choose the training file (one source<TAB>target pair per line)."
    if not tsv and not (train_src and train_tgt):
        return "Choose both training files: the source and the target, one sentence per line, aligned."
    if not tsv and bool(valid_src) != bool(valid_tgt):
        return "Give both validation files, or neither."
    return ""


def file_problem(train: TrainConfig) -> str:
    """The first corpus file that is missing, a folder or not text ("" when all are fine)."""
    for label, path in (("training file", train.train_tsv), ("training source", train.train_src),
                        ("training target", train.train_tgt), ("validation file", train.valid_tsv),
                        ("validation source", train.valid_src), ("validation target", train.valid_tgt)):
        if not path:
            continue
        if os.path.isdir(path):
            return f"The {label} {path} is a folder; choose the text file inside it."
        if not os.path.isfile(path):
            return f"The {label} {path} does not exist."
        try:
            stat = os.stat(path)
        except OSError:
            continue  # the engine says why it cannot be read
        if looks_binary(path, stat.st_mtime_ns, stat.st_size):
            return (f"The {label} {os.path.basename(path)} is not a text file (it has NUL bytes: a model, an archive "
                    "or UTF-16 text?); choose the plain-text corpus, UTF-8, optionally gzipped.")
    return ""


@lru_cache(maxsize=64)
def looks_binary(path: str, _mtime_ns: int, _size: int) -> bool:
    """Whether the file's first bytes (decompressed, for gzip) hold a NUL byte, as no text corpus does.
    Cached by modification time and size: the form checks on every keystroke."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError:
        return False
    if head.startswith(_GZIP_MAGIC):
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, SNIFF_BYTES)
        except zlib.error:
            return True  # not a gzip stream after all
    return b"\x00" in head
