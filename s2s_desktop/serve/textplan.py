"""A request's texts as the sentences the model translates, and the way back to the texts.

Models are trained on single sentences, so each text is split as the app's translate panel splits a
paragraph (`engine.data.segment`); with `format=html` only the runs between tags are split. A `Plan`
holds, for one text, the literal pieces to keep and the slots of its sentences in the request's flat
list, so that all the sentences of a request (a string or a list, text or HTML) go to the batching
worker as one job and come back in order.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from s2s_desktop.engine.api import Translation
from s2s_desktop.engine.data.segment import split_sentences
from s2s_desktop.serve.html_text import html_runs


@dataclass(frozen=True)
class Slot:
    index: int  # into the request's flat list of sentences
    escape: bool  # HTML: the translation is escaped before it is put back between the tags


@dataclass(frozen=True)
class Plan:
    parts: tuple[str | Slot, ...]

    def render(self, translations: list[Translation], candidate: int = 0) -> str:
        """The text with each sentence replaced by its translation (its n-best entry `candidate`, or
        the best one when the search found fewer)."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            t = translations[part.index]
            text = (t.nbest[candidate] if candidate < len(t.nbest) else t.best).text
            out.append(html.escape(text, quote=False) if part.escape else text)
        return "".join(out)


def _split(text: str, sentences: list[str], escape: bool) -> list[str | Slot]:
    seg = split_sentences(text)
    parts: list[str | Slot] = [seg.leading] if seg.leading else []
    for sentence, sep in zip(seg.sentences, seg.separators):
        parts.append(Slot(len(sentences), escape))
        sentences.append(sentence)
        if sep:
            parts.append(sep)
    return parts


def plan(text: str, fmt: str, sentences: list[str]) -> Plan:
    """Plan `text` (format "text" or "html"), appending its sentences to `sentences`."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if fmt == "text":
        return Plan(tuple(_split(text, sentences, escape=False)))
    parts: list[str | Slot] = []
    for raw, decoded in html_runs(text):
        if decoded is None or not any(ch.isalnum() for ch in decoded):
            parts.append(raw)  # markup, kept text, whitespace or bare punctuation between tags
        else:
            parts.extend(_split(decoded, sentences, escape=True))
    return Plan(tuple(parts))


def alternatives(plan_: Plan, translations: list[Translation], count: int) -> list[str]:
    """Up to `count` other translations of the text (LibreTranslate's `alternatives`), best first,
    without repeats of the main one."""
    main = plan_.render(translations)
    seen, out = {main, ""}, []
    for k in range(1, count + 1):
        text = plan_.render(translations, k)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out
