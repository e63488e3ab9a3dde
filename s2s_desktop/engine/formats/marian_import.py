"""Import a Hugging Face Marian (OPUS-MT) folder as one ordinary `.s2s` model file.

`marian.read_marian_folder` reads and checks the folder; this module maps it onto our Seq2Seq and
writes it with `checkpoint.save_model`, so the result opens, translates and shows attention like
any model trained here.

The model: a Transformer with norm_position "post", final_norm off, the folder's activation,
position_layout "concatenated" and scale_embedding as config.json says (see `model_config`).

Special ids. Every s2s-desktop model has pad 0, unk 1, bos 2, eos 3 (engine.api), and search,
batching and training rely on them; a Marian model has eos 0, unk 1, pad last and no BOS (decoding
starts from decoder_start_token_id, the pad). Rather than teaching every part of the engine other
ids, the import reorders the vocabulary (`vocabulary_order`): our id 0 is Marian's pad, 1 its unk,
3 its eos, then all other ids in their order, and id 2 is a new start row, a copy of the
decoder_start_token_id embedding whose output bias is -inf (so it is never generated and takes no
probability mass: Marian has no such row). Reordering rows of the embedding and output matrices
changes no number the model computes, only where it stands. The tokenizer is built on the same
order (`data.marian_tokenizer.ImportedTokenizer`), so nothing translates ids at run time.

Search. transformers' generate() scores and stops beams by its own rules; the file records them as
`decoding.search.SearchRules` (len ** alpha, its early-stopping heuristic, bad_words_ids as banned
ids, renormalize_logits, forced_eos_token_id as a free EOS at the limit) and its length limits:
max_length counts the start token, so an output holds at most max_length - 1 pieces.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from s2s_desktop import __version__
from s2s_desktop.engine.api import BOS_ID, EOS_ID, PAD_ID, UNK_ID, ModelConfig, TransformerConfig
from s2s_desktop.engine.formats.marian import MarianFolder, MarianSpec, MarianTokenizerAssets, read_marian_folder
from s2s_desktop.errors import MarianImportError

if TYPE_CHECKING:
    import torch

IMPORTED_FROM = "Hugging Face Marian"
BOS_CANDIDATES = ("<s>", "<s2s:start>")  # the first that is not in vocab.json names the added start row
VOCAB_ROWS = ("src_embed.weight", "_tgt_embed.weight", "output.weight")  # (V, d) matrices, in Seq2Seq's names
VOCAB_BIASES = ("output_bias", "output.bias")  # (V,)


@dataclass(frozen=True)
class ImportedModel:
    path: str  # the .s2s file written
    notices: tuple[str, ...]  # for the user: how weights were read, settings not reproduced, ...
    target_languages: tuple[str, ...]  # ">>xxx<<" codes of a multilingual model; () otherwise
    target_language: str | None  # the default stored in the file
    seconds: float


def import_marian(folder: str | Path, out: str | Path, target_language: str | None = None) -> ImportedModel:
    """Read a Marian folder and write it as one .s2s file at `out`. `target_language` is the default
    ">>xxx<<" code of a multilingual model (the translator can change it). Raises MarianImportError
    naming the file and field of whatever cannot be reproduced exactly."""
    from s2s_desktop.engine.data.marian_tokenizer import ImportedTokenizer, MarianTokenizer
    from s2s_desktop.engine.formats.checkpoint import ModelMeta, save_model
    from s2s_desktop.engine.models.model import build_model

    start = time.perf_counter()
    found = read_marian_folder(folder)
    spec = found.spec
    _check_supported(found)
    order, bos_token = vocabulary_order(spec, found.tokenizer.vocab)
    codes = tuple(t[2:-2] for t in spec.language_tokens)
    if target_language is not None:
        target_language = target_language.strip().removeprefix(">>").removesuffix("<<")
        if target_language not in codes:
            known = ", ".join(codes) if codes else "none: it translates into one language"
            raise MarianImportError(f"{Path(folder) / 'vocab.json'}: has no >>{target_language}<< token for "
                                    f"--target-language (the model's target languages: {known})")

    cfg = model_config(spec)
    model = build_model(cfg)
    model.load_state_dict(s2s_weights(found, order), strict=True)
    model.eval()

    assets = found.tokenizer
    vocab = tuple(bos_token if m < 0 else assets.vocab[m] for m in order)
    marian = MarianTokenizer(MarianTokenizerAssets(assets.source_spm, assets.target_spm, vocab, assets.unk_token,
                                                   assets.eos_token, assets.pad_token, assets.extra_special_tokens,
                                                   assets.clean_up_tokenization_spaces))
    src_tok = ImportedTokenizer(marian, "source", target_language)
    tgt_tok = ImportedTokenizer(marian, "target")
    notices = _notices(found, codes, target_language)
    meta = ModelMeta(spec.source_lang or "und", spec.target_lang or "und", joint_vocab=False, training={},
                     extra={"generation": generation(spec), "provenance": provenance(found, notices)})
    save_model(out, model, src_tok, tgt_tok, meta)
    return ImportedModel(str(out), notices, codes, target_language, time.perf_counter() - start)


def model_config(spec: MarianSpec) -> ModelConfig:
    """Our config for a Marian spec: V + 1 ids (the added start row), post-norm, no final LayerNorm."""
    return ModelConfig(
        arch="transformer", src_vocab_size=spec.vocab_size + 1, tgt_vocab_size=spec.vocab_size + 1,
        emb_size=spec.d_model, dropout=0.1, tie_output=spec.tie_word_embeddings,
        share_embeddings=spec.share_encoder_decoder_embeddings,
        transformer=TransformerConfig(
            heads=spec.encoder_attention_heads, ff_size=spec.encoder_ffn_dim, encoder_layers=spec.encoder_layers,
            decoder_layers=spec.decoder_layers, norm_position="post", final_norm=False, activation=spec.activation,
            position_layout="concatenated", scale_embedding=spec.scale_embedding,
        ),
    )


def vocabulary_order(spec: MarianSpec, vocab: tuple[str, ...]) -> tuple[list[int], str]:
    """our id -> Marian id (-1 for the added start row), and the name of that row: pad, unk, start, eos,
    then every other Marian id in increasing order."""
    special = (spec.pad_token_id, spec.unk_token_id, spec.eos_token_id)
    rest = [i for i in range(spec.vocab_size) if i not in special]
    order = [spec.pad_token_id, spec.unk_token_id, -1, spec.eos_token_id, *rest]
    assert order.index(-1) == BOS_ID and order[PAD_ID] == spec.pad_token_id and order[EOS_ID] == spec.eos_token_id
    assert order[UNK_ID] == spec.unk_token_id
    taken = set(vocab)
    return order, next(name for name in BOS_CANDIDATES if name not in taken)


def s2s_weights(found: MarianFolder, order: list[int]) -> dict[str, torch.Tensor]:
    """The canonical Marian tensors renamed for Seq2Seq, vocabulary rows in our order (`vocabulary_order`)."""
    import torch

    from s2s_desktop.engine.formats.marian_weights import s2s_state_dict

    state = s2s_state_dict(found.tensors, found.spec)
    rows = torch.tensor([found.spec.decoder_start_token_id if m < 0 else m for m in order])
    for name in VOCAB_ROWS + VOCAB_BIASES:
        if name in state:
            state[name] = state[name].index_select(0, rows).contiguous()
            if name in VOCAB_BIASES:
                state[name][BOS_ID] = float("-inf")  # the start row is never an output
    return state


def generation(spec: MarianSpec) -> dict:
    """The file's "generation" entry: search rules and limits as transformers' generate() applies them."""
    from s2s_desktop.engine.decoding.search import SearchRules

    ours = {m: i for i, m in enumerate(vocabulary_order(spec, ())[0])}
    rules = SearchRules(
        length_penalty="power", early_stopping=spec.early_stopping,
        banned_ids=tuple(sorted(ours[seq[0]] for seq in spec.bad_words_ids)),
        renormalize=spec.renormalize_logits, free_forced_eos=spec.forced_eos_token_id is not None,
    )
    positions = spec.max_position_embeddings
    max_output = positions if spec.max_length is None else min(positions, spec.max_length - 1)
    return {"rules": rules.to_dict(), "num_beams": spec.num_beams, "length_penalty": spec.length_penalty,
            "max_length": spec.max_length, "max_output_tokens": max(max_output, 1),
            "max_source_tokens": max(positions - 1, 1)}


def provenance(found: MarianFolder, notices: tuple[str, ...]) -> dict:
    spec = found.spec
    return {"imported_from": IMPORTED_FROM, "repository": spec.repository, "license": spec.license,
            "license_text": spec.license_text, "source_folder": str(Path(found.path).resolve()),
            "weights_file": spec.weights_file, "preprocessing": spec.readme_preprocessing,
            "marian_ids": {"pad": spec.pad_token_id, "unk": spec.unk_token_id, "eos": spec.eos_token_id,
                           "decoder_start": spec.decoder_start_token_id},
            "importer": f"s2s-desktop {__version__}", "notices": list(notices)}


def _check_supported(found: MarianFolder) -> None:
    """What the reader accepts but this Seq2Seq cannot reproduce exactly."""
    spec, folder = found.spec, Path(found.path)
    config = folder / "config.json"
    gen = folder / "generation_config.json"
    gen = gen if gen.is_file() else config
    for a, b in (("encoder_attention_heads", "decoder_attention_heads"), ("encoder_ffn_dim", "decoder_ffn_dim")):
        if getattr(spec, a) != getattr(spec, b):
            raise MarianImportError(f"{config}: {a} ({getattr(spec, a)}) and {b} ({getattr(spec, b)}) differ; "
                                    "s2s-desktop's Transformer uses one size for both stacks")
    ids = {"pad_token_id": spec.pad_token_id, "eos_token_id": spec.eos_token_id, "unk (vocab.json)": spec.unk_token_id}
    if len(set(ids.values())) != 3:
        raise MarianImportError(f"{config}: pad_token_id, eos_token_id and <unk> must be three different ids ({ids})")
    if any(len(seq) != 1 for seq in spec.bad_words_ids):
        raise MarianImportError(f"{gen}: bad_words_ids holds sequences of several tokens; only single tokens "
                                "(such as [[pad]]) can be reproduced")
    if spec.forced_eos_token_id not in (None, spec.eos_token_id):
        raise MarianImportError(f"{gen}: forced_eos_token_id {spec.forced_eos_token_id} is not eos_token_id "
                                f"{spec.eos_token_id}")


def _notices(found: MarianFolder, codes: tuple[str, ...], target_language: str | None) -> tuple[str, ...]:
    spec, notes = found.spec, list(found.notices)
    if spec.unsupported_generation:
        notes.append("The folder's generation settings " + ", ".join(spec.unsupported_generation) + " are not "
                     "applied by s2s-desktop's search (transformers' generate() would apply them).")
    if spec.forced_eos_token_id is None:
        notes.append("The model does not force </s> at its length limit; s2s-desktop's search always ends a "
                     "translation that reaches the limit with </s>.")
    if spec.readme_preprocessing and "normali" in spec.readme_preprocessing.lower():
        notes.append(f"The model card names the pre-processing \"{spec.readme_preprocessing}\"; like transformers' "
                     "MarianTokenizer, s2s-desktop does not normalise punctuation before SentencePiece.")
    if codes and target_language is None:
        notes.append(f"This model translates into several languages ({', '.join(codes)}) and needs a target "
                     "language token; none is stored: choose one when translating (--target-language).")
    return tuple(notes)
