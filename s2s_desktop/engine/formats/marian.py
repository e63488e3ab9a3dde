"""Read a Hugging Face Marian (OPUS-MT) folder into plain data: `MarianSpec`, float32 tensors, tokenizer assets.

Every file is treated as hostile: types, ranges and cross-file agreement are checked, and whatever
s2s-desktop cannot reproduce exactly raises `MarianImportError` naming the file and field. The
folder: config.json, model.safetensors (or pytorch_model.bin, read only with weights_only=True),
source.spm, target.spm, vocab.json, tokenizer_config.json; optional generation_config.json,
README.md, LICENSE. Checked against transformers 5.24 (modeling/tokenization/configuration_marian.py
and convert_marian_to_pytorch.py).

Weight names (canonical Marian name -> `models.model.Seq2Seq` name today; `marian_weights.s2s_name`)
  model.shared.weight (V, d)                      src_embed.weight (share_embeddings=True: also the target's)
  model.encoder.embed_tokens.weight (V, d)        src_embed.weight   (only when not shared)
  model.decoder.embed_tokens.weight (V, d)        _tgt_embed.weight  (only when not shared)
  lm_head.weight (V, d)                           output.weight      (only when tie_word_embeddings is false;
                                                  tied: logits = h @ target_embedding.T, tie_output=True)
  final_logits_bias (1, V)                        output_bias (V,) tied, output.bias (V,) untied
  model.encoder.layers.{i}.self_attn.{q,k,v,out}_proj.{weight,bias}   encoder.layers.{i}.attn.{q,k,v,out}_proj.*
  model.encoder.layers.{i}.self_attn_layer_norm.*  encoder.layers.{i}.norm1.*
  model.encoder.layers.{i}.fc1.* (ffn, d) / fc2.* (d, ffn)   encoder.layers.{i}.ff.0.* / ff.3.*
  model.encoder.layers.{i}.final_layer_norm.*     encoder.layers.{i}.norm2.*
  model.decoder.layers.{i}.self_attn.*            decoder.layers.{i}.self_attn.*
  model.decoder.layers.{i}.self_attn_layer_norm.*  decoder.layers.{i}.norm1.*
  model.decoder.layers.{i}.encoder_attn.*         decoder.layers.{i}.cross_attn.*
  model.decoder.layers.{i}.encoder_attn_layer_norm.*  decoder.layers.{i}.norm2.*
  model.decoder.layers.{i}.fc1.* / fc2.*          decoder.layers.{i}.ff.0.* / ff.3.*
  model.decoder.layers.{i}.final_layer_norm.*     decoder.layers.{i}.norm3.*
  (none)                                          encoder.norm, decoder.norm: Marian has no final LayerNorm
  model.{en,de}coder.embed_positions.weight       not stored by HF; checked equal to the sinusoids if present
Files hold tied aliases (shared, encoder/decoder embed_tokens, lm_head); they are checked equal and dropped.
A checkpoint saved from MarianModel lacks the "model." prefix; it is added.

What our Transformer must reproduce (MarianMTModel, eval mode)
  - Post-norm layers: x = LN(x + SelfAttn(x)); decoder then x = LN(x + CrossAttn(x, memory));
    x = LN(x + fc2(act(fc1(x)))). No LayerNorm on the embeddings, no final LayerNorm after the stacks.
  - Activation `activation_function`: "swish"/"silu" = SiLU (OPUS-MT), "relu", "gelu" (erf),
    "gelu_new" = tanh approximation (MarianSpec.activation: relu | gelu | gelu_tanh | silu).
  - Attention: q/k/v/out projections with bias; scores = (q * head_dim**-0.5) @ k.T; padding masked in
    encoder self-attention and cross-attention; causal in decoder self-attention. Heads may differ
    between encoder and decoder (encoder_attention_heads, decoder_attention_heads), as may ffn dims.
  - Embeddings: x = embed(ids) * sqrt(d_model) when scale_embedding (OPUS-MT: true, else 1.0), plus the
    position table; dropout is off at inference. Positions start at 0 for both stacks (no offset of 2 as
    in BART) and do not skip padding; the decoder's position t is the t-th decoder input (the start token
    is position 0).
  - Position table (`marian_weights.marian_sinusoids`): angle = pos / 10000^(2*(j//2)/d) in float64,
    sin of the even j in the first half, cos of the odd j in the second half (concatenated; ours
    interleaves), cast to float32; max_position_embeddings rows (HF fails beyond; OPUS-MT 512).
  - Logits = h @ W.T + final_logits_bias (OPUS-MT's bias is non-zero: it is Marian's output bias).
  - Special ids from the model, not ours: eos = config eos_token_id (OPUS-MT 0, "</s>"), pad =
    pad_token_id (the last id, "<pad>", added by the converter), unk = vocab.json "<unk>" (1), no BOS:
    decoding starts from decoder_start_token_id (= pad). Generation defaults (generation_config.json,
    else config.json): bad_words_ids [[pad]] (pad is never generated), forced_eos_token_id (eos forced
    at max_length), num_beams (4 or 6), max_length 512, renormalize_logits (log-softmax again after
    the bad-word mask; affects the per-token probabilities reported).
Tokenisation (`engine.data.marian_tokenizer.MarianTokenizer` reproduces MarianTokenizer):
  - Source text: the special tokens (</s>, <unk>, <pad>, other added tokens) are split out first and
    kept whole; each remaining chunk that starts with ">>xxx<<" keeps that code as one token; the rest
    is encoded by source.spm into pieces (strings) and each piece is looked up in vocab.json, unknown
    pieces becoming <unk>: spm ids are never used. "</s>" (eos) is appended. Target text (labels): the
    same with target.spm. There is no BOS.
  - No Moses punctuation normalisation: MarianTokenizer builds a sacremoses normalizer but never calls it
    while encoding. The OPUS README's "pre-processing: normalization + SentencePiece" says the original
    Marian pipeline normalised; MarianSpec.readme_preprocessing carries it so a caller may opt in.
  - Multilingual targets: vocab.json pieces ">>xxx<<" (MarianSpec.language_tokens); the source then
    starts with the chosen code, e.g. ">>fra<< Hello".
  - Decoding: ids -> vocab.json pieces (special ids dropped with skip_special_tokens), runs of
    ordinary pieces joined by spm decode_pieces (transformers 5 uses source.spm here when the vocabulary
    is shared), special tokens kept verbatim followed by a space, "▁" -> " ", strip.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s2s_desktop.engine.formats import marian_card as card
from s2s_desktop.engine.formats.marian_weights import (
    canonical_tensors,
    find_weights,
    is_int,
    read_weights,
    reject_constant,
)
from s2s_desktop.errors import MarianImportError, TokenizerError

if TYPE_CHECKING:
    import torch

ACTIVATIONS = {"swish": "silu", "silu": "silu", "relu": "relu", "gelu": "gelu", "gelu_new": "gelu_tanh",
               "gelu_pytorch_tanh": "gelu_tanh"}
# generate() settings that change its output but that s2s-desktop's search does not apply, with their
# neutral values; an import names the ones a folder sets (temperature & co. only matter when sampling).
UNSUPPORTED_GENERATION: dict[str, tuple] = {
    "no_repeat_ngram_size": (0, None), "encoder_no_repeat_ngram_size": (0, None), "repetition_penalty": (1.0, None),
    "encoder_repetition_penalty": (1.0, None), "min_length": (0, None), "min_new_tokens": (0, None),
    "max_new_tokens": (None,), "num_beam_groups": (1, None), "diversity_penalty": (0.0, None),
    "do_sample": (False, None), "temperature": (1.0, None), "top_k": (50, 0, None), "top_p": (1.0, None),
    "suppress_tokens": (None, []), "begin_suppress_tokens": (None, []), "forced_bos_token_id": (None,),
    "exponential_decay_length_penalty": (None,), "sequence_bias": (None, {}), "constraints": (None, []),
    "force_words_ids": (None, []),
}
SAMPLING = ("temperature", "top_k", "top_p")
MAX_JSON = 8 * 1024 * 1024
MAX_VOCAB_JSON = 64 * 1024 * 1024
MAX_SPM = 64 * 1024 * 1024
MAX_TEXT = 1024 * 1024
LICENSE_NAMES = ("LICENSE", "LICENSE.txt", "LICENSE.md")


@dataclass(frozen=True)
class MarianSpec:
    """Everything about a Marian model besides its weights and tokenizer bytes."""

    d_model: int
    encoder_layers: int
    decoder_layers: int
    encoder_attention_heads: int
    decoder_attention_heads: int
    encoder_ffn_dim: int
    decoder_ffn_dim: int
    activation_function: str  # as config.json spells it
    activation: str  # relu | gelu | gelu_tanh | silu
    scale_embedding: bool  # embeddings * sqrt(d_model)
    normalize_before: bool  # always False: Marian is post-norm
    final_layer_norm: bool  # always False: no LayerNorm after the last layer
    static_positions: bool  # always True: sinusoids, sines then cosines
    max_position_embeddings: int
    vocab_size: int
    pad_token_id: int
    eos_token_id: int
    unk_token_id: int
    decoder_start_token_id: int
    share_encoder_decoder_embeddings: bool
    tie_word_embeddings: bool
    final_logits_bias: bool  # the weights file holds one (else zeros)
    language_tokens: tuple[str, ...]  # ">>xxx<<" pieces of vocab.json, in vocab order
    source_lang: str | None
    target_lang: str | None
    repository: str | None  # e.g. "Helsinki-NLP/opus-mt-en-de"
    license: str | None  # README front matter, e.g. "apache-2.0"
    license_text: str | None  # the LICENSE file
    readme_preprocessing: str | None  # README "pre-processing:" line
    num_beams: int | None
    max_length: int | None
    bad_words_ids: tuple[tuple[int, ...], ...]
    forced_eos_token_id: int | None
    renormalize_logits: bool
    early_stopping: bool | str  # generate()'s beam stopping rule: False (default), True or "never"
    length_penalty: float | None  # generate()'s default exponent (len ** alpha), when the file sets one
    unsupported_generation: tuple[str, ...]  # generation settings in effect that s2s-desktop does not apply
    weights_file: str  # "model.safetensors" or "pytorch_model.bin"


@dataclass(frozen=True)
class MarianTokenizerAssets:
    """What `MarianTokenizer` needs: both SentencePiece models and the vocab.json mapping."""

    source_spm: bytes
    target_spm: bytes
    vocab: tuple[str, ...]  # vocab[i] is the piece of id i (vocab.json inverted; ids are 0..V-1)
    unk_token: str
    eos_token: str
    pad_token: str
    extra_special_tokens: tuple[str, ...] = ()  # other added tokens that are never split
    clean_up_tokenization_spaces: bool = False


@dataclass(frozen=True)
class MarianFolder:
    path: str
    spec: MarianSpec
    tensors: dict[str, torch.Tensor]  # canonical names (module docstring), float32
    tokenizer: MarianTokenizerAssets
    notices: tuple[str, ...]  # to show the user (e.g. how pytorch_model.bin was read)


def read_marian_folder(folder: str | Path) -> MarianFolder:
    """Read and check a Marian folder; raises MarianImportError naming the file and field."""
    folder = Path(folder)
    if not folder.is_dir():
        raise MarianImportError(f"{folder}: not a folder (a Marian model is a folder with config.json)")
    config = _read_json(folder / "config.json", MAX_JSON)
    tok_config = _read_json(folder / "tokenizer_config.json", MAX_JSON)
    gen_path = folder / "generation_config.json"
    gen_config = _read_json(gen_path, MAX_JSON) if gen_path.is_file() else None
    arch = _architecture(folder / "config.json", config)
    assets = _tokenizer_assets(folder, tok_config, arch["vocab_size"])
    vocab_ids = {piece: i for i, piece in enumerate(assets.vocab)}
    for field, token in (("pad_token_id", assets.pad_token), ("eos_token_id", assets.eos_token)):
        if vocab_ids[token] != arch[field]:
            raise MarianImportError(
                f"{folder / 'config.json'}: {field} is {arch[field]} but vocab.json maps {token} to {vocab_ids[token]}"
            )
    readme = _read_text(folder / "README.md")
    front, body = card.front_matter(readme or "")
    repository = card.repository(folder, config, body)
    source_lang, target_lang = card.languages(folder / "tokenizer_config.json", tok_config, front, repository)
    generation = _generation(gen_path if gen_config is not None else folder / "config.json",
                             gen_config if gen_config is not None else config, arch["vocab_size"])
    weights_path, notice = find_weights(folder)
    raw = read_weights(weights_path)
    license_text = next((t for t in (_read_text(folder / n) for n in LICENSE_NAMES) if t), None)
    spec = MarianSpec(
        **arch,
        unk_token_id=vocab_ids[assets.unk_token],
        final_logits_bias="final_logits_bias" in raw,
        language_tokens=tuple(p for p in assets.vocab if p.startswith(">>") and p.endswith("<<")),
        source_lang=source_lang,
        target_lang=target_lang,
        repository=repository,
        license=_short(front.get("license")),
        license_text=license_text,
        readme_preprocessing=card.readme_field(body, "pre-processing"),
        **generation,
        weights_file=weights_path.name,
    )
    tensors = canonical_tensors(raw, spec, weights_path)
    return MarianFolder(str(folder), spec, tensors, assets, tuple(n for n in (notice,) if n))


# -- config.json -------------------------------------------------------------------------------------
def _architecture(path: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    if cfg.get("model_type") != "marian":
        raise MarianImportError(f"{path}: model_type is {cfg.get('model_type')!r}, only 'marian' can be imported")
    archs = cfg.get("architectures")
    if archs is not None and (not isinstance(archs, list) or archs != ["MarianMTModel"]):
        raise MarianImportError(f"{path}: architectures is {archs!r}, only ['MarianMTModel'] can be imported")
    if cfg.get("is_encoder_decoder", True) is not True or cfg.get("is_decoder", False) is not False:
        raise MarianImportError(f"{path}: is_encoder_decoder/is_decoder describe a decoder-only model")
    out: dict[str, Any] = {}
    for field, hi in (("d_model", 16384), ("encoder_layers", 128), ("decoder_layers", 128),
                      ("encoder_attention_heads", 1024), ("decoder_attention_heads", 1024),
                      ("encoder_ffn_dim", 131072), ("decoder_ffn_dim", 131072),
                      ("max_position_embeddings", 1 << 20), ("vocab_size", 1 << 22)):
        out[field] = _int(path, cfg, field, 1, hi)
    for side in ("encoder", "decoder"):
        if out["d_model"] % out[f"{side}_attention_heads"]:
            raise MarianImportError(f"{path}: d_model {out['d_model']} is not divisible by {side}_attention_heads")
    if cfg.get("decoder_vocab_size") not in (None, out["vocab_size"]):
        raise MarianImportError(f"{path}: decoder_vocab_size differs from vocab_size (separate vocabularies)")
    for field in ("pad_token_id", "eos_token_id", "decoder_start_token_id"):
        value = cfg.get(field)
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        out[field] = _int(path, {field: value}, field, 0, out["vocab_size"] - 1)
    act = cfg.get("activation_function", "gelu")
    if not isinstance(act, str) or act not in ACTIVATIONS:
        raise MarianImportError(f"{path}: activation_function {act!r} is not supported ({', '.join(ACTIVATIONS)})")
    out["activation_function"], out["activation"] = act, ACTIVATIONS[act]
    out["scale_embedding"] = _bool(path, cfg, "scale_embedding", False)
    out["share_encoder_decoder_embeddings"] = _bool(path, cfg, "share_encoder_decoder_embeddings", True)
    out["tie_word_embeddings"] = _bool(path, cfg, "tie_word_embeddings", True)
    # Keys of the BART-era configs that MarianMTModel ignores: refuse any value it would not honour.
    for field, honoured in (("normalize_before", False), ("add_final_layer_norm", False),
                            ("normalize_embedding", False), ("layernorm_embedding", False),
                            ("static_position_embeddings", True)):
        if field in cfg and _bool(path, cfg, field, honoured) != honoured:
            raise MarianImportError(f"{path}: {field} = {cfg[field]!r} is not supported (Marian models use {honoured})")
    out.update(normalize_before=False, final_layer_norm=False, static_positions=True)
    return out


def _generation(path: Path, cfg: dict[str, Any], vocab_size: int) -> dict[str, Any]:
    beams = _int(path, cfg, "num_beams", 1, 1024, None)
    max_length = _int(path, cfg, "max_length", 1, 1 << 20, None)
    forced = cfg.get("forced_eos_token_id")
    forced = forced[0] if isinstance(forced, list) and len(forced) == 1 else forced
    forced = _int(path, {"forced_eos_token_id": forced}, "forced_eos_token_id", 0, vocab_size - 1, None)
    bad = cfg.get("bad_words_ids") or []
    ok = isinstance(bad, list) and all(
        isinstance(seq, list) and seq and all(is_int(i) and 0 <= i < vocab_size for i in seq) for seq in bad
    )
    if not ok or len(bad) > 10000:
        raise MarianImportError(f"{path}: bad_words_ids must be lists of token ids below {vocab_size}")
    early = cfg.get("early_stopping", False)
    if early not in (True, False, "never") or isinstance(early, int) and not isinstance(early, bool):
        raise MarianImportError(f"{path}: early_stopping must be true, false or \"never\", got {early!r}")
    alpha = cfg.get("length_penalty")
    if alpha is not None and (not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or abs(alpha) > 100):
        raise MarianImportError(f"{path}: length_penalty must be a number, got {alpha!r}")
    unsupported = tuple(k for k, neutral in UNSUPPORTED_GENERATION.items()
                        if k in cfg and cfg[k] not in neutral and not (k in SAMPLING and not cfg.get("do_sample")))
    return {"num_beams": beams, "max_length": max_length, "bad_words_ids": tuple(tuple(s) for s in bad),
            "forced_eos_token_id": forced, "renormalize_logits": _bool(path, cfg, "renormalize_logits", False),
            "early_stopping": early, "length_penalty": None if alpha is None else float(alpha),
            "unsupported_generation": unsupported}


# -- tokenizer files -----------------------------------------------------------------------------------
def _tokenizer_assets(folder: Path, tok_config: dict[str, Any], vocab_size: int) -> MarianTokenizerAssets:
    from s2s_desktop.engine.data.tokenizer import sentencepiece_processor

    tc_path = folder / "tokenizer_config.json"
    if tok_config.get("separate_vocabs", False) is not False or (folder / "target_vocab.json").exists():
        raise MarianImportError(f"{tc_path}: separate_vocabs (target_vocab.json) is not supported")
    if tok_config.get("target_vocab_file") is not None:
        raise MarianImportError(f"{tc_path}: target_vocab_file is not supported (separate vocabularies)")
    specials = {}
    for field, default in (("unk_token", "<unk>"), ("eos_token", "</s>"), ("pad_token", "<pad>")):
        specials[field] = _token_string(tc_path, field, tok_config.get(field, default))
    spm_bytes = {}
    for name in ("source.spm", "target.spm"):
        path = folder / name
        data = _read_bytes(path, MAX_SPM)
        try:
            sentencepiece_processor(data)
        except TokenizerError as exc:
            raise MarianImportError(f"{path}: not a usable SentencePiece model ({exc})") from exc
        spm_bytes[name] = data
    vocab_path = folder / "vocab.json"
    mapping = _read_json(vocab_path, MAX_VOCAB_JSON)
    if not all(isinstance(k, str) and is_int(v) for k, v in mapping.items()):
        raise MarianImportError(f"{vocab_path}: every entry must map a piece (string) to an id (integer)")
    if len(mapping) != vocab_size:
        raise MarianImportError(
            f"{vocab_path}: holds {len(mapping)} pieces but config.json vocab_size is {vocab_size}"
        )
    vocab: list[str | None] = [None] * vocab_size
    for piece, i in mapping.items():
        if not 0 <= i < vocab_size or vocab[i] is not None:
            raise MarianImportError(f"{vocab_path}: id {i} of {piece!r} is out of range or used twice")
        vocab[i] = piece
    for field, token in specials.items():
        if token not in mapping:
            raise MarianImportError(f"{vocab_path}: has no {token!r} ({tc_path.name} {field})")
    extra = _added_tokens(tc_path, tok_config, mapping, set(specials.values()))
    clean = _bool(tc_path, tok_config, "clean_up_tokenization_spaces", False)
    return MarianTokenizerAssets(spm_bytes["source.spm"], spm_bytes["target.spm"], tuple(vocab),  # type: ignore[arg-type]
                                 specials["unk_token"], specials["eos_token"], specials["pad_token"], extra, clean)


def _token_string(path: Path, field: str, value: object) -> str:
    if isinstance(value, dict):  # a serialized AddedToken
        value = value.get("content")
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise MarianImportError(f"{path}: {field} must be a short string, got {value!r}")
    return value


def _added_tokens(path: Path, cfg: dict[str, Any], vocab: dict[str, int], specials: set[str]) -> tuple[str, ...]:
    """Added tokens beyond unk/eos/pad (split out whole before SentencePiece, like HF's trie)."""
    extra: list[str] = []
    decoder = cfg.get("added_tokens_decoder", {})
    if not isinstance(decoder, dict):
        raise MarianImportError(f"{path}: added_tokens_decoder must be an object")
    for key, entry in decoder.items():
        content = _token_string(path, f"added_tokens_decoder[{key}]", entry)
        flags = entry if isinstance(entry, dict) else {}
        if any(flags.get(f) for f in ("lstrip", "rstrip", "single_word")):
            raise MarianImportError(f"{path}: added token {content!r} uses lstrip/rstrip/single_word (not supported)")
        if not key.isdigit() or vocab.get(content) != int(key):
            raise MarianImportError(f"{path}: added token {content!r} has id {key}, vocab.json {vocab.get(content)}")
        if content not in specials:
            extra.append(content)
    for field in ("additional_special_tokens", "extra_special_tokens"):
        items = cfg.get(field) or []
        if not isinstance(items, list):
            raise MarianImportError(f"{path}: {field} must be a list")
        for item in items:
            token = _token_string(path, field, item)
            if token not in vocab:
                raise MarianImportError(f"{path}: {field} {token!r} is not in vocab.json")
            if token not in specials and token not in extra:
                extra.append(token)
    return tuple(extra)


# -- small readers -------------------------------------------------------------------------------------
def _read_bytes(path: Path, limit: int) -> bytes:
    if not path.is_file():
        raise MarianImportError(f"{path}: missing (a Marian folder needs it)")
    size = path.stat().st_size
    if size > limit:
        raise MarianImportError(f"{path}: {size} bytes, more than the {limit} a Marian model's file can have")
    return path.read_bytes()


def _read_json(path: Path, limit: int) -> dict[str, Any]:
    data = _read_bytes(path, limit)
    try:
        obj = json.loads(data.decode("utf-8"), parse_constant=reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MarianImportError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise MarianImportError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


def _read_text(path: Path) -> str | None:
    if not path.is_file():
        return None
    with open(path, "rb") as f:
        return f.read(MAX_TEXT).decode("utf-8", errors="replace")


def _int(path: Path, cfg: dict[str, Any], field: str, lo: int, hi: int, default: object = ...) -> Any:
    value = cfg.get(field, default)
    if value is None and default is None:
        return None
    if value is ... or value is None:
        raise MarianImportError(f"{path}: {field} is missing")
    if not is_int(value) or not lo <= value <= hi:
        raise MarianImportError(f"{path}: {field} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def _bool(path: Path, cfg: dict[str, Any], field: str, default: bool) -> bool:
    value = cfg.get(field, default)
    if not isinstance(value, bool):
        raise MarianImportError(f"{path}: {field} must be true or false, got {value!r}")
    return value


def _short(value: object, limit: int = 100) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None
