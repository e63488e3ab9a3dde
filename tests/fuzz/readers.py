"""The readers of untrusted input that the fuzz properties run, by name: each takes one file path.

Every reader here must either return or raise the project's own error (`S2SError`); `child.py` runs
them in a separate process, so a native crash (SentencePiece, safetensors, torch) or a hang is caught.
"""

from __future__ import annotations

from pathlib import Path


def model_header(path: str):
    from s2s_desktop.engine.formats.model_header import read_model_header

    return read_model_header(path)


def load_model(path: str):
    from s2s_desktop.engine.formats.checkpoint import load_model as load

    return load(path, "cpu")


def translate(path: str):
    """Open the model and translate one sentence with it (the embedded tokenizers and every size run)."""
    from s2s_desktop.engine.api import DecodeOptions
    from s2s_desktop.engine.decoding.service import Translator

    return Translator.open(path, "cpu", 1, "fp32").translate(["one two three"], DecodeOptions(beam=2))


def settings(path: str):
    from s2s_desktop.settings import load_settings

    return load_settings(Path(path))


def metrics(path: str):
    from s2s_desktop.engine.training.run_folder import read_metrics, summarize_run

    events = read_metrics(path)
    summarize_run(Path(path).parent)
    return events


def resume(path: str):
    """`path` is a run folder's resume-state file: read it and rebuild its tokenizers."""
    from s2s_desktop.engine.training.resume_state import load_resume

    state = load_resume(Path(path).parent)
    assert isinstance(state.configs, dict)
    state.progress  # noqa: B018 - the property builds Progress from the file
    state.tokenizers()
    return state


def corpus(path: str):
    """A training corpus as `s2s train` reads it: a TSV file, or `path` (.en) with the .de file beside
    it; then a SentencePiece model is trained on its sources (native code on the hostile text)."""
    from s2s_desktop.engine.data.corpus import read_parallel
    from s2s_desktop.engine.data.tokenizer import train_tokenizer

    pair = Path(path).with_suffix(".de")
    found = read_parallel(src=path, tgt=pair) if pair.exists() else read_parallel(tsv=path)
    tok = train_tokenizer(found.sources[:2000], 60)
    return tok.decode(tok.encode(found.sources[0]))


def sentencepiece(path: str):
    """A SentencePiece model's bytes alone (as embedded in a model file): load, encode, decode."""
    from s2s_desktop.engine.data.tokenizer import Tokenizer

    tok = Tokenizer(Path(path).read_bytes())
    ids = tok.encode("Ünïcode, numbers 12.5 and <b>tags</b>")
    return tok.decode(ids), tok.ids_to_pieces(range(min(len(tok), 50)))


def marian(path: str):
    """`path` is a Hugging Face Marian folder: import it, then open the result and translate with it."""
    from s2s_desktop.engine.formats.marian_import import import_marian

    out = Path(path).parent / "imported.s2s"
    out.unlink(missing_ok=True)
    import_marian(path, out)
    return translate(str(out))


READERS = {f.__name__: f for f in (model_header, load_model, translate, settings, metrics, resume, corpus,
                                    sentencepiece, marian)}
