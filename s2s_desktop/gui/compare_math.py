"""Two models' translations of one text, side by side: where their words differ, how much they agree,
and the comparison as a file (.csv, .json). No Qt here: the Compare tab (compare_view) draws it."""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass

import numpy as np

from s2s_desktop.engine.api import ParagraphTranslation, Translation
from s2s_desktop.gui.attention_math import MEAN_OF_HEADS, AttentionView, attention_view


@dataclass(frozen=True)
class WordDiff:
    """The words of two translations, each flagged where it is not in the other's matching run."""

    a: tuple[tuple[str, bool], ...]  # (word, differs)
    b: tuple[tuple[str, bool], ...]

    @property
    def same(self) -> bool:
        return not any(d for _, d in self.a) and not any(d for _, d in self.b)


def word_diff(a: str, b: str) -> WordDiff:
    """Words (split on spaces) matched in order (difflib's longest matching runs); the others differ."""
    wa, wb = a.split(), b.split()
    da, db = [True] * len(wa), [True] * len(wb)
    for block in difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            da[block.a + k] = db[block.b + k] = False
    return WordDiff(tuple(zip(wa, da)), tuple(zip(wb, db)))


def agreement(a: ParagraphTranslation, b: ParagraphTranslation) -> tuple[int, int, float | None]:
    """(sentences translated the same, sentences, BLEU of B's translation against A's as the reference;
    None when there is nothing to score)."""
    pairs = list(zip(a.sentences, b.sentences))
    same = sum(x.best.text == y.best.text for x, y in pairs)
    if not pairs:
        return 0, 0, None
    import sacrebleu

    score = sacrebleu.BLEU(effective_order=True).corpus_score([y.best.text for _, y in pairs],
                                                               [[x.best.text for x, _ in pairs]]).score
    return same, len(pairs), score


def map_of(t: Translation) -> AttentionView:
    """What the tab draws for one model: the cross-attention of the best translation, mean of the heads
    of the last layer (the one nearest the output), in words."""
    att = np.asarray(t.best.attention)
    last = max(att.shape[0] - 1, 0) if att.ndim == 4 else 0
    return attention_view(t, t.best, last, MEAN_OF_HEADS, True)


def to_csv(a: ParagraphTranslation, b: ParagraphTranslation) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["sentence", "source", "model A", "model B", "same"])
    for i, (x, y) in enumerate(zip(a.sentences, b.sentences), 1):
        writer.writerow([i, x.source, x.best.text, y.best.text, "yes" if x.best.text == y.best.text else "no"])
    return buf.getvalue()


def to_json(a: ParagraphTranslation, b: ParagraphTranslation, name_a: str, name_b: str) -> dict:
    same, count, bleu = agreement(a, b)
    sentences = []
    for x, y in zip(a.sentences, b.sentences):
        diff = word_diff(x.best.text, y.best.text)
        sides = {}
        for key, t, words in (("a", x, diff.a), ("b", y, diff.b)):
            view = map_of(t)
            sides[key] = {"translation": t.best.text, "score": round(float(t.best.score), 6),
                          "words": [{"word": w, "differs": d} for w, d in words],
                          "attention": {"target_words": list(view.target_labels),
                                        "source_words": list(view.source_labels),
                                        "weights": np.round(view.matrix.astype(float), 6).tolist()}}
        sentences.append({"source": x.source, "same": diff.same, **sides})
    return {"model_a": name_a, "model_b": name_b, "same_sentences": same, "sentences_compared": count,
            "bleu_b_against_a": None if bleu is None else round(bleu, 2),
            "attention": "cross-attention, mean of the last layer's heads, words", "sentences": sentences}
