"""A small fake engine for GUI tests: no torch, deterministic, instant.

`FakeEngine` is what `MainWindow(engine=...)` opens models with. Its "model files" are JSON files
written by `write_fake_model`; anything else is refused with the engine's CheckpointError, as a real
corrupt file would be. `FakeTranslator` "translates" by reversing the words, and returns real
`api.Translation` / `api.Candidate` objects: one piece per word ("▁word"), an end piece, per-token
probabilities, top-k alternatives and numpy attention (layers, heads, target, source) that peaks on
the source word each target word came from (each layer and head blurs it differently). The word
"loop" comes out five times, so that the engine's real degeneracy check flags the output.
"""

from __future__ import annotations

import json
import os
import struct
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from s2s_desktop.engine.api import (
    BeamTree,
    Candidate,
    Contrast,
    DecodeOptions,
    EngineInfo,
    Explanation,
    FileSummary,
    ModelConfig,
    ModelConversion,
    ModelInfo,
    ParagraphTranslation,
    SelfAttention,
    Translation,
    TreeNode,
)
from s2s_desktop.engine.data.corpus import read_lines
from s2s_desktop.engine.data.segment import split_sentences
from s2s_desktop.engine.data.words import WORD_START
from s2s_desktop.engine.decoding.degenerate import degenerate_reason
from s2s_desktop.errors import CheckpointError, ConfigError, ExportError, InputError, MarianImportError

EOS = "</s>"
VOCAB = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
CHOSEN_PROB = 0.8
OTHER_PROBS = (0.1, 0.05, 0.03, 0.02)
LOOP = WORD_START + "loop"  # a source word the fake "translates" as a loop


def write_fake_model(path: Path, src_lang: str = "en", tgt_lang: str = "rev", layers: int = 1, heads: int = 1,
                     provenance: dict | None = None, target_languages: Sequence[str] = (),
                     arch: str = "transformer", training: dict | None = None, variant: int = 0) -> Path:
    """`variant` k: the best translation of a sentence of more than 2 words is rotated by k (another
    model, for the Compare tab)."""
    path.write_text(json.dumps({"fake_model": 1, "src_lang": src_lang, "tgt_lang": tgt_lang, "variant": variant,
                                "layers": layers, "heads": heads, "provenance": provenance or {},
                                "target_languages": list(target_languages), "arch": arch,
                                "training": training or {}}), encoding="utf-8")
    return path


