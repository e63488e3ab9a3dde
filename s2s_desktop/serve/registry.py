"""The models a server translates with: one per language pair, each behind its own batching worker.

Models come from `--model FILE` (any number), `--models DIR` (every .s2s in the folder, and the best
model of each run folder in it), `--library` (the app's model library: built-in, trained here, imported,
opened in the app; one model per pair, the one `s2s translate --from --to` would pick), or, when none is
given, the built-in models that ship with the app.
Two models for one pair is an error naming both files: the server would otherwise pick one silently.
A multilingual imported model serves each of its target languages; its worker switches between them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s2s_desktop.engine.formats.argos_export import LANGUAGE_NAMES
from s2s_desktop.engine.torch_thread import call_here
from s2s_desktop.errors import ConfigError
from s2s_desktop.serve.batcher import BatchWorker

MODEL_SUFFIX = ".s2s"
RUN_BEST = "best.s2s"  # the model a run folder's training kept (engine/training/run_folder.py)


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def model_files(files: Sequence[str] = (), folders: Sequence[str] = ()) -> list[Path]:
    """The model files to serve, in the order given; the built-in models when none is named."""
    paths = [Path(f) for f in files]
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise ConfigError(f"--models {folder}: not a folder")
        found = sorted(folder.glob(f"*{MODEL_SUFFIX}")) + sorted(folder.glob(f"*/{RUN_BEST}"))
        if not found:
            raise ConfigError(f"--models {folder}: no {MODEL_SUFFIX} model files in it (nor run folders with "
                              f"{RUN_BEST})")
        paths.extend(found)
    if not files and not folders:
        from s2s_desktop.assets import resources_dir

        paths = sorted((resources_dir() / "models").glob(f"*{MODEL_SUFFIX}"))
        if not paths:
            raise ConfigError("no --model or --models given, and this installation has no built-in model")
    unique = list(dict.fromkeys(p.resolve() for p in paths))
    return unique


@dataclass
class ServedModel:
    path: str
    source: str
    targets: tuple[str, ...]
    multilingual: bool  # targets are a multilingual model's >>code<< tokens, chosen per batch
    worker: BatchWorker

    def target_token(self, target: str) -> str | None:
        """What the worker sets as the model's target language for the request code `target` (None: the
        model has one target)."""
        if not self.multilingual:
            return None
        return next(t for t in self.targets if t.lower() == target)


class ModelRegistry:
    """Language pair -> served model."""

    def __init__(self, models: Iterable[ServedModel]):
        self.models = list(models)
        self.pairs: dict[tuple[str, str], ServedModel] = {}
        for m in self.models:
            for target in (t.lower() for t in m.targets):
                other = self.pairs.get((m.source, target))
                if other is not None:
                    self.close()
                    raise ConfigError(f"two models translate {m.source}→{target}: {other.path} and {m.path}; "
                                      "serve one of them (name the files with --model)")
                self.pairs[(m.source, target)] = m

    def get(self, source: str, target: str) -> ServedModel | None:
        return self.pairs.get((source.lower(), target.lower()))

    @property
    def sources(self) -> list[str]:
        return sorted({s for s, _ in self.pairs})

    @property
    def targets(self) -> list[str]:
        return sorted({t for _, t in self.pairs})

    def targets_of(self, source: str) -> list[str]:
        return sorted(t for s, t in self.pairs if s == source)

    def sources_into(self, target: str) -> list[str]:
        return sorted(s for s, t in self.pairs if t == target)

    def languages(self) -> list[dict]:
        """LibreTranslate's /languages: every language a request may name, with what it translates into."""
        codes = sorted(set(self.sources) | set(self.targets))
        return [{"code": c, "name": language_name(c), "targets": self.targets_of(c)} for c in codes]

    def close(self, timeout: float = 10.0) -> None:
        for m in self.models:
            m.worker.close(timeout)


def library_models(report: Callable[[str], None] = lambda line: None) -> dict[Path, tuple[str, ...]]:
    """The app's library, one model per language pair: {file: the target languages to serve from it}."""
    from s2s_desktop import library

    entries, warning = library.scan_saved()
    if warning:
        report(warning)
    for e in entries:
        if e.header is None:
            report(f"skipped {e.path}: {e.error}")
    plan = library.per_pair(entries)
    if not plan:
        raise ConfigError(f"--library: the model library has no readable model ({library.available(entries)})")
    return {Path(path).resolve(): targets for path, targets in plan.items()}


def open_models(paths: Sequence[Path], make_worker: Callable[[object, str], BatchWorker], device: str = "auto",
                threads: int | None = None, precision: str = "auto",
                report: Callable[[str], None] = lambda line: None,
                only: dict[Path, tuple[str, ...]] | None = None,
                runner: Callable[..., Any] = call_here) -> ModelRegistry:
    """Load each file on `device` and give it a worker (`make_worker(translator, "en→de")`). `only` keeps
    a multilingual model to some of its target languages (another model serves the rest). The loading
    runs through `runner` (the thread that will decode: engine/torch_thread.py)."""
    from s2s_desktop.engine.decoding.service import Translator

    served: list[ServedModel] = []
    try:
        for path in paths:
            translator = runner(Translator.open, str(path), device, threads, precision)
            info = runner(translator.info)
            source = info.src_lang.strip().lower()
            multilingual = bool(info.target_languages)
            targets = tuple(info.target_languages) if multilingual else (info.tgt_lang.strip().lower(),)
            keep = (only or {}).get(Path(path).resolve())
            if multilingual and keep is not None:
                targets = tuple(t for t in targets if t.lower() in keep)
            label = f"{source}→{','.join(targets)}"
            served.append(ServedModel(str(path), source, targets, multilingual, make_worker(translator, label)))
            report(f"{label}: {path} ({info.parameters / 1e6:.1f} M parameters, {info.device}, {info.precision})")
    except BaseException:
        for m in served:
            m.worker.close()
        raise
    return ModelRegistry(served)
