"""Texts customers and staff read, in Turkish, English and German.

The catalogues live in ``locales/<language>.yaml``; step names use the wording of
the complaint process chart. A key missing in one language falls back to English
so a reader never sees a raw key, and a test keeps the three catalogues in step.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("tr", "en", "de")
FALLBACK = "en"
_LOCALES = Path(__file__).with_name("locales")


@cache
def catalogue(language: str) -> dict[str, str]:
    """The flattened catalogue of ``language`` (``a.b.c`` keys)."""
    return flat_catalogue(_LOCALES / f"{language}.yaml")


def flat_catalogue(path: Path) -> dict[str, str]:
    """A YAML catalogue of texts flattened to ``a.b.c`` keys (the core's, or an adapter's own)."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    flat: dict[str, str] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        else:
            flat[prefix] = str(node)

    walk("", raw)
    return flat


def normalise_language(language: str | None) -> str:
    """Map ``tr-TR``, ``de_DE``, ``EN`` … onto a supported language, English otherwise."""
    if not language:
        return FALLBACK
    code = language.strip().replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else FALLBACK


def translate(language: str, key: str, /, **params: Any) -> str:
    """The text for ``key`` in ``language`` with ``params`` filled in."""
    language = normalise_language(language)
    template = catalogue(language).get(key) or catalogue(FALLBACK)[key]
    return template.format_map(params)


def best_language(accept_language: str | None) -> str:
    """Pick the first supported language from an HTTP ``Accept-Language`` header."""
    if not accept_language:
        return FALLBACK
    weighted: list[tuple[float, str]] = []
    for part in accept_language.split(","):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            weight = 0.0
        code = tag.split("-")[0].lower()
        if code in LANGUAGES:
            weighted.append((weight, code))
    return max(weighted, key=lambda item: item[0])[1] if weighted else FALLBACK
