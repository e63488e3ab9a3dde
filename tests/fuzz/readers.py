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


READERS = {f.__name__: f for f in (model_header, load_model, translate, settings, metrics, resume)}
