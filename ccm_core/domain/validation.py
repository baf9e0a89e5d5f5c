"""Checks on input from people and integrations, raising ``ValidationFailed`` with what to fix."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal, TypeVar, overload

from ccm_core.domain.errors import ValidationFailed

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[A-Za-z]{2,}$")
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")
_PHONE = re.compile(r"^\+?\d{7,15}$")
E = TypeVar("E", bound=StrEnum)


def choice(field: str, value: object, options: type[E]) -> E:
    """``value`` as a member of ``options``; the refusal lists the valid values."""
    try:
        return options(str(value).strip().lower())
    except ValueError:
        raise ValidationFailed(
            field=field, problem="unknown_choice", value=value, choices=", ".join(o.value for o in options)
        ) from None


def storable(value: str) -> bool:
    """False for text no database column can hold: NUL characters or broken Unicode (lone surrogates)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@overload
def text(field: str, value: str | None, *, max_length: int, required: Literal[True] = True) -> str: ...
@overload
def text(field: str, value: str | None, *, max_length: int, required: bool) -> str | None: ...
def text(field: str, value: str | None, *, max_length: int, required: bool = True) -> str | None:
    """Trimmed text; refuses missing required text, text over ``max_length`` and unstorable characters."""
    if value and not storable(value):
        raise ValidationFailed(field=field, problem="invalid_characters")
    cleaned = value.strip() if value else ""
    if not cleaned:
        if required:
            raise ValidationFailed(field=field, problem="required")
        return None
    if len(cleaned) > max_length:
        raise ValidationFailed(field=field, problem="too_long", max=max_length, length=len(cleaned))
    return cleaned


def survey_score(value: object) -> int:
    """A satisfaction score on the survey's 1–5 scale."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise ValidationFailed(field="score", problem="out_of_range", min=1, max=5)
    return value


def email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    cleaned = value.strip()
    if len(cleaned) > 254 or not _EMAIL.match(cleaned):
        raise ValidationFailed(field="email", problem="invalid_email", value=cleaned)
    return cleaned


def phone(value: str | None) -> str | None:
    """A phone number in a canonical form: digits with an optional leading ``+``."""
    if value is None or not value.strip():
        return None
    cleaned = _PHONE_SEPARATORS.sub("", value.strip())
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not _PHONE.match(cleaned):
        raise ValidationFailed(field="phone", problem="invalid_phone", value=value.strip())
    return cleaned
