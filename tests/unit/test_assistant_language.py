"""What the assistant understands without the model: scores, languages, and its texts in three languages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from actions.conversation import catalogue, fold
from actions.language import detect_language, language_asked_for
from actions.survey import parse_score

DOMAIN = Path(__file__).resolve().parents[2] / "rasa_project" / "domain"


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ("5", 5),
        ("4/5", 4),
        ("3 out of 5", 3),
        ("beş", 5),
        ("BEŞ", 5),
        ("fünf", 5),
        ("fuenf", 5),
        ("two", 2),
        ("not happy at all", 1),
        ("hiç memnun değilim", 1),
        ("hic memnun degilim", 1),
        ("memnun değilim", 2),
        ("gar nicht zufrieden", 1),
        ("sehr zufrieden", 5),
        ("it was ok", 3),
        ("2, the replacement is broken too", 2),
        ("7", None),
        ("1.5", None),
        ("the parcel is still missing", None),
    ],
)
def test_typed_survey_answers(answer: str, score: int | None) -> None:
    assert parse_score(answer) == score


@pytest.mark.parametrize(
    ("message", "language"),
    [
        ("Kargom hala gelmedi", "tr"),
        ("Faturama iki kez ücret yansıtıldı", "tr"),
        ("my parcel arrived broken", "en"),
        ("Meine Bestellung ist nicht angekommen", "de"),
        ("Größe falsch", "de"),
        ("5", None),
        ("ok", None),
    ],
)
def test_language_of_a_first_message(message: str, language: str | None) -> None:
    assert detect_language(message) == language


@pytest.mark.parametrize(
    ("message", "language"),
    [
        ("English please", "en"),
        ("İngilizceye geçebilir miyiz", "en"),
        ("Türkçe konuşalım", "tr"),
        ("can we speak turkish", "tr"),
        ("auf Deutsch bitte", "de"),
        ("Almanca lütfen", "de"),
        ("hello", None),
    ],
)
def test_the_language_a_customer_asks_for(message: str, language: str | None) -> None:
    assert language_asked_for(message) == language


def test_turkish_folding() -> None:
    assert fold("ŞİKAYET") == fold("şikayet") == fold("sikayet") == "sikayet"
    assert fold("IŞIK") == "isik"


def test_action_texts_exist_in_every_language() -> None:
    keys = {language: set(_flatten(catalogue(language))) for language in ("tr", "en", "de")}
    assert keys["tr"] == keys["en"] == keys["de"]


def test_every_domain_response_has_turkish_german_and_english_variants() -> None:
    for path in DOMAIN.glob("*.yml"):
        for name, variants in (
            yaml.safe_load(path.read_text(encoding="utf-8")).get("responses") or {}
        ).items():
            languages = {
                next((c["value"] for c in variant.get("condition", []) if c["name"] == "language"), "en")
                for variant in variants
            }
            assert languages == {"tr", "en", "de"}, f"{path.name}: {name}"


def _flatten(tree: dict, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key, value in tree.items():
        keys += _flatten(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"]
    return keys
