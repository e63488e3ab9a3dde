"""Non-translatables carried over exactly: numbers, times, dates, phone numbers, codes, e-mail addresses,
URLs, file paths, symbols the vocabulary cannot represent, and names the model does not know.

A small model rewrites what it should copy ("3,50" -> "35555", "Angela Merkel" -> "Lies Melba"), so each
such item is replaced before decoding by a *surrogate*, a one-piece word the model copies reliably
(measured on the built-in model: bench/bench_nontranslatables.py), and put back afterwards: where the
output has the surrogate, or else before the target word that attends most to the item's source piece.
Each item comes out exactly once, in the candidate's text and in its tokens (the inspector shows the
original, not the surrogate), with the attention, probabilities and alternatives kept row for row.

Plain Python and numpy (no torch): detection (`find_items`), masking (`Protector.mask`) and restoration
(`Protector.restore`) are tested without a model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from s2s_desktop.engine.api import EOS_ID, UNK_ID, Candidate

WORD_START = "\u2581"
EOS_PIECE = "</s>"
NUMERIC_KINDS = ("number", "time", "date", "phone")

# Surrogates in the order the built-in model copies them best (bench/bench_nontranslatables.py): single
# digits and "200" in number-shaped places, names the Tatoeba data never translates elsewhere. A model
# without them as one source piece falls back to its own whole-word pieces (`Protector._pools`).
NUMERIC_SURROGATES = ("2", "3", "1", "200", "5", "500")
WORD_SURROGATES = ("Tom", "Facebook", "Boston", "Harvard", "Shakespeare", "London", "Chicago", "Hawaii", "Osaka")

# -- detection -----------------------------------------------------------------------------------------
_TRAILING = ".,;:!?)]}'\"»”’"
_EXTENSIONS = ("txt|pdf|docx?|xlsx?|pptx?|odt|csv|tsv|json|xml|ya?ml|md|html?|png|jpe?g|gif|svg|zip|gz|tar|"
               "py|js|ts|c|cpp|h|java|rs|go|sh|exe|dll|so|mp3|mp4|wav|s2s|log|ini|cfg|toml")
_TLDS = "com|org|net|edu|gov|io|de|uk|eu|fr|es|it|nl|ch|at|info|dev|app"
# (kind, pattern), most specific first: an earlier match wins where two overlap.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((k, re.compile(p)) for k, p in (
    ("url", r"(?:https?|ftp)://[^\s<>\"]+|(?<![\w@.])www\.[^\s<>\"]+"),
    ("email", r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    ("path", r"(?<![\w])[A-Za-z]:\\[^\s]*|\\\\[^\s]+|(?<![\w.:/~])(?:~|\.{1,2})?/[\w.-]+(?:/[\w.-]*)*"
             rf"|(?<![\w/])[\w-]+(?:/[\w.-]+)+\.(?:{_EXTENSIONS})\b|(?<![\w.-])[\w-]+\.(?:{_EXTENSIONS})\b"),
    ("url", rf"(?<![\w@.-])(?:[\w-]+\.)+(?:{_TLDS})\b(?:/[^\s<>\"]*)?"),
    ("date", r"(?<![\w.:/-])(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./]\d{1,2}[./]\d{2,4}|\d{1,2}-\d{1,2}-\d{4})(?![\w/:-])"),
    ("time", r"(?<![\w:.])(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?![\w:])"),
    ("phone", r"(?<![\w+])\+\d{1,3}(?:[ -]?\(\d{1,5}\))?(?:[ -]?\d{2,5}){2,5}(?![\w])"
              r"|(?<![\w(+-])(?:\(\d{1,5}\)\s?)?\d{2,5}(?:-\d{2,8}){1,3}(?![\w-])"),
    ("code", r"(?<![\w@/.-])(?=[\w-]*\d)(?=[\w-]*[^\W\d_])[^\W_](?:\w|-(?=\w))*(?![\w@])"),
    ("number", r"(?<![\w.,])[-−]?\d+(?:[.,]\d+)*%?(?![\w])"),
))
# Not codes: ordinals, decades, clock hours ("3rd", "1990s", "7pm") are words the model translates.
_NOT_CODE = re.compile(r"\d+(?:st|nd|rd|th|s|am|pm|h)", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_SENTENCE_END = re.compile(r"(?:^|[.!?:;]\s*[\"'“”„«»]?)\s*[\"'“”„«»(]?$")
# Languages that capitalise every noun: a capitalised word there is a name only in a run of two or more.
NOUN_CAPITALISING = frozenset({"de", "lb"})
MEAN_PIECE_CHARS = 2.5  # a name splits into short pieces ("▁Ang" "el" "a"); a rare real word into longer ones


@dataclass(frozen=True)
class Item:
    """One span of the source to copy: `text` as written, `output` as the target should write it."""

    kind: str  # url, email, path, date, time, phone, code, number, symbol, name
    start: int
    end: int
    text: str
    output: str


def _is_emoji(ch: str) -> bool:
    o = ord(ch)
    return (o >= 0x1F000 or 0x2600 <= o <= 0x27BF or 0x2B00 <= o <= 0x2BFF or o in (0x200D, 0xFE0F)
            or 0x1F3FB <= o <= 0x1F3FF)


def _lang(code: str | None) -> str:
    code = (code or "").lower().split("_")[0].split("-")[0]
    return _THREE_LETTER.get(code, code)


_THREE_LETTER = {"eng": "en", "deu": "de", "ger": "de", "fra": "fr", "fre": "fr", "nld": "nl", "spa": "es",
                 "ita": "it", "por": "pt", "rus": "ru", "pol": "pl", "swe": "sv", "dan": "da", "fin": "fi",
                 "nob": "nb", "nor": "no", "ces": "cs", "tur": "tr", "ukr": "uk", "ell": "el", "ron": "ro"}
# Target decimal mark and thousands separator; a language not listed keeps numbers as written.
_DECIMAL_COMMA_DOT = {"de", "es", "it", "nl", "pt", "da", "id", "tr", "ro", "el", "hr", "sl", "lb"}
_DECIMAL_COMMA_SPACE = {"fr", "ru", "pl", "sv", "fi", "nb", "no", "cs", "sk", "uk", "bg", "et", "lt", "lv", "hu"}
_DECIMAL_POINT = {"en", "zh", "ja", "ko", "he", "th", "hi", "ga", "mt", "ms"}


def number_conventions(lang: str | None) -> tuple[str, str] | None:
    """(decimal mark, thousands separator) of a language, or None when this module does not know it."""
    lang = _lang(lang)
    if lang in _DECIMAL_COMMA_DOT:
        return ",", "."
    if lang in _DECIMAL_COMMA_SPACE:
        return ",", "\u202f"
    if lang in _DECIMAL_POINT:
        return ".", ","
    return None


def adapt_number(text: str, tgt_lang: str | None) -> str:
    """`text` with its separators in the target language's convention where their role is certain:
    "3.50" and "3,50" (not three digits after) are decimals, "1,000,000" and "1.234,56" have thousands;
    "1,000" or "1.000" alone could be either and stay as written."""
    conv = number_conventions(tgt_lang)
    m = re.fullmatch(r"([-−]?)(\d+)((?:[.,]\d+)*)(%?)", text)
    if conv is None or m is None or not m.group(3):
        return text
    sign, head, rest, pct = m.groups()
    seps = re.findall(r"[.,]", rest)
    groups = re.findall(r"\d+", rest)
    decimal, thousands = conv
    if len(seps) == 1:
        if len(groups[0]) == 3 and head != "0":
            return text  # ambiguous: 1,000 (a thousand) or 1,000 (one, to three decimals)
        return f"{sign}{head}{decimal}{groups[0]}{pct}"
    group_sep, last = seps[0], seps[-1]
    if len(head) > 3 or any(s != group_sep for s in seps[:-1]) or any(len(g) != 3 for g in groups[:-1]):
        return text  # not a well-formed grouping
    if last == group_sep:
        if len(groups[-1]) != 3:
            return text
        return sign + head + "".join(thousands + g for g in groups) + pct
    return sign + head + "".join(thousands + g for g in groups[:-1]) + decimal + groups[-1] + pct


def find_items(text: str, pieces: Callable[[str], Sequence[str]], unknown: Callable[[str], bool],
               src_lang: str | None = None, tgt_lang: str | None = None, names: bool = True) -> list[Item]:
    """The non-translatables of `text`, in order and without overlaps.

    `pieces(word)` is the source tokenizer's split of a word (for the names heuristic); `unknown(ch)`
    says whether the source vocabulary maps a character to <unk>."""
    taken = np.zeros(len(text) + 1, dtype=bool)
    items: list[Item] = []

    def add(kind: str, start: int, end: int) -> None:
        while end > start and text[end - 1] in _TRAILING and kind in ("url", "path", "symbol"):
            end -= 1
        if end <= start or taken[start:end].any():
            return
        taken[start:end] = True
        span = text[start:end]
        items.append(Item(kind, start, end, span, adapt_number(span, tgt_lang) if kind == "number" else span))

    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if kind == "code" and _NOT_CODE.fullmatch(m.group()):
                continue
            if kind == "phone" and sum(c.isdigit() for c in m.group()) < 6:
                continue
            add(kind, m.start(), m.end())
    # Symbols: a run without spaces holding an emoji or a character the vocabulary lacks.
    for m in re.finditer(r"\S+", text):
        run = m.group()
        if any(_is_emoji(c) or (not c.isspace() and unknown(c)) for c in run):
            start, end = m.start(), m.end()
            while start < end and (text[start] in "\"'“„«(¿¡" or text[start] in _TRAILING) and not unknown(text[start]):
                start += 1
            add("symbol", start, end)
    if names:
        for start, end in _name_spans(text, pieces, src_lang):
            add("name", start, end)
    return sorted(items, key=lambda it: it.start)


def _name_spans(text: str, pieces: Callable[[str], Sequence[str]], src_lang: str | None) -> list[tuple[int, int]]:
    """Capitalised words the model most likely cannot translate, adjacent ones joined ("Angela Merkel").

    A word counts when the vocabulary splits it into two or more short pieces (a known word is one
    piece, a rare real word splits into longer ones: "▁Un" "fort" "unately"). At the start of a
    sentence, where every word is capitalised, it counts only followed by another that counts
    ("Angela Merkel"); in a language that capitalises nouns, only runs of two or more count."""
    words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
    marks = []  # per word: "rare", "initial" (rare, opening a sentence), "cap" (capitalised, known) or ""
    for start, _, word in words:
        if not word[0].isupper() or word == "I":
            marks.append("")
            continue
        split = list(pieces(word))
        rare = len(split) >= 2 and len(word) / len(split) <= MEAN_PIECE_CHARS
        if word.isupper():
            rare = len(word) >= 2 and len(split) >= 2  # an acronym the vocabulary does not hold
        initial = bool(_SENTENCE_END.search(text[:start]))
        if initial:  # counts only joined to a rare word: any split will do ("Barack" "▁Bar" "ack" Obama)
            marks.append("initial" if len(split) >= 2 else "")
        else:
            marks.append("rare" if rare else "cap")
    noun_caps = _lang(src_lang) in NOUN_CAPITALISING
    spans, k = [], 0
    while k < len(words):
        j = k + 1  # a run: capitalised words one space apart ("Los Angeles", "Angela Merkel")
        while marks[k] and j < len(words) and marks[j] and text[words[j - 1][1]:words[j][0]] == " ":
            j += 1
        run = marks[k:j]
        rare = sum(m in ("rare", "initial") for m in run)
        if (rare >= 2) if noun_caps else ("rare" in run):
            spans.append((words[k][0], words[j - 1][1]))
        k = j
    return spans


# -- masking and restoration ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Masked:
    """A source with its items replaced: what the model reads, and how to put the items back."""

    text: str  # the masked source
    ids: list[int]  # its source ids
    items: tuple[Item, ...]
    surrogates: tuple[str, ...]  # surrogates[j] stands for items[j] (a word, no "▁")
    positions: tuple[int, ...]  # positions[j]: index of that surrogate's piece in `ids`


class Protector:
    """Masking and restoration for one model: its tokenizers, its languages and its surrogates."""

    def __init__(self, src_tok, tgt_tok, src_lang: str | None, tgt_lang: str | None, names: bool = True):
        self.src_tok, self.tgt_tok = src_tok, tgt_tok
        self.src_lang, self.tgt_lang, self.names = src_lang, tgt_lang, names
        self._unknown: dict[str, bool] = {}
        self._numeric, self._words = self._pools()

    def _one_piece(self, word: str, tok) -> int | None:
        return tok.piece_to_id(WORD_START + word)

    def _pools(self) -> tuple[list[str], list[str]]:
        """Surrogates that are one source piece, those also in the target vocabulary first (a model can
        only copy what it can write); the model's own frequent whole-word pieces after the measured ones."""
        def usable(words):
            return [w for w in words if self._one_piece(w, self.src_tok) is not None]

        capitalised, other = [], []  # the model's own whole words, frequent (low ids) first
        for i in range(4, min(self.src_tok.vocab_size, 3000)):
            piece = self.src_tok.id_to_piece(i)
            if piece.startswith(WORD_START) and piece[1:].isalpha() and len(piece) > 2:
                (capitalised if piece[1].isupper() else other).append(piece[1:])
        own = [w for w in capitalised[:40] + other[:40] if w not in WORD_SURROGATES]
        numeric, words = usable(NUMERIC_SURROGATES), usable(WORD_SURROGATES) + own
        key = [lambda w: self._one_piece(w, self.tgt_tok) is None] * 2
        return sorted(numeric, key=key[0]), sorted(words, key=key[1])

    def unknown(self, ch: str) -> bool:
        if ch not in self._unknown:
            self._unknown[ch] = UNK_ID in self.src_tok.encode(ch)
        return self._unknown[ch]

    def items(self, text: str) -> list[Item]:
        return find_items(text, self.src_tok.pieces, self.unknown, self.src_lang, self.tgt_lang, self.names)

    def mask(self, text: str) -> Masked | None:
        """`text` with its items replaced by surrogates, or None when it has none (then the source is
        encoded exactly as without protection)."""
        items = self.items(text)
        chosen: list[tuple[Item, str]] = []
        used: set[str] = set()
        for item in items:
            pools = (self._numeric, self._words) if item.kind in NUMERIC_KINDS else (self._words, self._numeric)
            s = next((w for pool in pools for w in pool if w not in used and w not in text), None)
            if s is not None:
                used.add(s)
                chosen.append((item, s))
        if not chosen:
            return None
        for spaced in (False, True):  # glued to a letter, a surrogate may not be one piece: space it out
            out, last = [], 0
            for item, s in chosen:
                before = text[last:item.start]
                if spaced and before and not before[-1].isspace():
                    before += " "
                out.append(before + s + (" " if spaced and text[item.end:item.end + 1].isalnum() else ""))
                last = item.end
            masked = "".join(out) + text[last:]
            ids = self.src_tok.encode(masked)
            positions, k = [], 0
            for _, s in chosen:
                want = {self._one_piece(s, self.src_tok), self.src_tok.piece_to_id(s)} - {None}
                while k < len(ids) and ids[k] not in want:
                    k += 1
                if k == len(ids):
                    break
                positions.append(k)
                k += 1
            if len(positions) == len(chosen):
                return Masked(masked, ids, tuple(i for i, _ in chosen), tuple(s for _, s in chosen), tuple(positions))
        return None

    # -- prefixes (the inspector's what-if): the user's text or pieces hold the originals -------------------
    def mask_prefix(self, prefix, masked: Masked | None):
        if masked is None or prefix is None:
            return prefix
        if isinstance(prefix, str):
            for item, s in sorted(zip(masked.items, masked.surrogates), key=lambda p: -len(p[0].output)):
                prefix = prefix.replace(item.output, s)
            return prefix
        back = {}
        for item, s in zip(masked.items, masked.surrogates):
            back[WORD_START + item.output], back[item.output] = WORD_START + s, s
            back[WORD_START + item.output + "s"] = WORD_START + s + "s"  # a genitive ("▁Merkels")
        return [back.get(p, p) for p in prefix]

    # -- restoration -------------------------------------------------------------------------------------------
    def restored(self, masked: Masked, source_tokens: Sequence[str], cands: Sequence[Candidate]
                 ) -> tuple[tuple[str, ...], tuple[Candidate, ...]]:
        """A translation's source pieces and candidates with the originals back in place."""
        return self.source_tokens(masked, source_tokens), tuple(self.restore(masked, c) for c in cands)

    def source_tokens(self, masked: Masked, tokens: Sequence[str]) -> tuple[str, ...]:
        """The source pieces with each surrogate shown as the original text."""
        out = list(tokens)
        for item, pos in zip(masked.items, masked.positions):
            if pos < len(out) - 1:
                out[pos] = (WORD_START if out[pos].startswith(WORD_START) else "") + item.text
        return tuple(out)

    def needs_attention(self, masked: Masked, n_source: int, tokens: Sequence[str]) -> bool:
        """Whether `restore` reads the attention for a candidate of these pieces: an item cut off the
        source (`n_source` pieces were decoded), dropped by the output, or written more than once."""
        return any(pos >= n_source or len(self._matches(tokens, s)) != 1
                   for s, pos in zip(masked.surrogates, masked.positions))

    def _matches(self, tokens: Sequence[str], s: str) -> list[tuple[int, int]]:
        """(position, digit pieces glued after it) of each place the output writes surrogate `s`, alone or
        as a genitive piece ("▁Toms"). A number surrogate the model extends ("▁2" "7" for "2 euros") is
        taken with its extension: every number of the source is masked, so those digits are invented."""
        found = []
        for t, tok in enumerate(tokens):
            glued = tok == s and (t == 0 or not tokens[t - 1][-1:].isalnum())
            if tok not in (WORD_START + s, WORD_START + s + "s") and not glued:
                continue
            n = 0
            while s.isdigit() and t + 1 + n < len(tokens) and tokens[t + 1 + n].isdigit():
                n += 1
            found.append((t, n))
        return found

    def restore(self, masked: Masked, cand: Candidate) -> Candidate:
        """`cand` with every item in place of its surrogate (or inserted where the attention points), each
        exactly once; the rows of attention, probabilities and alternatives follow the tokens."""
        tokens = list(cand.tokens)
        n_src = cand.attention.shape[-1] if cand.attention.ndim == 4 else 0
        att = cand.attention.mean(axis=(0, 1)) if cand.attention.ndim == 4 and cand.attention.size else None  # (T, S)
        keep: dict[int, int] = {}  # target position -> item it restores
        drop: set[int] = set()
        insert: dict[int, list[int]] = {}  # position -> items inserted before it
        live = [j for j, pos in enumerate(masked.positions) if pos < n_src - 1 or att is None]  # not cut off
        for j in live:
            found = self._matches(tokens, masked.surrogates[j])
            if found:
                best = max(found, key=lambda f: (f[1] == 0, att[f[0], masked.positions[j]] if att is not None else -f[0]))
                keep[best[0]] = j
                drop.update(t + k for t, n in found for k in range(n + 1) if t + k != best[0])
        for j in live:
            if j in keep.values():
                continue
            end = len(tokens) - (1 if tokens and tokens[-1] == EOS_PIECE else 0)
            free = [t for t in range(cand.prefix_length, end) if t not in keep and t not in drop]
            if att is not None and free:
                t = max(free, key=lambda t: att[t, masked.positions[j]])
                while t > cand.prefix_length and not tokens[t].startswith(WORD_START) and tokens[t] != EOS_PIECE:
                    t -= 1  # before the whole word, not inside it
            else:
                t = end
            insert.setdefault(t, []).append(j)
        rows: list[int | tuple[int]] = []  # an old row, or (item,) for an inserted one
        for t in range(len(tokens) + 1):
            rows.extend((j,) for j in insert.get(t, []))
            if t < len(tokens) and t not in drop:
                rows.append(t)
        return self._rebuild(cand, masked, rows, keep)

    def _rebuild(self, cand: Candidate, masked: Masked, rows, keep: dict[int, int]) -> Candidate:
        tokens, items = cand.tokens, masked.items
        shown = {WORD_START + s: WORD_START + it.output for it, s in zip(items, masked.surrogates)}
        new_tokens, parts = [], []  # parts: ids to decode, or (text, spaced) of an item
        att_rows, probs, alt_t, alt_p, ent = [], [], [], [], []
        has_ent = cand.token_entropy is not None
        k = len(cand.alt_tokens[0]) if cand.alt_tokens else 0
        src = cand.attention.shape[-1] if cand.attention.ndim == 4 else 0
        for r in rows:
            if isinstance(r, tuple):
                j = r[0]
                tok = WORD_START + items[j].output
                parts.append((items[j].output, True))
                probs.append(1.0)
                ent.append(0.0)  # copied, not chosen
                row = np.zeros(cand.attention.shape[:2] + (src,), dtype=cand.attention.dtype)
                if masked.positions[j] < src:
                    row[..., masked.positions[j]] = 1.0  # copied from there
                att_rows.append(row)
                if k:
                    alt_t.append((tok,) + ("",) * (k - 1))
                    alt_p.append([1.0] + [0.0] * (k - 1))
            else:
                tok = tokens[r]
                if r in keep:
                    j = keep[r]
                    spaced = tok.startswith(WORD_START)
                    genitive = "s" if tok.endswith(masked.surrogates[j] + "s") and not masked.surrogates[j].isdigit() else ""
                    tok = (WORD_START if spaced else "") + items[j].output + genitive
                    parts.append((items[j].output + genitive, spaced))
                elif tok != EOS_PIECE:
                    i = self.tgt_tok.piece_to_id(tok)
                    parts.append(EOS_ID if i is None else i)
                probs.append(float(cand.token_probs[r]))
                ent.append(float(cand.token_entropy[r]) if has_ent else 0.0)
                att_rows.append(cand.attention[:, :, r, :] if src else cand.attention[:, :, :0, :].sum(axis=2))
                if k:
                    alt_t.append(tuple(shown.get(a, a) for a in cand.alt_tokens[r]))
                    alt_p.append(cand.alt_probs[r])
            new_tokens.append(tok)
        attention = (np.stack(att_rows, axis=2) if att_rows
                     else np.zeros(cand.attention.shape[:2] + (0, src), dtype=cand.attention.dtype))
        prefix = sum(1 for r in rows if not isinstance(r, tuple) and r < cand.prefix_length)
        return replace(
            cand, text=self._text(parts), tokens=tuple(new_tokens), token_probs=np.asarray(probs, dtype=np.float64),
            attention=attention, alt_tokens=tuple(alt_t) if k else cand.alt_tokens,
            alt_probs=np.asarray(alt_p, dtype=np.float64).reshape(len(alt_p), k) if k else cand.alt_probs,
            prefix_length=prefix, token_entropy=np.asarray(ent, dtype=np.float64) if has_ent else None,
        )

    def _text(self, parts) -> str:
        """Decode runs of ids with the tokenizer and put the items' text between them."""
        out, run = "", []

        def flush() -> None:
            nonlocal out
            if run:
                piece = self.tgt_tok.id_to_piece(run[0])
                text = self.tgt_tok.decode(run)
                out += (" " if out and piece.startswith(WORD_START) and text else "") + text
                run.clear()

        for part in parts:
            if isinstance(part, tuple):
                flush()
                text, spaced = part
                out += (" " if out and spaced else "") + text
            elif part != EOS_ID:
                run.append(part)
        flush()
        return out


def mask_batch(protector: Protector | None, texts: Sequence[str], ids: list[list[int]]
               ) -> tuple[list[Masked | None], list[list[int]]]:
    """Masks for a batch of cleaned sources, and the ids to decode (the masked ones where there are items)."""
    if protector is None:
        return [None] * len(texts), ids
    masks = [protector.mask(t) if t else None for t in texts]
    return masks, [m.ids if m is not None else x for m, x in zip(masks, ids)]


def masked_prefixes(protector: Protector | None, prefixes: Sequence, masks: Sequence[Masked | None]) -> list:
    """The forced prefixes with the items' text (as the output showed it) turned back into surrogates."""
    if protector is None:
        return list(prefixes)
    return [protector.mask_prefix(p, masks[i] if i < len(masks) else None) for i, p in enumerate(prefixes)]
