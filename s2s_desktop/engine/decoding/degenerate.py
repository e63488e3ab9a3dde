"""Does a translation look degenerate? The checks behind `Translation.degenerate`.

The repetition guard (repetition.py) stops exact loops, but a small model can still derail: a phrase
that comes back with a different ending each time, a piece stuttered ("355555"), an output that runs
to the length limit, a string of unknown pieces. Such an output is flagged with the reason, so that a
front end can mark it instead of showing it as a normal translation. The checks read pieces only
(plain Python), and a shape the source has itself ("bye bye bye bye") is not held against the output.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from s2s_desktop.engine.data.words import SPECIALS, WORD_START

UNK = "<unk>"
PHRASE = 3  # pieces in a phrase ...
PHRASE_REPEATS = 3  # ... that this often, and more often than the source repeats any of its own, is a loop
RUN = 4  # the same piece this many times in a row (and in a longer run than any in the source)
UNK_SHARE = 0.3  # unknown pieces: this share of the output ...
UNK_MIN = 2  # ... and at least this many


def _body(tokens: Sequence[str]) -> list[str]:
    """The pieces without "</s>" and the other markers (unknown pieces kept: they are counted)."""
    return [t for t in tokens if t == UNK or t not in SPECIALS]


def _longest_run(pieces: Sequence[str]) -> tuple[int, str]:
    best, piece, run = 0, "", 0
    for i, p in enumerate(pieces):
        run = run + 1 if i and pieces[i - 1] == p else 1
        if run > best:
            best, piece = run, p
    return best, piece


def _top_phrase(pieces: Sequence[str]) -> tuple[int, tuple[str, ...]]:
    counts = Counter(tuple(pieces[i : i + PHRASE]) for i in range(len(pieces) - PHRASE + 1))
    if not counts:
        return 0, ()
    phrase, n = counts.most_common(1)[0]
    return n, phrase


def _show(pieces: Sequence[str]) -> str:
    return "".join(pieces).replace(WORD_START, " ").strip() or "".join(pieces)


def degenerate_reason(source_tokens: Sequence[str], tokens: Sequence[str], limit: int | None = None) -> str | None:
    """Why the output `tokens` (target pieces, "</s>" included when it ended) of `source_tokens` looks
    degenerate, in words for a tooltip, or None when it looks normal. `limit`: the most pieces the
    search allowed (EOS included); an output that used them all did not end by itself."""
    out, src = _body(tokens), _body(source_tokens)
    if not out:
        return None
    run, piece = _longest_run(out)
    if run >= RUN and run > _longest_run(src)[0]:
        return f"the piece \u201c{_show([piece])}\u201d {run} times in a row"
    repeats, phrase = _top_phrase(out)
    if repeats >= PHRASE_REPEATS and repeats > max(_top_phrase(src)[0], 1):
        return f"\u201c{_show(phrase)}\u201d repeated {repeats} times (a loop)"
    unknown = out.count(UNK)
    if unknown >= UNK_MIN and unknown >= UNK_SHARE * len(out):
        return f"{unknown} of {len(out)} pieces unknown to the model ({UNK})"
    if limit is not None and len(tokens) >= limit:
        return f"ran to the length limit ({len(tokens)} pieces for {len(src)} source pieces) without ending"
    return None
