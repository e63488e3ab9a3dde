"""HTML for `format=html`: the markup is kept byte for byte, only the text between tags is translated.

The standard library's `html.parser` finds the tags; each event's raw span runs from its start (the
parser's `getpos()`) to the next event's start, so concatenating the spans gives the input back exactly.
Text inside script, style, code, pre and textarea, or inside an element marked `translate="no"` or
`class="notranslate"` (the attributes browsers and translation tools honour), is left alone. Character
references are decoded before translation and the output is escaped again.
"""

from __future__ import annotations

from html.parser import HTMLParser

KEEP_TAGS = {"script", "style", "code", "pre", "textarea", "kbd", "samp", "var"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
             "track", "wbr"}


def _keeps(tag: str, attrs: list[tuple[str, str | None]]) -> bool:
    values = dict(attrs)
    return (tag in KEEP_TAGS or (values.get("translate") or "").lower() == "no"
            or "notranslate" in (values.get("class") or "").split())


class _Runs(HTMLParser):
    def __init__(self, doc: str):
        super().__init__(convert_charrefs=True)
        self.doc = doc
        self.line_starts = [0]
        for i, ch in enumerate(doc):
            if ch == "\n":
                self.line_starts.append(i + 1)
        self.events: list[tuple[int, str | None]] = []  # (start offset, decoded text to translate or None)
        self.stack: list[tuple[str, bool]] = []  # open elements: (tag, text inside is kept)

    def _offset(self) -> int:
        line, col = self.getpos()
        return self.line_starts[line - 1] + col

    def _markup(self) -> None:
        self.events.append((self._offset(), None))

    def handle_starttag(self, tag, attrs):
        self._markup()
        if tag not in VOID_TAGS:
            self.stack.append((tag, _keeps(tag, attrs) or self._kept()))

    def handle_startendtag(self, tag, attrs):
        self._markup()

    def handle_endtag(self, tag):
        self._markup()
        for i in range(len(self.stack) - 1, -1, -1):  # close up to the matching element (HTML's leniency)
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        self.events.append((self._offset(), None if self._kept() else data))

    def _kept(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    handle_comment = handle_decl = handle_pi = unknown_decl = lambda self, data: self._markup()
    handle_entityref = handle_charref = lambda self, name: self._markup()  # unused with convert_charrefs


def html_runs(doc: str) -> list[tuple[str, str | None]]:
    """Split `doc` into consecutive (raw source, text to translate or None) runs; the raw parts join
    back into `doc`. Runs of markup, kept text and whitespace-only text have None."""
    parser = _Runs(doc)
    parser.feed(doc)
    parser.close()
    events = parser.events
    if not events or events[0][0] != 0:
        events.insert(0, (0, None))  # nothing the parser reported before its first event (cannot happen)
    runs = []
    for k, (start, text) in enumerate(events):
        end = events[k + 1][0] if k + 1 < len(events) else len(doc)
        if end <= start:
            continue
        runs.append((doc[start:end], text if text is not None and text.strip() else None))
    return runs
