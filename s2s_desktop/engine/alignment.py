"""Word alignments from a model, as Pharaoh links ("0-0 1-2 ..." = source word - target word), and
their alignment error rate against gold links (Och & Ney 2003).

Methods, each scoring every (target piece, source piece) pair ("</s>" left out: attention piles onto
it), then linking each target word to the source word it scores highest, the piece scores summed over
a source word's pieces and averaged over the target word's:
- `argmax`: the cross-attention of the position that predicts the piece;
- `shifted`: the attention one step later, when the piece is the decoder's input (Chen et al. 2020,
  "shift-att": a decoder attends to what it translates next, so the unshifted map is one word early);
- `attribution`: input x gradient of the piece's log-probability over the source embeddings.
The default is `argmax` (see `default_method`).
The attention is one layer's mean over its heads: by default the second-to-last decoder layer
(OpenNMT-py's report_align choice; the last for a 1-layer model, the only map of an RNN).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s2s_desktop.errors import InputError

# torch-free at module level (the inspector's alignment export uses the attention methods): the
# teacher-forced pass and the gradients are imported where they are used.

METHODS = ("argmax", "shifted", "attribution")
Links = frozenset[tuple[int, int]]  # (source word, target word), 0-based


def default_method(translator) -> str:
    return method_for(translator.loaded.config.arch)


def method_for(arch: str) -> str:
    """argmax for both architectures: on the constructed tasks of bench/bench_alignment.py (copy,
    reversal, a permutation) `shifted` gave AER 0.79-0.94 for our RNNs and small Transformers alike,
    argmax 0.00-0.28 (their decoders attend to a word's source at the step that predicts it). `shifted`
    stays a choice: Chen et al. found it better for large models on real text."""
    return "argmax"


def default_layer(layers: int) -> int:
    return layers - 2 if layers >= 2 else 0


def layer_attention(attention: np.ndarray, layer: int | None) -> np.ndarray:
    """(L, H, T, S) -> (T, S): the mean over the heads of `layer` (0-based; None: `default_layer`; -1: the
    mean of every layer)."""
    if layer == -1:
        return attention.mean(axis=(0, 1))
    index = default_layer(attention.shape[0]) if layer is None else layer
    if not 0 <= index < attention.shape[0]:
        raise InputError(f"layer {index + 1} does not exist: the model has {attention.shape[0]}")
    return attention[index].mean(axis=0)


def attention_scores(attention: np.ndarray, method: str, target_pieces: int, source_pieces: int,
                     layer: int | None = None) -> np.ndarray:
    """(T, S) from cross-attention (L, H, >= T + 1, >= S): how much each target piece draws on each
    source piece, by `argmax` (the row that predicts it) or `shifted` (the next row)."""
    t, s = target_pieces, source_pieces
    if method == "argmax":
        return layer_attention(attention, layer)[:t, :s]
    if method == "shifted":
        return layer_attention(attention, layer)[1:t + 1, :s]
    raise InputError(f"alignment method {method!r} does not read the attention")


def piece_scores(pair, method: str, layer: int | None = None, translator=None) -> np.ndarray:
    """(T, S) for a `forced.ForcedPair` ("</s>" on both sides left out)."""
    t, s = len(pair.target_ids), len(pair.source_ids)
    if method in ("argmax", "shifted"):
        return attention_scores(pair.attention, method, t, s, layer)
    if method == "attribution":
        from s2s_desktop.engine.attribution import input_x_gradient

        if translator is None:
            raise ValueError("the attribution method needs the translator")
        return input_x_gradient(translator, pair.source_ids, pair.target_ids)[:t, :s]
    raise InputError(f"unknown alignment method {method!r}: choose one of {', '.join(METHODS)}")


def word_scores(scores: np.ndarray, source_word: np.ndarray, target_word: np.ndarray) -> np.ndarray:
    """(T, S) piece scores -> (target words, source words): summed over a source word's pieces, averaged
    over a target word's (as the inspector's whole-words view does)."""
    n_src, n_tgt = int(source_word.max()) + 1, int(target_word.max()) + 1
    cols = np.zeros((scores.shape[0], n_src))
    np.add.at(cols.T, source_word, scores.T)
    rows = np.zeros((n_tgt, n_src))
    np.add.at(rows, target_word, cols)
    return rows / np.bincount(target_word, minlength=n_tgt)[:, None]


def links_of(scores: np.ndarray, source_word: np.ndarray, target_word: np.ndarray) -> Links:
    """Each target word's best source word, from piece `scores` read at word level (a piece of a word
    split into many small pieces, each attending a little elsewhere, would otherwise add false links)."""
    best = word_scores(scores, source_word, target_word).argmax(axis=1)
    return frozenset((int(b), int(t)) for t, b in enumerate(best))


def word_links(pair, scores: np.ndarray) -> Links:
    return links_of(scores, pair.source_word, pair.target_word)


def align(translator, sources: Sequence[str], targets: Sequence[str], method: str | None = None,
          layer: int | None = None, progress: Callable[[int, int], object] | None = None) -> list[Links]:
    """Links for each sentence pair (whitespace-separated words); `method` None: `default_method`."""
    from s2s_desktop.engine.forced import read_pairs

    method = method or default_method(translator)
    if method not in METHODS:
        raise InputError(f"unknown alignment method {method!r}: choose one of {', '.join(METHODS)}")
    out: list[Links] = []
    chunk = 64
    for start in range(0, len(sources), chunk):
        pairs = read_pairs(translator, sources[start:start + chunk], targets[start:start + chunk],
                           first_line=start + 1)
        for pair in pairs:
            out.append(word_links(pair, piece_scores(pair, method, layer, translator)))
        if progress is not None:
            progress(len(out), len(sources))
    return out


def pharaoh(links: Links) -> str:
    return " ".join(f"{i}-{j}" for i, j in sorted(links))


# -- gold links and scores ---------------------------------------------------------------------------
_LINK = re.compile(r"^(\d+)([-?])(\d+)([pPsS]?)$")


@dataclass(frozen=True)
class Gold:
    sure: Links
    possible: Links  # the sure links too


def parse_gold_line(line: str, where: str) -> Gold:
    """Pharaoh links: "i-j" sure, "i?j" or "i-jp" possible (a trailing "s" marks sure)."""
    sure, possible = set(), set()
    for token in line.split():
        m = _LINK.match(token)
        if m is None:
            raise InputError(f"{where}: {token!r} is not a link (i-j for sure, i?j or i-jp for possible)")
        link = (int(m.group(1)), int(m.group(3)))
        possible.add(link)
        if m.group(2) == "-" and m.group(4) not in ("p", "P"):
            sure.add(link)
    return Gold(frozenset(sure), frozenset(possible))


def read_gold(path: str | Path) -> list[Gold]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    lines = text.replace("\r\n", "\n").split("\n")  # "\n" only, as corpora are read (never splitlines)
    if lines and lines[-1] == "":
        lines.pop()
    return [parse_gold_line(line, f"{path}, line {n}") for n, line in enumerate(lines, 1)]


@dataclass(frozen=True)
class AlignmentScores:
    aer: float
    precision: float
    recall: float
    links: int  # predicted
    sure: int
    possible: int

    def to_dict(self) -> dict:
        return {"aer": round(self.aer, 4), "precision": round(self.precision, 4), "recall": round(self.recall, 4),
                "links": self.links, "sure": self.sure, "possible": self.possible}


def score(predicted: Sequence[Links], gold: Sequence[Gold]) -> AlignmentScores:
    """Corpus AER = 1 - (|A&S| + |A&P|) / (|A| + |S|); precision |A&P| / |A|; recall |A&S| / |S|."""
    if len(predicted) != len(gold):
        raise InputError(f"{len(gold)} lines of gold links for {len(predicted)} sentence pairs")
    a = s = a_s = a_p = p = 0
    for links, g in zip(predicted, gold):
        a += len(links)
        s += len(g.sure)
        p += len(g.possible)
        a_s += len(links & g.sure)
        a_p += len(links & g.possible)
    aer = 1.0 - (a_s + a_p) / (a + s) if a + s else 0.0
    return AlignmentScores(aer, a_p / a if a else 0.0, a_s / s if s else 0.0, a, s, p)


def check_gold_fits(gold: Sequence[Gold], sources: Sequence[str], targets: Sequence[str], path: str) -> None:
    """A gold link past the end of its sentence is a mismatched file, not a miss: say where."""
    for n, (g, src, tgt) in enumerate(zip(gold, sources, targets), 1):
        ns, nt = len(src.split()), len(tgt.split())
        for i, j in sorted(g.possible):
            if i >= ns or j >= nt:
                raise InputError(f"{path}, line {n}: the link {i}-{j} is outside the sentence pair "
                                 f"({ns} source and {nt} target words)")
