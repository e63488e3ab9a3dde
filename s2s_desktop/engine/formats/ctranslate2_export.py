"""Export a Transformer model file to a CTranslate2 model directory, through CTranslate2's own spec API.

The weights go into `ctranslate2.specs.TransformerSpec` (never CTranslate2's binary format by hand),
and a `ctranslate2.converters.Converter` validates, quantizes (`--quantization int8 / float16 ...`)
and saves it, as CTranslate2's converters for Marian, OpenNMT-py and fairseq do. How each part of
our Transformer maps (every `TransformerConfig` variant is read, so our own models and imported
Marian models both export):

  norm_position   pre / post -> the spec's `pre_norm`; final_norm -> the encoder's and decoder's
                  `layer_norm` (CTranslate2 applies it whenever present, so post-norm with a final
                  LayerNorm is kept too: the spec is built pre-norm, then `pre_norm` is set)
  activation      relu / gelu / gelu_tanh / silu -> RELU / GELU / GELUTanh / SWISH
  position_layout an explicit position table (`position_encodings.encodings`), computed by the
                  engine's own function for the layout, so interleaved and concatenated sinusoids
                  are the engine's numbers; CTranslate2's built-in sinusoid is neither
  scale_embedding `scale_embeddings` True (sqrt(d_model)) or False
  layers          self-attention q, k, v fused into one linear, cross-attention k, v fused (the
                  layout of CTranslate2's BART/Marian loader); LayerNorm epsilon 1e-5 (torch's)
  output          the output layer (or the tied target embeddings) and its bias: the logits bias
                  of an imported model included, with -inf for its start row and for the ids its
                  search rules ban (transformers' bad_words_ids: the pad), so CTranslate2 never
                  generates them either

Vocabularies are the pieces of our ids in id order (CTranslate2 maps pieces by string, so every
piece lands at our id), the decoder starts from our BOS piece (an imported Marian model's start row,
a copy of Marian's decoder start embedding) and the source gets our EOS appended (`add_source_eos`).
A multilingual imported model with a target language stored (or given) gets its ">>xxx<<" token
put before every source (`bos_token` + `add_source_bos`), as its tokenizer does.

The RNN has no CTranslate2 spec: exporting one is refused with an ExportError.
`ctranslate2` is an optional dependency (the `export` extra) imported only here, when exporting.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from s2s_desktop.engine.api import BOS_ID, EOS_ID, UNK_ID
from s2s_desktop.errors import ExportError

if TYPE_CHECKING:
    from s2s_desktop.engine.formats.checkpoint import LoadedModel

EXTRA_HINT = 'pip install "s2s-desktop[export]" (or pip install ctranslate2)'
QUANTIZATIONS = ("int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16", "float32")
POSITIONS = 1024  # rows of the exported position table: the longest input and output CTranslate2 can take
LAYER_NORM_EPSILON = 1e-5  # torch.nn.LayerNorm's default, used by every LayerNorm of ours
ACTIVATIONS = {"relu": "RELU", "gelu": "GELU", "gelu_tanh": "GELUTanh", "silu": "SWISH"}  # -> common_spec.Activation


@dataclass(frozen=True)
class Ct2Export:
    path: str  # the model directory written
    quantization: str | None
    seconds: float
    notices: tuple[str, ...]


def require_ctranslate2():
    """The ctranslate2 module, or an ExportError saying how to install it."""
    try:
        import ctranslate2
        import ctranslate2.converters  # noqa: F401 - the Converter base class
        import ctranslate2.specs  # noqa: F401
    except ImportError as exc:
        raise ExportError(f"exporting needs the ctranslate2 package, which is not installed: {EXTRA_HINT}") from exc
    return ctranslate2


def as_loaded(model: str | os.PathLike | LoadedModel) -> LoadedModel:
    from s2s_desktop.engine.formats.checkpoint import LoadedModel, load_model

    return model if isinstance(model, LoadedModel) else load_model(model)


def check_exportable(loaded: LoadedModel) -> None:
    cfg = loaded.config
    where = loaded.path or "the model"
    if cfg.arch != "transformer":
        raise ExportError(f"{where} is an {cfg.arch.upper()} model; CTranslate2 (and so Argos Translate) has no "
                          "specification for s2s-desktop's RNN encoder-decoder: only Transformer models export")
    t = cfg.transformer
    if t.activation not in ACTIVATIONS:
        raise ExportError(f"{where}: activation {t.activation!r} has no CTranslate2 equivalent")
    if cfg.emb_size % t.heads:
        raise ExportError(f"{where}: d_model {cfg.emb_size} is not divisible by {t.heads} heads")


def vocabulary(tok) -> list[str]:
    """The pieces of a tokenizer's ids, in id order (an imported one keeps its own list)."""
    pieces = getattr(tok, "vocab", None)
    return list(pieces) if pieces is not None else [tok.id_to_piece(i) for i in range(tok.vocab_size)]


