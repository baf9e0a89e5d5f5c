"""Masking personal data in free text before it is kept for review (KVKK/GDPR: data minimisation).

What the assistant did not understand is kept so admins can teach it; the words
matter for that, the e-mail addresses, phone numbers, references and names do not.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"']+@[^\s@<>()\[\],;:\"']+\.[A-Za-z]{2,}")
_REFERENCE = re.compile(r"\bCMP-\d{4}-\d{4,}\b", re.IGNORECASE)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:\s?[A-Z0-9]{4}){3,7}(?:\s?[A-Z0-9]{1,4})?\b")
_PHONE = re.compile(r"(?<![\w+])\+?\d[\d\s().\-/]{6,}\d\b")
_NUMBER = re.compile(r"\b[A-Z]{0,4}-?\d{5,}[\w-]*\b", re.IGNORECASE)
_NAME_WORD = r"[A-ZÇĞİÖŞÜÄ][a-zçğıöşüäß]+(?:[-'][A-ZÇĞİÖŞÜÄ]?[a-zçğıöşüäß]+)?"
_NAME_INTRO = re.compile(
    r"(?P<intro>\b(?i:my name is|i am|i'm|this is|benim ad[ıi]m|ad[ıi]m|ismim|ben|mein name ist|"
    r"ich hei(?:ß|ss)e|ich bin|hier ist)\s+)"
    rf"(?P<name>{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}})"
)

MASKS = {
    "email": "<email>",
    "reference": "<reference>",
    "iban": "<iban>",
    "phone": "<phone>",
    "number": "<number>",
    "name": "<name>",
}


def mask_personal_data(text: str) -> str:
    """``text`` with e-mail addresses, references, IBANs, phone and other long numbers and names replaced."""
    masked = _EMAIL.sub(MASKS["email"], text)
    masked = _REFERENCE.sub(MASKS["reference"], masked)
    masked = _IBAN.sub(MASKS["iban"], masked)
    masked = _PHONE.sub(MASKS["phone"], masked)
    masked = _NUMBER.sub(MASKS["number"], masked)
    return _NAME_INTRO.sub(_mask_introduced_name, masked)


def _mask_introduced_name(match: re.Match[str]) -> str:
    """Mask the capitalised words after "my name is" / "benim adım" / "ich heiße"; the intro stays."""
    return match.group("intro") + MASKS["name"]
