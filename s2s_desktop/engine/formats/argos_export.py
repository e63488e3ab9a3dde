"""Export a Transformer model file as an Argos Translate package (.argosmodel).

What argostranslate (1.11) reads from a package, and so what this writes: a zip holding one folder
(install_from_path extracts it into the packages directory, and every folder there is a package) with

  metadata.json        package_version, argos_version, from_code, from_name, to_code, to_name, type
                       "translate", links (read by package.IPackage.load_metadata_from_json; the
                       other keys, credits and licence from the model file, are kept for people)
  model/               the CTranslate2 model (ctranslate2_export), opened by ctranslate2.Translator
  sentencepiece.model  package.Package's tokenizer: it encodes the source with it, and decodes the
                       target pieces with the same model (SentencePieceTokenizer.decode)
  README.md            shown by Package.get_readme: names, provenance, licence

One SentencePiece model serves both sides in Argos, so it is the source model (encoding must be
exact); with separate source and target models the target pieces go through `decode_pieces` of the
source model, which passes a piece it does not know through as its text, and Argos turns "▁" into
spaces, so the text comes out as ours. A model whose target pieces need their own SentencePiece model
to decode (byte-fallback pieces <0x..>) is refused. Argos adds no EOS and no language token itself:
the CTranslate2 config does (`add_source_eos`, and `add_source_bos` with the ">>xxx<<" token of a
multilingual imported model, which must therefore have a target language).

Not reproduced by Argos: its sentence splitter (MiniSBD, a model it downloads on first use) runs before
the package's tokenizer, and it searches with its own settings (beam 4, length penalty 0.2 as
len ** 0.2), not the model file's.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from s2s_desktop import __version__
from s2s_desktop.engine.formats.ctranslate2_export import (
    as_loaded,
    check_exportable,
    export_ctranslate2,
    source_prefix,
    vocabulary,
)
from s2s_desktop.errors import ExportError

if TYPE_CHECKING:
    from s2s_desktop.engine.formats.checkpoint import LoadedModel

ARGOS_VERSION = "1.9.0"  # the package layout written here is the one Argos Translate reads since 1.9
SUFFIX = ".argosmodel"
LANGUAGE_NAMES = {
    "ar": "Arabic", "bg": "Bulgarian", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "eo": "Esperanto", "es": "Spanish", "et": "Estonian", "fa": "Persian", "fi": "Finnish",
    "fr": "French", "ga": "Irish", "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian",
    "it": "Italian", "ja": "Japanese", "ko": "Korean", "lt": "Lithuanian", "lv": "Latvian", "nl": "Dutch",
    "nb": "Norwegian Bokmål", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian",
    "sk": "Slovak", "sl": "Slovenian", "sv": "Swedish", "th": "Thai", "tr": "Turkish", "uk": "Ukrainian",
    "vi": "Vietnamese", "zh": "Chinese", "deu": "German", "eng": "English", "fra": "French", "spa": "Spanish",
    "ita": "Italian", "por": "Portuguese", "ron": "Romanian", "nld": "Dutch", "cat": "Catalan", "glg": "Galician",
}
BYTE_PIECE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")


@dataclass(frozen=True)
class ArgosExport:
    path: str  # the .argosmodel written
    package: str  # the folder inside it (its name once installed)
    metadata: dict
    seconds: float
    notices: tuple[str, ...]


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code.lower(), code)


def package_codes(loaded: LoadedModel, target_language: str | None) -> tuple[str, str]:
    src, tgt = loaded.meta.get("src_lang") or "und", loaded.meta.get("tgt_lang") or "und"
    prefix = source_prefix(loaded, target_language)
    if prefix is not None:
        tgt = prefix[2:-2]
    for side, code in (("source", src), ("target", tgt)):
        if code in ("", "und", "mul") or not re.fullmatch(r"[A-Za-z][A-Za-z_-]*", code):
            raise ExportError(f"{loaded.path or 'the model'}: its {side} language is {code!r}; Argos Translate needs a "
                              "language code (e.g. en) for both sides")
    return src, tgt


def _check_tokenizers(loaded: LoadedModel, target_language: str | None) -> tuple[str, ...]:
    where = loaded.path or "the model"
    if getattr(loaded.src_tok, "target_languages", ()) and source_prefix(loaded, target_language) is None:
        codes = ", ".join(loaded.src_tok.target_languages)
        raise ExportError(f"{where} translates into several languages ({codes}); an Argos package translates into one: "
                          "choose it with --target-language")
    if loaded.src_tok.model_bytes == loaded.tgt_tok.model_bytes:
        return ()
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor()
    sp.LoadFromSerializedProto(loaded.src_tok.model_bytes)
    unknown = [p for p in vocabulary(loaded.tgt_tok)[4:] if sp.piece_to_id(p) == sp.unk_id()]
    byte_pieces = [p for p in unknown if BYTE_PIECE.match(p)]
    if byte_pieces:
        raise ExportError(f"{where}: its target SentencePiece model has byte-fallback pieces ({byte_pieces[0]} ...) that "
                          "the source model does not know; Argos Translate decodes the target with the source model "
                          "(one sentencepiece.model per package), so they would show as raw bytes")
    return (f"Argos Translate decodes with the source SentencePiece model (one per package); {len(unknown)} target "
            "pieces it does not know are passed through as their text.",) if unknown else ()


def metadata(loaded: LoadedModel, src: str, tgt: str, package_version: str) -> dict:
    prov = loaded.meta.get("provenance") or {}
    credits = [f"Exported by s2s-desktop {__version__} from {Path(loaded.path).name if loaded.path else 'a model file'}"]
    if prov.get("repository"):
        credits.append(f"Model: {prov['repository']} ({prov.get('imported_from', 'imported')})")
    return {
        "package_version": package_version, "argos_version": ARGOS_VERSION, "from_code": src,
        "from_name": language_name(src), "to_code": tgt, "to_name": language_name(tgt), "type": "translate",
        "links": [], "credits": credits, "license": prov.get("license") or "unknown (see the model's author)",
        "source_model": {"file": Path(loaded.path).name if loaded.path else None, "repository": prov.get("repository"),
                         "imported_from": prov.get("imported_from")},
    }


def readme(loaded: LoadedModel, meta: dict, notices: tuple[str, ...]) -> str:
    prov = loaded.meta.get("provenance") or {}
    cfg = loaded.config
    t = cfg.transformer
    lines = [f"# {meta['from_name']} → {meta['to_name']}", "",
             f"An Argos Translate package exported by s2s-desktop {__version__}.", "",
             f"- model: Transformer, {t.encoder_layers}+{t.decoder_layers} layers, d_model {cfg.emb_size}, "
             f"{t.heads} heads, {loaded.model.num_parameters():,} parameters",
             f"- source file: {meta['source_model']['file']}"]
    if prov:
        lines += [f"- imported from: {prov.get('imported_from')}", f"- repository: {prov.get('repository') or 'unknown'}"]
    lines += [f"- licence: {meta['license']}", "",
              "Argos Translate searches with its own settings (beam 4, length penalty 0.2 as length ** 0.2), "
              "not those of s2s-desktop, so its translations can differ from the app's in a few sentences.", ""]
    lines += [f"Note: {n}" for n in notices]
    if prov.get("license_text"):
        lines += ["", "## Licence", "", prov["license_text"].strip()]
    return "\n".join(lines).rstrip() + "\n"


def export_argos(model: str | os.PathLike | LoadedModel, out_file: str | os.PathLike, quantization: str | None = None,
                 force: bool = False, target_language: str | None = None, package_version: str = "1.0") -> ArgosExport:
    """Write `model` as an Argos Translate package at `out_file` (a .argosmodel zip)."""
    start = time.perf_counter()
    out = Path(out_file)
    if out.suffix != SUFFIX:
        raise ExportError(f"{out}: an Argos Translate package is a {SUFFIX} file")
    if out.exists() and not force:
        raise ExportError(f"{out} already exists (use --force to replace it)")
    loaded = as_loaded(model)
    check_exportable(loaded)
    src, tgt = package_codes(loaded, target_language)
    notices = _check_tokenizers(loaded, target_language)
    name = f"translate-{src}_{tgt}-{package_version.replace('.', '_')}"
    meta = metadata(loaded, src, tgt, package_version)
    try:  # a full disk or a read-only folder: the previous package stays as it was
        with tempfile.TemporaryDirectory(prefix="s2s-argos-") as tmp:
            root = Path(tmp) / name
            root.mkdir()
            ct2 = export_ctranslate2(loaded, root / "model", quantization, force=True, target_language=target_language)
            notices += ct2.notices
            (root / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            (root / "sentencepiece.model").write_bytes(loaded.src_tok.model_bytes)
            (root / "README.md").write_text(readme(loaded, meta, notices), encoding="utf-8")
            part = out.with_name(out.name + ".part")
            try:
                with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as zf:
                    for path in sorted(root.rglob("*")):
                        zf.write(path, path.relative_to(tmp).as_posix())
                os.replace(part, out)
            finally:
                part.unlink(missing_ok=True)
    except OSError as exc:
        raise ExportError(f"Could not write {out}: {exc.strerror or exc}") from exc
    return ArgosExport(str(out), name, meta, time.perf_counter() - start, notices)
