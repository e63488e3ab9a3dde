"""The model library: every model the app knows, where it came from and what it translates.

Four places hold models, and none of them is a list the user keeps by hand: the built-in models that
ship with the app (every .s2s in resources/models), the best model of each training run in the run
history, the app's own imported copies (File > Import model… writes them to `paths.models_dir()`),
and the files opened from disk (the recent list). The user's own changes to that list live in the
settings: files taken off it (`library_removed`, until they are opened again) and files added to it
by hand (`library_added`). The window's model library and `s2s translate --from --to` read the same
entries, so both choose the same model for a language pair.

Everything here reads only the files' headers (`formats/model_header.py`): no torch, safe on the UI
thread. A file that cannot be read is an entry with its reason, never an exception.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from s2s_desktop import paths
from s2s_desktop.assets import resources_dir
from s2s_desktop.engine import metrics
from s2s_desktop.engine.formats.model_header import ModelHeader, read_model_header
from s2s_desktop.engine.training.run_folder import BEST_FILE
from s2s_desktop.errors import S2SError
from s2s_desktop.settings import Settings, load_settings

BUILT_IN, TRAINED, IMPORTED, OPENED, ADDED = "built-in", "trained here", "imported", "opened", "added"
SOURCES = (BUILT_IN, TRAINED, IMPORTED, OPENED, ADDED)  # the order the library lists (and prefers) them in
MODEL_SUFFIX = ".s2s"


@dataclass(frozen=True)
class LibraryEntry:
    path: str
    source: str  # one of SOURCES
    header: ModelHeader | None = None  # None when the file could not be read
    error: str = ""  # why it could not be read
    recent: int | None = None  # its place in the recent list (0 = opened last), None when not there

    @property
    def name(self) -> str:
        """The file name; a trained model's with its run folder (every run's model is best.s2s)."""
        p = Path(self.path)
        return f"{p.parent.name}/{p.name}" if self.source == TRAINED else p.name

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """(source, target) language pairs: one per target language of a multilingual model."""
        h = self.header
        if h is None:
            return ()
        return tuple((h.src_lang, t) for t in h.target_languages) or ((h.src_lang, h.tgt_lang),)

    @property
    def pair_label(self) -> str:
        h = self.header
        if h is None:
            return "?"
        return f"{h.src_lang} → {', '.join(h.target_languages) if h.target_languages else h.tgt_lang}"

    def translates(self, src: str | None, tgt: str | None) -> bool:
        """Whether it translates src into tgt (None: any language); "en" matches "en-US" and "EN"."""
        return any((src is None or same_language(s, src)) and (tgt is None or same_language(t, tgt))
                   for s, t in self.pairs)

    @property
    def scores(self) -> str:
        """The best validation scores the file records ("BLEU 37.85, chrF 57.25"), or ""."""
        best = self.header.best if self.header else {}
        return metrics.format_scores({k: v for k, v in best.items() if k in metrics.METRICS})

    @property
    def origin(self) -> str:
        """Where it came from, in words."""
        h = self.header
        prov = h.provenance if h else {}
        if prov:
            where = prov.get("repository") or "another format"
            text = f"imported from {prov.get('imported_from') or 'another format'} ({where})"
            return text + (f", licence {prov['license']}" if prov.get("license") else "")
        tr = h.training if h else {}
        done = (f", {tr.get('steps', '?')} steps, {tr.get('train_seconds', 0) / 60:.0f} min on {tr.get('device', '?')}"
                if tr else "")
        return {BUILT_IN: "built in", TRAINED: "trained here", IMPORTED: "imported (the app's own copy)",
                OPENED: "opened from disk", ADDED: "added to the library"}[self.source] + done


def same_language(a: str, b: str) -> bool:
    def norm(code: str) -> str:
        return code.strip().lower().replace("_", "-")

    a, b = norm(a), norm(b)
    return a == b or a.split("-")[0] == b.split("-")[0]


def builtin_files() -> list[Path]:
    """Every model that ships with the app (en-de-tatoeba.s2s, and any other direction added beside it)."""
    folder = resources_dir() / "models"
    return sorted(folder.glob("*" + MODEL_SUFFIX)) if folder.is_dir() else []


def trained_files(run_roots: list[str | Path]) -> list[Path]:
    """The best model of every run directly under these folders (and of the folders themselves), newest first."""
    found = []
    for root in map(Path, run_roots):
        folders = [root] + (sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else [])
        found += [f / BEST_FILE for f in folders if (f / BEST_FILE).is_file()]
    return sorted(found, key=_mtime, reverse=True)


def imported_files() -> list[Path]:
    folder = paths.models_dir()
    return sorted(folder.glob("*" + MODEL_SUFFIX), key=_mtime, reverse=True) if folder.is_dir() else []


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _key(path: str | Path) -> str:
    return os.path.normcase(os.path.realpath(path))


def scan(settings: Settings) -> list[LibraryEntry]:
    """The library's entries, in SOURCES order; a file found in two places is listed once, by its first."""
    recent = {_key(p): i for i, p in enumerate(settings.recent_models)}
    removed = {_key(p) for p in settings.library_removed}
    places = [(BUILT_IN, builtin_files()), (TRAINED, trained_files([paths.runs_dir(), *settings.run_folders])),
              (IMPORTED, imported_files()), (OPENED, settings.recent_models), (ADDED, settings.library_added)]
    seen: set[str] = set()
    entries = []
    for source, files in places:
        for path in files:
            key = _key(path)
            if key in seen or key in removed:
                continue
            seen.add(key)
            entries.append(read_entry(str(path), source, recent.get(key)))
    return entries


