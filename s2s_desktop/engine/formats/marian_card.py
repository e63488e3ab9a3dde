"""What a Marian folder says about where it comes from: the model card (README.md front matter and body),
the Hugging Face cache path, tokenizer_config.json's languages. Plain text parsing, no YAML dependency."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from s2s_desktop.errors import MarianImportError

_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
_LANG_RE = re.compile(r"^[A-Za-z][\w+-]{0,63}$")


def front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The README's YAML front matter, read for flat keys and '- item' lists only (no YAML dependency)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}, text
    out: dict[str, Any] = {}
    key = None
    for n, line in enumerate(lines[1:], 1):
        if line.strip() == "---":
            return out, "\n".join(lines[n + 1 :])
        if line.startswith(("- ", "  - ")) and key is not None and isinstance(out.get(key), list):
            out[key].append(line.strip()[2:].strip())
        elif ":" in line and not line.startswith(" "):
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            out[key] = value.strip("'\"") if value else []
    return {}, text  # unterminated: not front matter


def readme_field(body: str, name: str) -> str | None:
    for line in body.splitlines():
        line = line.strip().lstrip("*- ").strip()
        if line.lower().startswith(name + ":"):
            return short(line.split(":", 1)[1].strip(), 200)
    return None


def repository(folder: Path, config: dict[str, Any], body: str) -> str | None:
    name = config.get("_name_or_path")
    if isinstance(name, str) and _REPO_RE.match(name):
        return name
    for part in folder.resolve().parts[::-1]:  # the Hugging Face cache: models--Org--name/snapshots/<sha>
        if part.startswith("models--") and part.count("--") == 2:
            candidate = part.removeprefix("models--").replace("--", "/")
            if _REPO_RE.match(candidate):
                return candidate
    for line in body.splitlines():
        m = re.match(r"^#+\s*((?:[\w.-]+/)?opus-mt-[\w.-]+)\s*$", line.strip())
        if m:
            return m.group(1)
    return None


def languages(path: Path, tok_config: dict[str, Any], front: dict[str, Any], repo: str | None):
    langs = []
    for field in ("source_lang", "target_lang"):
        value = tok_config.get(field)
        if value is not None and not isinstance(value, str):
            raise MarianImportError(f"{path}: {field} must be a string, got {value!r}")
        value = value.removeprefix("opus-mt-") if value else None  # the converter writes "opus-mt-en" at times
        langs.append(value if value and _LANG_RE.match(value) else None)
    listed = front.get("language")
    if isinstance(listed, list) and len(listed) == 2:
        langs = [a or (b if _LANG_RE.match(b) else None) for a, b in zip(langs, listed)]
    m = re.search(r"opus-mt-(?:tc-[\w]+-)?([A-Za-z_]+)-([A-Za-z_]+)$", repo or "")
    if m:
        langs = [a or b for a, b in zip(langs, m.groups())]
    return langs[0], langs[1]


def short(value: object, limit: int = 100) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None