def write_fake_marian_folder(folder: Path, repository: str = "Helsinki-NLP/opus-mt-en-de",
                             target_languages: Sequence[str] = ()) -> Path:
    """A folder the fake engine imports as a Marian model (the real ones need transformers to build)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"fake_marian": 1, "repository": repository,
                                                    "target_languages": list(target_languages)}), encoding="utf-8")
    (folder / "vocab.json").write_text("{}", encoding="utf-8")
    (folder / "source.spm").write_bytes(b"")
    return folder


def write_fake_s2s(path: Path, src_lang: str = "en", tgt_lang: str = "rev", arch: str = "transformer",
                   training: dict | None = None, provenance: dict | None = None,
                   target_languages: Sequence[str] = ()) -> Path:
    """A fake model the model library reads too: a safetensors file with a .s2s header (languages, config,
    training, provenance) and one 2x3 tensor, whose metadata also holds the spec this engine opens."""
    spec = {"fake_model": 1, "src_lang": src_lang, "tgt_lang": tgt_lang, "provenance": provenance or {},
            "target_languages": list(target_languages), "arch": arch, "training": training or {}}
    meta = {"model": ModelConfig(arch=arch).to_dict(), "src_lang": src_lang, "tgt_lang": tgt_lang,
            "training": training or {}, "storage": "float32", **({"provenance": provenance} if provenance else {}),
            **({"tokenizer": {"target_languages": list(target_languages)}} if target_languages else {})}
    header = json.dumps({"model.w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
                         "__metadata__": {"format": "s2s-desktop-model", "format_version": "1",
                                          "meta": json.dumps(meta), "fake_spec": json.dumps(spec)}}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(24))
    return path


def _s2s_spec(path: str) -> dict | None:
    try:
        with open(path, "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            return json.loads(json.loads(fh.read(size))["__metadata__"]["fake_spec"])
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None


def _pieces(text: str) -> list[str]:
    return [WORD_START + w for w in text.split()]


def _text(pieces: Sequence[str]) -> str:
    return "".join(p for p in pieces if p != EOS).replace(WORD_START, " ").strip()


class FakeTranslator:
    def __init__(self, path: str, device: str, spec: dict) -> None:
        self.path, self.device = path, "cpu" if device == "auto" else device
        self.src_lang, self.tgt_lang = spec["src_lang"], spec["tgt_lang"]
        self.layers, self.heads = int(spec.get("layers", 1)), int(spec.get("heads", 1))
        self.provenance = dict(spec.get("provenance") or {})
        self.target_languages = tuple(spec.get("target_languages") or ())
        self._target_language = self.target_languages[0] if self.target_languages else None
        self.arch = spec.get("arch", "transformer")
        self.training = dict(spec.get("training") or {})
        self.variant = int(spec.get("variant", 0))

    @property
    def target_language(self) -> str | None:
        return self._target_language

    @target_language.setter
    def target_language(self, code: str | None) -> None:
        if code is not None and code not in self.target_languages:
            raise InputError(f"{self.path}: no target language {code!r} (the model's: {', '.join(self.target_languages)})")
        self._target_language = code

    @classmethod
    def open(cls, path: str, device: str = "auto") -> FakeTranslator:
        try:
            spec = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CheckpointError(f"{path} does not exist") from None
        except IsADirectoryError:  # the engine's own wording (formats/checkpoint.py)
            raise CheckpointError(f"{path} is a folder; choose the .s2s model file inside it (e.g. best.s2s)") from None
        except (UnicodeDecodeError, ValueError):
            spec = _s2s_spec(path)
        if not isinstance(spec, dict) or spec.get("fake_model") != 1:
            raise CheckpointError(f"{path} is not an s2s-desktop model file")
        return cls(path, device, spec)

    def info(self) -> ModelInfo:
        return ModelInfo(path=self.path, file_size=os.path.getsize(self.path), src_lang=self.src_lang,
                         tgt_lang=self.tgt_lang, parameters=1234, src_vocab=len(VOCAB) + 4, tgt_vocab=len(VOCAB) + 4,
                         model=ModelConfig(arch=self.arch).to_dict(), device=self.device, precision="fp32",
                         training=self.training, provenance=self.provenance,
                         target_languages=self.target_languages, target_language=self.target_language)

    def self_attention(self, source: str, tokens: Sequence[str]) -> SelfAttention:
        """Encoder: each source piece attends to itself and its neighbours; decoder: causal, to the previous input."""
        if self.arch != "transformer":
            raise InputError(f"{self.path}: a {self.arch} model has no self-attention")
        s, n = len(_pieces(source)) + 1, len(tokens)
        enc = np.empty((self.layers, self.heads, s, s))
        dec = np.empty((self.layers, self.heads, n, n))
        for layer in range(self.layers):
            for head in range(self.heads):
                shift = (layer + head) % 2
                enc[layer, head] = np.roll(np.eye(s), shift, axis=1) * 0.7 + 0.3 / s
                lower = np.tril(np.ones((n, n))) + np.tril(np.eye(n, k=-1) * (3 + head))
                dec[layer, head] = lower / lower.sum(axis=1, keepdims=True) if n else lower
        return SelfAttention(enc, dec, ("<s>", *tokens[: n - 1]) if n else ())

    def beam_tree(self, source: str, opts: DecodeOptions = DecodeOptions()) -> BeamTree:
        """The best hypothesis as a chain (its end "chosen"), each step with one pruned sibling."""
        best = self._sentence(source, opts, None).best
        nodes, parent, score = [], -1, 0.0
        for step, piece in enumerate(best.tokens):
            lp = float(np.log(best.token_probs[step]))
            if piece != EOS:
                nodes.append(TreeNode(parent, step, WORD_START + "other", lp - 1.0, score + lp - 1.0, "pruned"))
            score += lp
            nodes.append(TreeNode(parent, step, piece, lp, score, "chosen" if piece == EOS else "live"))
            parent = len(nodes) - 1
        return BeamTree(source, max(opts.beam, 2), tuple(nodes))

    explained: list = []  # (method, source) of every explain call, for tests

    def explain(self, source: str, tokens: Sequence[str], method: str, steps: int = 32,
                cancelled: Callable[[], bool] | None = None, first: int | None = None,
                progress: Callable[[Explanation], None] | None = None) -> Explanation | None:
        """Output token t credits source piece S - 2 - t (the reversal the fake translates), less so
        for integrated gradients; rollout needs a Transformer. Integrated gradients hands on a partial
        map of the row `first` alone before the whole."""
        if method == "rollout" and self.arch != "transformer":
            raise InputError(f"{self.path}: attention rollout needs self-attention")
        if cancelled is not None and cancelled():
            return None
        type(self).explained.append((method, source))
        s, n = len(_pieces(source)) + 1, len(tokens)
        scores = np.full((n, s), 0.1 if method == "integrated_gradients" else 0.02)
        for t in range(n):
            scores[t, max(s - 2 - t, 0)] += 1.0
        scores = scores / scores.sum(axis=1, keepdims=True)
        if method == "integrated_gradients" and progress is not None and first is not None and n > 1:
            part = np.zeros_like(scores)
            part[first] = scores[first]
            progress(Explanation(method, part, steps, rows_done=1))
        return Explanation(method, scores, steps)

    contrasted: list = []  # (position, alternative) of every contrast call, for tests

    def contrast(self, source: str, tokens: Sequence[str], position: int, alternative: str,
                 method: str = "integrated_gradients", steps: int = 32) -> Contrast:
        """Source piece S - 2 - position pushed toward the chosen piece, the last one toward the alternative."""
        if not 0 <= position < len(tokens) or alternative == tokens[position]:
            raise InputError(f"cannot contrast {alternative!r} at position {position}")
        type(self).contrasted.append((position, alternative))
        s = len(_pieces(source)) + 1
        scores = np.zeros(s, dtype=np.float32)
        scores[max(s - 2 - position, 0)] = 1.5
        scores[-1] = -0.5
        return Contrast(position, tokens[position], alternative, scores, 1.0, method, steps)

    # -- translation -------------------------------------------------------------------------------
    def translate(self, texts: Sequence[str], opts: DecodeOptions = DecodeOptions(), batch_tokens: int = 4000,
                  progress: Callable[[int, int], bool | None] | None = None,
                  prefixes: Sequence[object] | None = None, attention: bool = True) -> list[Translation]:
        if opts.nbest > opts.beam:
            raise ConfigError(f"--nbest ({opts.nbest}) cannot exceed --beam ({opts.beam})")
        out = []
        for i, text in enumerate(texts):
            out.append(self._sentence(text, opts, prefixes[i] if prefixes else None))
            if progress is not None and progress(i + 1, len(texts)) is False:
                break
        return out

    def _sentence(self, text: str, opts: DecodeOptions, prefix: object) -> Translation:
        source = _pieces(text)
        truncated = len(source) > opts.max_source_tokens
        source = source[: opts.max_source_tokens]
        forced = _pieces(prefix) if isinstance(prefix, str) else list(prefix or ())
        cands = tuple(self._candidate(source, forced, k, opts.alternatives) for k in range(opts.nbest))
        return Translation(text, (*source, EOS), cands[0], cands, truncated,
                           degenerate_reason((*source, EOS), cands[0].tokens))

    def _candidate(self, source: list[str], forced: list[str], rank: int, k: int) -> Candidate:
        free = [w for piece in source[::-1] for w in ([piece] * 5 if piece == LOOP else [piece])]
        turn = rank + (getattr(self, "variant", 0) if len(source) > 2 else 0)
        free = free[turn % len(free):] + free[: turn % len(free)] if free else free  # the n-best: rotations
        tokens = (*forced, *free[len(forced):], EOS)
        n, s = len(tokens), len(source) + 1
        probs = np.full(n, CHOSEN_PROB)
        alt_tokens = tuple((tok, *[WORD_START + w for w in VOCAB if WORD_START + w != tok][: max(k - 1, 0)])[:k]
                           for tok in tokens)
        alt_probs = np.array([(CHOSEN_PROB, *OTHER_PROBS)[:k]] * n).reshape(n, k)
        log_prob = float(np.log(probs).sum()) - rank
        entropy = np.full(n, -sum(p * np.log(p) for p in (CHOSEN_PROB, *OTHER_PROBS)))
        return Candidate(_text(tokens), tokens, probs, log_prob, log_prob / n, self._attention(n, s),
                         alt_tokens if k else (), alt_probs if k else None, len(forced), entropy if k else None)

    def _attention(self, n: int, s: int) -> np.ndarray:
        """(layers, heads, n, s): target i peaks on source s-2-i (the word it reverses), the end on the end."""
        peak = np.zeros((n, s))
        for i in range(n):
            peak[i, (s - 2 - i) if i < n - 1 and i < s - 1 else s - 1] = 1.0
        att = np.empty((self.layers, self.heads, n, s))
        for layer in range(self.layers):
            for head in range(self.heads):
                blur = 0.1 + 0.8 * (layer * self.heads + head) / max(self.layers * self.heads - 1, 1)
                att[layer, head] = (1 - blur) * peak + blur / s
        return att

    def translate_paragraph(self, text: str, opts: DecodeOptions = DecodeOptions(),
                            progress: Callable[[int, int], bool | None] | None = None) -> ParagraphTranslation | None:
        seg = split_sentences(text)
        sentences = tuple(self.translate(seg.sentences, opts, progress=progress)) if seg.sentences else ()
        if len(sentences) != len(seg.sentences):
            return None
        return ParagraphTranslation(text, sentences, seg.separators, seg.leading)

    def translate_file(self, src: str, dst: str, opts: DecodeOptions = DecodeOptions(),
                       progress: Callable[[int, int], None] | None = None, cancel: threading.Event | None = None,
                       chunk: int = 256, split: bool = False) -> FileSummary:
        lines = read_lines(src)
        out: list[str] = []
        chunk = chunk if chunk > 0 else 1
        for i in range(0, len(lines), chunk):
            if cancel is not None and cancel.is_set():
                return FileSummary(len(out), 0.0, True, "")
            if split:
                out.extend(self.translate_paragraph(line, opts).text.strip() for line in lines[i: i + chunk])
            else:
                out.extend(t.text for t in self.translate(lines[i: i + chunk], opts))
            if progress is not None:
                progress(len(out), len(lines))
        Path(dst).write_text("".join(line + "\n" for line in out), encoding="utf-8")
        return FileSummary(len(out), 0.01, False, str(dst))


class FakeEngine:
    """The `Engine` the GUI tests inject: lists one CPU and opens fake model files."""

    def __init__(self, fail_load: str | None = None) -> None:
        self.fail_load = fail_load
        self.opened: list[str] = []
        self.imported: list[tuple[str, str]] = []
        self.exported: list[tuple[str, str, str, str | None]] = []

    def load(self) -> EngineInfo:
        if self.fail_load:
            raise RuntimeError(self.fail_load)
        return EngineInfo(("cpu",), {"cpu": "CPU (fake engine)"}, "fake", 0.0)

    def open(self, path: str, device: str) -> FakeTranslator:
        translator = FakeTranslator.open(path, device)
        self.opened.append(path)
        return translator

    def import_model(self, folder: str, out: str, progress=None) -> ModelConversion:
        config = Path(folder) / "config.json"
        try:
            spec = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise MarianImportError(f"{config}: not found or not JSON; a Marian folder has config.json") from None
        if spec.get("fake_marian") != 1:
            raise MarianImportError(f"{config}: model_type is not \"marian\"")
        if progress:
            progress(0, 1, "Importing…")
        provenance = {"imported_from": "Hugging Face Marian", "repository": spec["repository"],
                      "license": "cc-by-4.0", "license_text": "Creative Commons Attribution 4.0 International",
                      "notices": ["Weights read from model.safetensors."]}
        write_fake_model(Path(out), "en", "de", layers=6, heads=8, provenance=provenance,
                         target_languages=spec.get("target_languages", ()))
        self.imported.append((folder, out))
        return ModelConversion(out, ("Weights read from model.safetensors.",), 0.01)

    def export_model(self, model_path: str, to: str, out_path: str, target_language: str | None = None,
                     progress=None) -> ModelConversion:
        if to not in ("ctranslate2", "argos"):
            raise ExportError(f"unknown export format {to!r}")
        for done in range(4):
            if progress:
                progress(done, 3, f"step {done}")
        out = Path(out_path)
        if to == "ctranslate2":
            out.mkdir(parents=True, exist_ok=True)
            (out / "model.bin").write_bytes(b"fake")
        else:
            out.write_bytes(b"PK fake")
        self.exported.append((model_path, to, out_path, target_language))
        return ModelConversion(str(out), (), 0.01)
