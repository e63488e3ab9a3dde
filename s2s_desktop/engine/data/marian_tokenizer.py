"""Marian's tokenisation, reproduced without transformers: SentencePiece pieces mapped through vocab.json.

Our own `Tokenizer` uses the SentencePiece ids directly with fixed special ids; a Marian model's ids are
those of vocab.json (a joint vocabulary built after SentencePiece, "</s>" 0, "<unk>" 1, "<pad>" last),
so the pieces, not the ids, of source.spm / target.spm are what counts. The rules (see
`formats.marian`, checked against transformers 5.24's MarianTokenizer by tests/engine/test_marian_reader.py):
special tokens are split out first, a leading ">>xxx<<" stays one token, unknown pieces become <unk>,
"</s>" is appended, and no punctuation normalisation happens unless the caller passes a normalizer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from s2s_desktop.engine.data.tokenizer import sentencepiece_processor

if TYPE_CHECKING:
    from s2s_desktop.engine.formats.marian import MarianTokenizerAssets

SPIECE_UNDERLINE = "▁"
SIDES = ("source", "target")


class MarianTokenizer:
    """Encode and decode as transformers' MarianTokenizer does for a shared-vocabulary model."""

    def __init__(self, assets: MarianTokenizerAssets, normalizer: Callable[[str], str] | None = None):
        self.assets = assets
        self._spm = {}
        for side, data in zip(SIDES, (assets.source_spm, assets.target_spm)):
            self._spm[side] = sentencepiece_processor(data)
        self.vocab = assets.vocab
        self._ids = {piece: i for i, piece in enumerate(assets.vocab)}
        self.unk_id = self._ids[assets.unk_token]
        self.eos_id = self._ids[assets.eos_token]
        self.pad_id = self._ids[assets.pad_token]
        self.special_tokens = (assets.eos_token, assets.unk_token, assets.pad_token, *assets.extra_special_tokens)
        self.special_ids = frozenset(self._ids[t] for t in self.special_tokens)
        # Longest first, as HF's trie matches the longest added token at the leftmost position.
        alternatives = sorted(set(self.special_tokens), key=len, reverse=True)
        self._split = re.compile("(" + "|".join(map(re.escape, alternatives)) + ")")
        self.language_tokens = tuple(p for p in assets.vocab if p.startswith(">>") and p.endswith("<<"))
        self.normalizer = normalizer

    def __len__(self) -> int:
        return len(self.vocab)

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # -- encoding -------------------------------------------------------------------------------------
    def tokenize(self, text: str, side: str = "source") -> list[str]:
        """The tokens of `text` (without the final </s>): what MarianTokenizer.tokenize returns."""
        sp = self._spm[side]
        if side == "source" and self.normalizer is not None and text:
            text = self.normalizer(text)
        tokens: list[str] = []
        for chunk in self._split.split(text):
            if not chunk:
                continue
            if chunk in self.special_tokens:
                tokens.append(chunk)
                continue
            if chunk.startswith(">>") and (end := chunk.find("<<")) != -1:
                tokens.append(chunk[: end + 2])
                chunk = chunk[end + 2 :]
            tokens.extend(sp.encode(chunk, out_type=str))
        return tokens

    def encode(self, text: str, side: str = "source", target_language: str | None = None) -> list[int]:
        """Model ids of `text` with "</s>" appended: `tok(text).input_ids` for the source,
        `tok(text_target=text).labels` for the target. `target_language` ("fra" or ">>fra<<")
        prefixes the code a multilingual model needs."""
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {side!r}")
        if target_language:
            code = target_language if target_language.startswith(">>") else f">>{target_language}<<"
            text = f"{code} {text}"
        return [self._ids.get(t, self.unk_id) for t in self.tokenize(text, side)] + [self.eos_id]

    def encode_batch(self, texts: Sequence[str], side: str = "source") -> list[list[int]]:
        return [self.encode(t, side) for t in texts]

    # -- ids and pieces ---------------------------------------------------------------------------------
    def id_to_piece(self, i: int) -> str:
        i = int(i)
        return self.vocab[i] if 0 <= i < len(self.vocab) else self.assets.unk_token

    def ids_to_pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.id_to_piece(i) for i in ids]

    def piece_to_id(self, piece: str) -> int | None:
        return self._ids.get(piece)

    # -- decoding -------------------------------------------------------------------------------------
    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        """Text of model ids: `tok.decode(ids, skip_special_tokens=...)`. transformers 5 joins pieces
        with the source SentencePiece model when the vocabulary is shared; so does this."""
        tokens = [self.id_to_piece(i) for i in ids if not (skip_special_tokens and int(i) in self.special_ids)]
        sp = self._spm["source"]
        out, run = "", []
        for token in tokens:
            if token in self.special_tokens:
                out += sp.decode_pieces(run) + token + " "
                run = []
            else:
                run.append(token)
        out += sp.decode_pieces(run)
        out = out.replace(SPIECE_UNDERLINE, " ").strip()
        if self.assets.clean_up_tokenization_spaces:
            for a, b in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                         (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
                out = out.replace(a, b)
        return out


# -- an imported model's tokenizers ------------------------------------------------------------------------
BOS_TOKEN = "<s>"  # the start row an import adds at id 2 (Marian has no BOS; it starts from <pad>)


class ImportedTokenizer:
    """One side of an imported Marian model behind the interface of `data.tokenizer.Tokenizer`.

    The ids are the model file's: the importer reorders Marian's vocabulary so that pad, unk, a start
    row and </s> are 0, 1, 2, 3 like every s2s-desktop model (formats/marian_import.py), and
    `MarianTokenizer` built on that order encodes straight into them. As with `Tokenizer`, `encode`
    does not add </s>: `make_batch` appends EOS_ID, which is Marian's </s>. The source side prefixes
    ">>xxx<<" when a target language is chosen."""

    def __init__(self, marian: MarianTokenizer, side: str, target_language: str | None = None):
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {side!r}")
        self.marian = marian
        self.side = side
        self.model_bytes = marian.assets.source_spm if side == "source" else marian.assets.target_spm
        self.target_languages = tuple(t[2:-2] for t in marian.language_tokens)
        self._target_language: str | None = None
        self.target_language = target_language

    @property
    def target_language(self) -> str | None:
        """The ">>xxx<<" code put before every source sentence (None: none)."""
        return self._target_language

    @target_language.setter
    def target_language(self, code: str | None) -> None:
        from s2s_desktop.errors import InputError

        code = code.strip().removeprefix(">>").removesuffix("<<") if code else None
        if code is not None and code not in self.target_languages:
            known = ", ".join(self.target_languages) or "none: it translates into one language"
            raise InputError(f"the model has no target language {code!r} (its target languages: {known})")
        self._target_language = code

    def __len__(self) -> int:
        return len(self.marian)

    @property
    def vocab_size(self) -> int:
        return len(self.marian)

    @property
    def vocab(self) -> tuple[str, ...]:
        return self.marian.vocab

    def encode(self, text: str) -> list[int]:
        language = self._target_language if self.side == "source" else None
        return self.marian.encode(text, self.side, language)[:-1]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def pieces(self, text: str) -> list[str]:
        return self.ids_to_pieces(self.encode(text))

    def decode(self, ids: Sequence[int]) -> str:
        """As transformers' `decode(ids, skip_special_tokens=True)` (the start row is never output)."""
        from s2s_desktop.engine.api import BOS_ID

        return self.marian.decode([int(i) for i in ids if int(i) != BOS_ID])

    def id_to_piece(self, i: int) -> str:
        return self.marian.id_to_piece(i)

    def piece_to_id(self, piece: str) -> int | None:
        return self.marian.piece_to_id(piece)

    def ids_to_pieces(self, ids: Sequence[int]) -> list[str]:
        return self.marian.ids_to_pieces(ids)

    def file_meta(self) -> dict:
        """What the model file stores about this tokenizer besides the SentencePiece models and the vocabulary."""
        a = self.marian.assets
        return {"kind": "marian", "unk_token": a.unk_token, "eos_token": a.eos_token, "pad_token": a.pad_token,
                "bos_token": self.marian.vocab[2], "extra_special_tokens": list(a.extra_special_tokens),
                "clean_up_tokenization_spaces": a.clean_up_tokenization_spaces,
                "target_languages": list(self.target_languages), "target_language": self._target_language}


def imported_tokenizers(source_spm: bytes, target_spm: bytes, vocab: Sequence[str], meta: dict,
                        ) -> tuple[ImportedTokenizer, ImportedTokenizer]:
    """The source and target tokenizers of an imported model from what its file holds (`file_meta`).
    Raises ValueError when the parts do not fit together."""
    from s2s_desktop.engine.api import EOS_ID, PAD_ID, UNK_ID
    from s2s_desktop.engine.formats.marian import MarianTokenizerAssets

    vocab = tuple(vocab)
    if not all(isinstance(p, str) for p in vocab) or len(set(vocab)) != len(vocab):
        raise ValueError("the vocabulary must be distinct strings")
    fields = ("unk_token", "eos_token", "pad_token", "bos_token")
    if not all(isinstance(meta.get(f), str) for f in fields):
        raise ValueError(f"the tokenizer description needs {', '.join(fields)}")
    expected = {PAD_ID: meta["pad_token"], UNK_ID: meta["unk_token"], 2: meta["bos_token"], EOS_ID: meta["eos_token"]}
    if len(vocab) < 4 or any(vocab[i] != token for i, token in expected.items()):
        raise ValueError(f"the vocabulary must start with {', '.join(expected.values())}")
    extra = tuple(meta.get("extra_special_tokens") or ())
    if not all(t in vocab for t in extra):
        raise ValueError("an extra special token is not in the vocabulary")
    assets = MarianTokenizerAssets(source_spm, target_spm, vocab, meta["unk_token"], meta["eos_token"],
                                   meta["pad_token"], extra, bool(meta.get("clean_up_tokenization_spaces", False)))
    try:
        marian = MarianTokenizer(assets)
    except Exception as exc:  # sentencepiece's RuntimeError for a corrupt model
        raise ValueError(f"a SentencePiece model is corrupt ({exc})") from exc
    return ImportedTokenizer(marian, "source", meta.get("target_language")), ImportedTokenizer(marian, "target")