def _check_vocabulary(pieces: list[str], side: str, where: str) -> None:
    if len(set(pieces)) != len(pieces):
        seen: set[str] = set()
        dup = next(p for p in pieces if p in seen or seen.add(p))
        raise ExportError(f"{where}: the {side} vocabulary holds {dup!r} twice; CTranslate2 maps pieces by string, "
                          "so every piece must be distinct")


def source_prefix(loaded: LoadedModel, target_language: str | None) -> str | None:
    """The ">>xxx<<" token a multilingual imported model puts before every source (None: none)."""
    codes = tuple(getattr(loaded.src_tok, "target_languages", ()))
    code = target_language if target_language is not None else getattr(loaded.src_tok, "target_language", None)
    if code is None:
        return None
    code = code.strip().removeprefix(">>").removesuffix("<<")
    if code not in codes:
        known = ", ".join(codes) if codes else "none: it translates into one language"
        raise ExportError(f"{loaded.path or 'the model'} has no target language {code!r} (its target languages: {known})")
    return f">>{code}<<"


def _np(t) -> np.ndarray:
    return t.detach().to("cpu").float().numpy().copy()


def _linear(spec, module) -> None:
    spec.weight = _np(module.weight)
    if module.bias is not None:
        spec.bias = _np(module.bias)


def _layer_norm(spec, norm) -> None:
    spec.gamma = _np(norm.weight)
    spec.beta = _np(norm.bias)


def _attention(spec, attn, self_attention: bool) -> None:
    from ctranslate2.converters import utils
    from ctranslate2.specs import common_spec

    parts = [common_spec.LinearSpec() for _ in range(3)]
    for part, module in zip(parts, (attn.q_proj, attn.k_proj, attn.v_proj)):
        _linear(part, module)
    if self_attention:
        utils.fuse_linear(spec.linear[0], parts)
    else:
        utils.fuse_linear(spec.linear[0], parts[:1])
        utils.fuse_linear(spec.linear[1], parts[1:])
    _linear(spec.linear[-1], attn.out_proj)


def _feed_forward(spec, ff) -> None:
    _linear(spec.linear_0, ff[0])  # nn.Sequential(Linear, activation, Dropout, Linear)
    _linear(spec.linear_1, ff[3])


def _stack_common(spec, stack, embedding, positions: np.ndarray, scale: bool) -> None:
    emb = spec.embeddings[0] if isinstance(spec.embeddings, list) else spec.embeddings
    emb.weight = _np(embedding.weight)
    spec.scale_embeddings = bool(scale)
    spec.position_encodings.encodings = positions
    if hasattr(spec, "layer_norm"):  # final_norm
        _layer_norm(spec.layer_norm, stack.norm)


def output_bias(loaded: LoadedModel) -> np.ndarray:
    """The logits bias as exported: the model's, with -inf at the ids search bans (an imported model's pad)."""
    model = loaded.model
    bias = model.output.bias if model.output is not None else model.output_bias
    out = _np(bias)
    banned = list(loaded.search_rules.banned_ids)
    if banned:
        out[banned] = -np.inf
    return out


