"""The report's words and numbers in the reader's language: labels, month names, percentages, hours.

Management reads ``%78,5`` in Turkish, ``78,5 %`` in German and ``78.5%`` in English; the
catalogues in ``locales/<language>.yaml`` carry those conventions next to the texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ccm_core.i18n import LANGUAGES, translate
from ccm_core.service_layer.report import MonthlyReport

_LOCALES = Path(__file__).with_name("locales")


@cache
def _catalogue(language: str) -> dict[str, Any]:
    return yaml.safe_load((_LOCALES / f"{language}.yaml").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Texts:
    """Everything the renderers need to say something in ``language``."""

    language: str

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"The report speaks {', '.join(LANGUAGES)}, not {self.language!r}.")

    def __call__(self, key: str, /, **params: Any) -> str:
        node: Any = _catalogue(self.language)
        for part in key.split("."):
            node = node[part]
        return str(node).format_map(params)

    # --- numbers ---

    def number(self, value: float, decimals: int = 0) -> str:
        """``1.234,5`` or ``1,234.5``: the language's separators, ``decimals`` places."""
        text = f"{value:,.{decimals}f}"
        separators = {",": self("format.thousands"), ".": self("format.decimal")}
        return "".join(separators.get(char, char) for char in text)

    def percent(self, ratio: float | None) -> str:
        """A share (0–1) as the language writes percentages; ``–`` when there was nothing to divide."""
        if ratio is None:
            return "–"
        return self("format.percent", value=self.number(ratio * 100, 1))

    def hours(self, value: float | None) -> str:
        return "–" if value is None else self("format.hours", value=self.number(value, 1))

    def decimal(self, value: float | None, decimals: int = 1) -> str:
        return "–" if value is None else self.number(value, decimals)

    # --- names ---

    def month(self, month: str) -> str:
        """``2026-10`` as ``Ekim 2026`` / ``October 2026`` / ``Oktober 2026``."""
        year, number = month.split("-")
        return f"{_catalogue(self.language)['month_names'][int(number) - 1]} {year}"

    def channel(self, code: str) -> str:
        """The chart's name of an intake channel (01), as the core names it everywhere."""
        return translate(self.language, f"channel.{code}")

    def step(self, code: str) -> str:
        return _catalogue(self.language)["step"].get(code, code)

    def category(self, report: MonthlyReport, code: str) -> str:
        return _named(report.category_labels, code, self.language)

    def department(self, report: MonthlyReport, code: str) -> str:
        return _named(report.department_names, code, self.language)


def _named(labels: dict[str, dict[str, str]], code: str, language: str) -> str:
    names = labels.get(code) or {}
    return names.get(language) or names.get("en") or code
