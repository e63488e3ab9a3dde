"""Splitting paragraphs into sentences so that each is translated on its own and re-joined as typed.

Models are trained on single sentences; a paragraph fed whole gets truncated or garbled. The split
is rule-based and conservative: a line break always ends a sentence; inside a line, a sentence ends
after ., !, ?, … (and closing quotes or brackets) when whitespace and then a capital letter, a digit,
an opening quote or a non-Latin letter follow, and the word before the period is not a known
abbreviation or a single capital (initials).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "e.g", "i.e", "jr", "sr", "no", "fig", "vol", "ca",
    "z.b", "d.h", "u.a", "usw", "bzw", "nr", "str", "hr", "fr", "dipl", "ing", "mme", "mlle", "sra",
}
_END = re.compile(
    r"([.!?\u2026\u3002\uff01\uff1f]+[\"'\u201c\u201d\u2018\u2019\u00ab\u00bb)\]]*)(\s+)(?=[\"'\u201c\u2018\u201e\u201a\u00ab(\[]?\w)"
)


@dataclass(frozen=True)
class Segments:
    leading: str  # whitespace before the first sentence
    sentences: tuple[str, ...]
    separators: tuple[str, ...]  # what follows each sentence (spaces, line breaks, or "")


def _is_boundary(line: str, match: re.Match) -> bool:
    nxt = line[match.end() :]
    if not nxt:
        return False
    first = nxt.lstrip("\"'\u201c\u2018\u201e\u201a\u00ab([")[:1]
    if match.group(1).startswith(".") and first.isalpha() and first.isascii() and first.islower():
        return False  # "e.g. the", "approx. ten": lower-case continuation after a period
    word = re.findall(r"(\S+)$", line[: match.start(1)])
    if match.group(1).startswith(".") and word:
        token = word[0].lower().rstrip(".")
        if token in ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
            return False
    return True


def split_sentences(text: str) -> Segments:
    """Split `text` into sentences; `leading + "".join(s + sep)` gives back `text` exactly."""
    stripped = text.lstrip()
    leading = text[: len(text) - len(stripped)]
    sentences: list[str] = []
    separators: list[str] = []
    for line, newline in re.findall(r"([^\n]*)(\n*)", stripped):
        if not line and not newline:
            continue
        body = line.rstrip()
        trail = line[len(body) :]
        if not body:  # a blank line: attach it to the previous separator
            if separators:
                separators[-1] += line + newline
            else:
                leading += line + newline
            continue
        start = 0
        for m in _END.finditer(body):
            if _is_boundary(body, m):
                sentences.append(body[start : m.end(1)])
                separators.append(m.group(2))
                start = m.end()
        sentences.append(body[start:])
        separators.append(trail + newline)
    return Segments(leading, tuple(sentences), tuple(separators))
