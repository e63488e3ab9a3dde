"""Non-translatables and names with the built-in model, protection off and on (issue 16 items 1 and 3).

An item is carried over when its text (with the number separators of the target language, where the
masking adapts them, or as written) appears exactly once in the output. Names are counted apart.

    python bench/bench_nontranslatables.py [--model FILE] [--beam 5] [--show]
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2s_desktop.engine.api import DecodeOptions  # noqa: E402
from s2s_desktop.engine.decoding.protect import adapt_number  # noqa: E402
from s2s_desktop.engine.decoding.service import Translator  # noqa: E402

# (sentence, the items it holds as written); written for this bench, in several shapes each.
ITEMS: list[tuple[str, tuple[str, ...]]] = [
    ("I paid 3,50 euros.", ("3,50",)),
    ("The ticket costs 12.99 dollars.", ("12.99",)),
    ("The house cost 1,250,000 dollars.", ("1,250,000",)),
    ("He earns 2,345.50 pounds a month.", ("2,345.50",)),
    ("About 40% of the students passed.", ("40%",)),
    ("There were 1987 people at the concert.", ("1987",)),
    ("She was born in 1987.", ("1987",)),
    ("The war ended in 1945 and he came home in 1946.", ("1945", "1946")),
    ("The train leaves at 7:45.", ("7:45",)),
    ("The meeting is from 9:30 to 11:15.", ("9:30", "11:15")),
    ("The shop opens at 08:00 tomorrow.", ("08:00",)),
    ("The deadline is 2024-03-15.", ("2024-03-15",)),
    ("I was born on 12/05/1990.", ("12/05/1990",)),
    ("The contract starts on 01.04.2025.", ("01.04.2025",)),
    ("Call me at 555-1234.", ("555-1234",)),
    ("My number is +49 30 1234567.", ("+49 30 1234567",)),
    ("You can reach the office at (030) 555-0199 until noon.", ("(030) 555-0199",)),
    ("Please order part A4-2019X today.", ("A4-2019X",)),
    ("My flight number is LH2041.", ("LH2041",)),
    ("Take the B12 bus to the station.", ("B12",)),
    ("Write to tom@example.com today.", ("tom@example.com",)),
    ("Send the report to anna.schmidt@firma.de before Friday.", ("anna.schmidt@firma.de",)),
    ("Visit https://example.org/page now.", ("https://example.org/page",)),
    ("The manual is at www.example.com/help.", ("www.example.com/help",)),
    ("The file is in C:\\Users\\tom\\notes.txt.", ("C:\\Users\\tom\\notes.txt",)),
    ("Open /etc/hosts with an editor.", ("/etc/hosts",)),
    ("I saved it as report.pdf yesterday.", ("report.pdf",)),
    ("I love you 😀.", ("😀",)),
    ("Happy birthday 🎉🎂!", ("🎉🎂",)),
    ("The price rose from 3.50 to 4.20 in 2023.", ("3.50", "4.20", "2023")),
    ("Call 555-1234 or write to info@example.com at 9:00.", ("555-1234", "info@example.com", "9:00")),
    ("He bought 12 apples for 7.50 euros.", ("12", "7.50")),
    ("Room 204 is on the second floor.", ("204",)),
    ("The code for the door is 4711.", ("4711",)),
]
NAMES: list[tuple[str, tuple[str, ...]]] = [
    ("Angela Merkel visited Paris.", ("Angela Merkel",)),
    ("I met Dmitri Kowalski at the station.", ("Dmitri Kowalski",)),
    ("Ngozi Okonjo lives in Lagos.", ("Ngozi Okonjo", "Lagos")),
    ("My friend Keiko works at Google.", ("Keiko", "Google")),
    ("We had dinner with Priya and Olusegun.", ("Priya", "Olusegun")),
    ("Yesterday I saw Beethoven's house in Bonn.", ("Beethoven", "Bonn")),
    ("The letter was signed by Elena Petrova.", ("Elena Petrova",)),
    ("Tom and Jürgen played chess.", ("Jürgen",)),
    ("She moved to Nairobi last year.", ("Nairobi",)),
    ("Is Sofia coming to the party?", ("Sofia",)),
    ("I bought a phone from Samsung.", ("Samsung",)),
    ("The conference is in Quebec this year.", ("Quebec",)),
    ("Ask Wojciech about the report.", ("Wojciech",)),
    ("Ms Nakamura will call you.", ("Nakamura",)),
    ("Barack Obama gave a speech.", ("Barack Obama",)),
    ("We flew from Oslo to Mumbai.", ("Oslo", "Mumbai")),
]


def carried(item: str, output: str, tgt_lang: str) -> bool:
    """The item (as adapted, or as written) appears exactly once, not inside a longer number or word
    (a name may take the German genitive s: "Beethovens Haus")."""
    forms = {item, adapt_number(item, tgt_lang)}
    edge = r"(?<![\w.,:/@-]){}(?![\w@]|[.,:/-]\w)"
    genitive = "s?" if item[-1:].isalpha() else ""
    return sum(len(re.findall(edge.format(re.escape(f) + genitive), output)) for f in forms) == 1


def run(translator: Translator, cases, opts: DecodeOptions, tgt_lang: str, show: bool) -> tuple[int, int]:
    results = translator.translate([s for s, _ in cases], opts)
    ok = total = 0
    for (sentence, items), r in zip(cases, results):
        good = [carried(i, r.text, tgt_lang) for i in items]
        ok += sum(good)
        total += len(items)
        if show:
            print(f"  {'ok ' if all(good) else 'BAD'} {sentence}  ->  {r.text}")
    return ok, total


def copied(translator: Translator, cases, opts: DecodeOptions) -> tuple[int, int]:
    """(items whose surrogate the model wrote itself, items masked): the rest were placed by the attention."""
    protector = translator._protector()
    masks = [protector.mask(s) for s, _ in cases]
    masks = [m for m in masks if m is not None]
    raw = translator.translate([m.text for m in masks], dataclasses.replace(opts, protect=False))
    hits = sum(any(n == 0 for _, n in protector._matches(r.best.tokens, s)) for m, r in zip(masks, raw) for s in m.surrogates)
    return hits, sum(len(m.surrogates) for m in masks)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "resources/models/en-de-tatoeba.s2s"))
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--show", action="store_true", help="print every translation")
    args = ap.parse_args()
    translator = Translator.open(args.model, "cpu")
    tgt = translator.info().tgt_lang
    base = DecodeOptions(beam=args.beam, alternatives=0)
    for label, cases in (("items", ITEMS), ("names", NAMES)):
        for protect in (False, True):
            if args.show:
                print(f"{label}, protection {'on' if protect else 'off'}:")
            ok, total = run(translator, cases, dataclasses.replace(base, protect=protect), tgt, args.show)
            print(f"{label:5s} protection {'on ' if protect else 'off'}: {ok}/{total} carried over exactly")
        hits, masked = copied(translator, cases, base)
        print(f"{label:5s} surrogates written by the model: {hits}/{masked} (the others placed by the attention)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
