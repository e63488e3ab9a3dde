"""Language identification for `/detect` and `source=auto`, limited to the languages the server translates.

py3langid (a maintained langid.py: pure Python and numpy, its model inside the package, nothing fetched
at run time) ranks the candidate languages; it is in the `serve` extra. Without it, or when a loaded
language is one it does not know (it has 97 ISO 639-1 codes), `/detect` answers 400 with a message
saying so, and `source=auto` still works when only one loaded language translates into the target.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

DETECTOR_PACKAGE = "py3langid"


class DetectionUnavailable(Exception):
    """Language identification cannot answer here (the message says why and what to do)."""


class LanguageDetector:
    """Ranks the given languages for a text; confidences in percent (LibreTranslate's scale).

    The identifier's model takes about a second to load: the server loads it at start-up in a thread
    (`warm`), else the first call does (also from a thread, never the event loop)."""

    def __init__(self, languages: Iterable[str]):
        self.languages = tuple(sorted(set(languages)))
        self._identifier = None
        self._known: tuple[str, ...] | None = None  # the loaded languages the identifier knows
        self._missing = ""  # why detection cannot work here (the package is not installed)
        self._lock = threading.Lock()  # the identifier keeps a language subset: one caller at a time

    def _load(self) -> None:
        try:
            from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
        except ImportError:
            self._known = ()
            self._missing = (f"language detection needs the {DETECTOR_PACKAGE} package (pip install "
                             "'s2s-desktop[serve]'); give the source language instead of 'auto'")
            return
        identifier = LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)
        self._known = tuple(code for code in self.languages if code in identifier.nb_classes)
        if len(self._known) >= 2:
            identifier.set_languages(list(self._known))
            self._identifier = identifier

    def warm(self) -> None:
        """Load the identifier now (a server calls this at start-up, in a thread)."""
        with self._lock:
            if self._known is None:
                self._load()

    def detect(self, text: str) -> list[dict[str, float | str]]:
        """[{"language": code, "confidence": 0..100}, ...], most likely first; raises DetectionUnavailable."""
        if len(self.languages) == 1:  # nothing to choose between
            return [{"language": self.languages[0], "confidence": 100.0}]
        with self._lock:
            if self._known is None:
                self._load()
            if self._identifier is not None:
                ranked = self._identifier.rank(text)
                return [{"language": code, "confidence": round(float(p) * 100, 2)} for code, p in ranked]
        if self._missing:
            raise DetectionUnavailable(self._missing)
        unknown = [code for code in self.languages if code not in self._known]
        raise DetectionUnavailable(
            f"language detection does not know {', '.join(unknown)} (of the loaded source languages "
            f"{', '.join(self.languages)}); give the source language instead of 'auto'")
