"""Split the Tatoeba en-de pairs into train/valid/test by unique English sentence.

Tatoeba lists many German translations for one English sentence ("Go away!" has 17), so a split by
line would leak test sentences into training. Here every English sentence, with all its translations,
lands on exactly one side. Valid and test keep one pair per English sentence (its first translation in
file order) so that BLEU is single-reference and comparable between runs; train keeps every pair.

    python packaging/bundled-model/split_tatoeba.py ../shared/data/tatoeba-deu-eng/deu.txt.gz OUT_DIR
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import random
from pathlib import Path


def read_pairs(path: Path) -> list[tuple[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    pairs = []
    with opener(path, "rt", encoding="utf-8", newline="\n") as f:
        for number, line in enumerate(f, 1):
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 2 or not fields[0].strip() or not fields[1].strip():
                raise SystemExit(f"{path}, line {number}: expected English<TAB>German")
            pairs.append((fields[0].strip(), fields[1].strip()))
    return pairs


def split(pairs, valid_size: int, test_size: int, seed: int):
    by_english: dict[str, list[str]] = {}
    for en, de in pairs:
        by_english.setdefault(en, []).append(de)
    english = sorted(by_english)
    random.Random(seed).shuffle(english)
    test_en, valid_en = english[:test_size], english[test_size : test_size + valid_size]
    train_en = english[test_size + valid_size :]
    train = [(en, de) for en in train_en for de in by_english[en]]
    random.Random(seed + 1).shuffle(train)
    valid = [(en, by_english[en][0]) for en in valid_en]
    test = [(en, by_english[en][0]) for en in test_en]
    return train, valid, test


def write_tsv(path: Path, pairs) -> str:
    text = "".join(f"{en}\t{de}\n" for en, de in pairs)
    path.write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="deu.txt or deu.txt.gz (English<TAB>German)")
    parser.add_argument("out", type=Path, help="folder for train.tsv, valid.tsv and test.tsv")
    parser.add_argument("--valid-size", type=int, default=1000, help="English sentences held out for validation")
    parser.add_argument("--test-size", type=int, default=2000, help="English sentences held out for testing")
    parser.add_argument("--seed", type=int, default=20261121)
    args = parser.parse_args()
    train, valid, test = split(read_pairs(args.corpus), args.valid_size, args.test_size, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", train), ("valid", valid), ("test", test)):
        digest = write_tsv(args.out / f"{name}.tsv", part)
        print(f"{name}.tsv: {len(part):,} pairs, sha256 {digest}")


if __name__ == "__main__":
    main()