def build_spec(loaded: LoadedModel, target_language: str | None = None, positions: int = POSITIONS):
    """A filled `ctranslate2.specs.TransformerSpec` for a Transformer model file (not yet validated)."""
    require_ctranslate2()
    from ctranslate2.specs import common_spec, transformer_spec

    from s2s_desktop.engine.models.transformer import POSITION_TABLES

    check_exportable(loaded)
    where = loaded.path or "the model"
    model, cfg = loaded.model, loaded.config
    t = cfg.transformer
    pre_norm = t.norm_position == "pre"
    activation = getattr(common_spec.Activation, ACTIVATIONS[t.activation])
    # Built pre-norm so that the final LayerNorm spec exists when final_norm is on; the flag is then set
    # to the model's placement (CTranslate2 applies a present final LayerNorm whatever the placement).
    encoder = transformer_spec.TransformerEncoderSpec(t.encoder_layers, t.heads, pre_norm=True,
                                                      no_final_norm=not t.final_norm, activation=activation)
    decoder = transformer_spec.TransformerDecoderSpec(t.decoder_layers, t.heads, pre_norm=True,
                                                      no_final_norm=not t.final_norm, activation=activation)
    encoder.pre_norm = pre_norm
    decoder.pre_norm = pre_norm
    spec = transformer_spec.TransformerSpec(encoder, decoder)

    table = POSITION_TABLES[t.position_layout](positions, cfg.emb_size).numpy().astype(np.float32)
    _stack_common(encoder, model.encoder, model.src_embed, table, t.scale_embedding)
    _stack_common(decoder, model.decoder, model.tgt_embed, table, t.scale_embedding)
    for layer_spec, layer in zip(encoder.layer, model.encoder.layers):
        _attention(layer_spec.self_attention, layer.attn, True)
        _layer_norm(layer_spec.self_attention.layer_norm, layer.norm1)
        _feed_forward(layer_spec.ffn, layer.ff)
        _layer_norm(layer_spec.ffn.layer_norm, layer.norm2)
    for layer_spec, layer in zip(decoder.layer, model.decoder.layers):
        _attention(layer_spec.self_attention, layer.self_attn, True)
        _layer_norm(layer_spec.self_attention.layer_norm, layer.norm1)
        _attention(layer_spec.attention, layer.cross_attn, False)
        _layer_norm(layer_spec.attention.layer_norm, layer.norm2)
        _feed_forward(layer_spec.ffn, layer.ff)
        _layer_norm(layer_spec.ffn.layer_norm, layer.norm3)
    weight = model.output.weight if model.output is not None else model.tgt_embed.weight
    decoder.projection.weight = _np(weight)
    decoder.projection.bias = output_bias(loaded)

    src, tgt = vocabulary(loaded.src_tok), vocabulary(loaded.tgt_tok)
    _check_vocabulary(src, "source", where)
    _check_vocabulary(tgt, "target", where)
    if len(src) != cfg.src_vocab_size or len(tgt) != cfg.tgt_vocab_size:
        raise ExportError(f"{where}: the tokenizers do not match the model's vocabulary sizes")
    spec.register_source_vocabulary(src)
    spec.register_target_vocabulary(tgt)

    config = spec.config
    config.unk_token = tgt[UNK_ID]
    config.eos_token = tgt[EOS_ID]
    config.decoder_start_token = tgt[BOS_ID]
    config.bos_token = tgt[BOS_ID]
    config.add_source_eos = True
    config.layer_norm_epsilon = LAYER_NORM_EPSILON
    if src[UNK_ID] != tgt[UNK_ID] or src[EOS_ID] != tgt[EOS_ID]:
        raise ExportError(f"{where}: the source and target vocabularies name <unk>/</s> differently "
                          f"({src[UNK_ID]!r}/{src[EOS_ID]!r} and {tgt[UNK_ID]!r}/{tgt[EOS_ID]!r}); CTranslate2 has one name for each")
    prefix = source_prefix(loaded, target_language)
    if prefix is not None:
        config.bos_token = prefix  # CTranslate2 prepends bos_token to the source; the decoder still starts from ours
        config.add_source_bos = True
    return spec


def _converter(loaded: LoadedModel, target_language: str | None, files: dict[str, bytes]):
    from ctranslate2.converters import Converter

    class S2SConverter(Converter):
        """CTranslate2's converter protocol: `_load` returns the filled spec; `convert` validates,
        quantizes and saves it (and the files registered with it)."""

        def _load(self):
            spec = build_spec(loaded, target_language)
            for name, path in files.items():
                spec.register_file(path, name)
            return spec

    return S2SConverter()