def scan_saved() -> tuple[list[LibraryEntry], str | None]:
    """`scan` of the settings saved on this machine (what the CLI reads), and the warning loading them
    gave (None)."""
    settings, warning = load_settings()
    return scan(settings), warning


# (absolute path) -> ((size, mtime_ns, inode), header or the reason it could not be read). The window scans the
# library a few times per model switch; a file's header is parsed again only when the file has changed.
_HEADERS: dict[str, tuple[tuple[int, int, int], ModelHeader | str]] = {}
_HEADERS_KEPT = 256


def _header(path: str) -> ModelHeader | str:
    """The file's header, or why it cannot be read (parsed once per version of the file)."""
    key = os.path.abspath(path)  # (not realpath: the header names the path it was read by)
    try:
        st = os.stat(key)
        stamp = (st.st_size, st.st_mtime_ns, st.st_ino)
    except OSError:
        stamp = None
    cached = _HEADERS.get(key)
    if stamp is not None and cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        found: ModelHeader | str = read_model_header(path)
    except S2SError as exc:
        found = str(exc)
    if stamp is not None:
        if key not in _HEADERS and len(_HEADERS) >= _HEADERS_KEPT:
            _HEADERS.pop(next(iter(_HEADERS)))
        _HEADERS[key] = (stamp, found)
    return found


def read_entry(path: str, source: str, recent: int | None = None) -> LibraryEntry:
    found = _header(path)
    if isinstance(found, str):
        return LibraryEntry(path, source, None, found, recent)
    return LibraryEntry(path, source, found, recent=recent)


def choose(entries: list[LibraryEntry], src: str | None, tgt: str | None,
           exclude: str | None = None) -> LibraryEntry | None:
    """The model for src -> tgt: one made for that pair before a multilingual one, then the one opened
    most recently, then by where it comes from (built-in first); None when no readable entry fits."""
    fits = [e for e in entries if e.header is not None and e.translates(src, tgt)
            and (exclude is None or _key(e.path) != _key(exclude))]
    if not fits:
        return None
    return min(fits, key=lambda e: (len(e.pairs) > 1, e.recent if e.recent is not None else len(entries),
                                    SOURCES.index(e.source)))


def per_pair(entries: list[LibraryEntry]) -> dict[str, tuple[str, ...]]:
    """Every language pair the library translates, each by the model `choose` picks for it, grouped by
    file: {path: its target languages}, in library order. What `s2s serve --library` serves: the same
    model per pair as `s2s translate --from --to` and the window, and no pair twice."""
    pairs = dict.fromkeys((s.strip().lower(), t.strip().lower()) for e in entries if e.header for s, t in e.pairs)
    chosen: dict[str, list[str]] = {}
    for src, tgt in pairs:
        entry = choose(entries, src, tgt)
        if entry is not None:
            chosen.setdefault(entry.path, []).append(tgt)
    order = {e.path: i for i, e in enumerate(entries)}
    return {path: tuple(t) for path, t in sorted(chosen.items(), key=lambda kv: order[kv[0]])}


def available(entries: list[LibraryEntry]) -> str:
    """"en → de (en-de-tatoeba.s2s, built-in); ..." for a message that says what there is instead."""
    items = [f"{e.pair_label} ({e.name}, {e.source})" for e in entries if e.header is not None]
    return "; ".join(items) or "no readable model"


def remove(settings: Settings, path: str) -> None:
    """Take a model off the list (the file stays); opening it again puts it back (`note_opened`)."""
    key = _key(path)
    settings.library_added = [p for p in settings.library_added if _key(p) != key]
    if key not in {_key(p) for p in settings.library_removed}:
        settings.library_removed.append(os.path.abspath(path))


def note_opened(settings: Settings, path: str) -> None:
    key = _key(path)
    settings.library_removed = [p for p in settings.library_removed if _key(p) != key]


def add(settings: Settings, path: str) -> None:
    """List a model file that is in none of the four places."""
    note_opened(settings, path)
    key = _key(path)
    settings.library_added = [os.path.abspath(path)] + [p for p in settings.library_added if _key(p) != key]


def is_own_copy(path: str) -> bool:
    """Whether the app wrote this file itself (an imported copy under paths.models_dir()): the only files
    the library offers to delete from disk."""
    folder = _key(paths.models_dir())
    return _key(path).startswith(folder + os.sep)


def delete_own_copy(settings: Settings, path: str) -> None:
    """Delete an imported copy from disk (OSError when the disk refuses)."""
    if not is_own_copy(path):
        raise ValueError(f"{path} is not one of the app's own imported copies; it is only taken off the list")
    os.remove(path)
    key = _key(path)
    settings.remove_recent(path)
    settings.library_added = [p for p in settings.library_added if _key(p) != key]