def vocabulary_map(loaded: LoadedModel) -> bytes | None:
    """The model's shortlist (decoding/shortlist.py) as CTranslate2's vocabulary map, `vmap.txt` (read with
    translate_batch(use_vmap=True)): "<TAB>" and the always allowed pieces (our special ids included, as
    our search scores them), then "source piece<TAB>target pieces" for each source piece that lists any.
    None without a shortlist. Decoded one sentence at a time, CTranslate2 then scores exactly the pieces
    our --shortlist scores for that sentence."""
    shortlist = loaded.shortlist
    if shortlist is None:
        return None
    src, tgt = vocabulary(loaded.src_tok), vocabulary(loaded.tgt_tok)
    always = dict.fromkeys([*range(EOS_ID + 1), *(int(i) for i in shortlist.frequent)])  # our special ids too (pad)
    lines = ["\t" + " ".join(tgt[i] for i in always)]
    copies = shortlist.copies if shortlist.copies is not None else np.full(len(src), -1)
    for s, (row, copy) in enumerate(zip(shortlist.table, copies)):
        ids = [int(i) for i in row if i >= 0] + ([int(copy)] if copy >= 0 else [])
        if ids and s < len(src) and " " not in src[s] and "\t" not in src[s]:
            lines.append(src[s] + "\t" + " ".join(dict.fromkeys(tgt[i] for i in ids)))
    return ("\n".join(lines) + "\n").encode("utf-8")


def tokenizer_files(loaded: LoadedModel) -> dict[str, bytes]:
    """The SentencePiece models a CTranslate2 user tokenizes with, saved beside the model."""
    src, tgt = loaded.src_tok.model_bytes, loaded.tgt_tok.model_bytes
    if src == tgt:
        return {"sentencepiece.model": src}
    return {"source.spm": src, "target.spm": tgt}


def export_ctranslate2(model: str | os.PathLike | LoadedModel, out_dir: str | os.PathLike,
                       quantization: str | None = None, force: bool = False,
                       target_language: str | None = None) -> Ct2Export:
    """Write `model` (a .s2s path or a LoadedModel) as a CTranslate2 model directory at `out_dir`:
    model.bin, config.json, the vocabularies, the SentencePiece model(s) and, for a model with a shortlist,
    its vocabulary map (vmap.txt, `vocabulary_map`). `quantization` is
    CTranslate2's weight type (None keeps float32). Refuses an existing `out_dir` unless `force`."""
    require_ctranslate2()
    start = time.perf_counter()
    if quantization is not None and quantization not in QUANTIZATIONS:
        raise ExportError(f"unknown quantization {quantization!r} (use one of {', '.join(QUANTIZATIONS)})")
    out = Path(out_dir)
    if out.exists() and not force:
        raise ExportError(f"{out} already exists (use --force to replace it)")
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} is a file, not a folder for the CTranslate2 model")
    loaded = as_loaded(model)
    check_exportable(loaded)
    part = out.with_name(out.name + ".part")  # written beside `out`, then swapped in: a full disk or a
    try:                                       # read-only folder leaves the previous export as it was
        with tempfile.TemporaryDirectory(prefix="s2s-ct2-") as tmp:
            files = {}
            vmap = vocabulary_map(loaded)
            for name, data in {**tokenizer_files(loaded), **({"vmap.txt": vmap} if vmap else {})}.items():
                path = Path(tmp) / name
                path.write_bytes(data)
                files[name] = str(path)
            converter = _converter(loaded, target_language, files)
            try:
                converter.convert(str(part), quantization=quantization, force=True)
            except (ValueError, RuntimeError, NotImplementedError) as exc:
                raise ExportError(f"CTranslate2 refused the model: {exc}") from exc
        _swap_in(part, out)
    except OSError as exc:
        raise ExportError(f"Could not write {out}: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(part, ignore_errors=True)
    notices = _notices(loaded, target_language)
    return Ct2Export(str(out), quantization, time.perf_counter() - start, notices)


def _swap_in(part: Path, out: Path) -> None:
    """Replace the folder `out` (if any) with `part`: the old one is renamed away first and deleted last."""
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        os.replace(out, old)
    try:
        os.replace(part, out)
    except OSError:
        if old.exists():
            os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _notices(loaded: LoadedModel, target_language: str | None) -> tuple[str, ...]:
    notes = []
    rules = loaded.search_rules
    if rules.length_penalty == "gnmt":
        notes.append("s2s-desktop ranks beam hypotheses by log-prob / ((5 + length) / 6) ** alpha; CTranslate2 by "
                     "log-prob / length ** length_penalty, so its n-best order can differ (its search is the same).")
    if getattr(loaded.src_tok, "target_languages", ()) and source_prefix(loaded, target_language) is None:
        notes.append("This multilingual model needs a >>xxx<< target-language token before every source sentence; "
                     "none was chosen (--target-language), so CTranslate2 users must prepend it themselves.")
    return tuple(notes)

