"""The satisfaction survey's definition (09/10), kept as data in ``Settings.survey_file``.

The survey message, the chat's buttons and the survey page all take their texts from it, so
the wording changes in one file, not in code. It is checked when read: every text in every
language and every point of both scales, or the file is refused with what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ccm_core.domain import validation
from ccm_core.domain.errors import ValidationFailed
from ccm_core.domain.lifecycle import Command
from ccm_core.i18n import LANGUAGES, normalise_language

CSAT_POINTS = tuple(range(1, 6))
NPS_POINTS = tuple(range(0, 11))
# Where an answer came from: the chat form, the signed link's page, or staff who took it by phone.
ANSWER_SOURCES = ("chat", "link", "email", "staff")
# The worker's reminder is no command of the lifecycle table (it changes no state), but it is audited.
REMIND_SURVEY = "remind_survey"


def nps_score(value: object) -> int | None:
    """A net promoter score on 0–10, or None when the question was not answered."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in NPS_POINTS:
        raise ValidationFailed(field="nps", problem="out_of_range", min=NPS_POINTS[0], max=NPS_POINTS[-1])
    return value


def answer_source(value: str) -> str:
    if value not in ANSWER_SOURCES:
        raise ValidationFailed(
            field="source", problem="unknown_choice", value=value, choices=", ".join(ANSWER_SOURCES)
        )
    return value


@dataclass(frozen=True)
class SurveyAnswer:
    """A checked answer to the survey (10); the one place that says what an answer may be."""

    score: int
    satisfied: bool
    nps: int | None
    source: str

    @classmethod
    def read(
        cls, score: object, *, satisfied_from: int, nps: object = None, source: str = "staff"
    ) -> SurveyAnswer:
        """Refuse a score off the 1–5 scale, an NPS off 0–10 or an unknown source, with the field."""
        checked = validation.survey_score(score)
        return cls(checked, checked >= satisfied_from, nps_score(nps), answer_source(source))

    @property
    def command(self) -> Command:
        return Command.ANSWER_SATISFIED if self.satisfied else Command.ANSWER_DISSATISFIED


class InvalidSurveyDefinition(ValueError):
    """The survey file cannot be used; the message names the file and everything wrong in it."""


@dataclass(frozen=True)
class Choice:
    value: int
    title: str


@dataclass(frozen=True)
class Scale:
    """A question answered with one point of a fixed scale, each point with its label."""

    question: dict[str, str]
    labels: dict[int, dict[str, str]]

    def choices(self, language: str) -> list[Choice]:
        language = normalise_language(language)
        return [Choice(value, labels[language]) for value, labels in self.labels.items()]

    @property
    def lowest(self) -> int:
        return min(self.labels)

    @property
    def highest(self) -> int:
        return max(self.labels)


@dataclass(frozen=True)
class SurveyDefinition:
    csat: Scale  # 1–5: how satisfied
    comment: dict[str, str]  # the optional comment's question
    nps: Scale  # 0–10: how likely to recommend; asked when ``Settings.survey_nps`` is on

    def csat_question(self, language: str, reference: str) -> str:
        return self.csat.question[normalise_language(language)].format(reference=reference)

    def comment_question(self, language: str) -> str:
        return self.comment[normalise_language(language)]

    def nps_question(self, language: str) -> str:
        return self.nps.question[normalise_language(language)]


def load_survey(path: Path | str) -> SurveyDefinition:
    """The definition in ``path``, read and checked once per path."""
    return _load(Path(path).resolve())


@cache
def _load(path: Path) -> SurveyDefinition:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidSurveyDefinition(f"survey definition {path} cannot be read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise InvalidSurveyDefinition(f"survey definition {path} is not valid YAML: {error}") from None
    problems: list[str] = []
    data = raw if isinstance(raw, dict) else {}
    if not isinstance(raw, dict):
        problems.append("the file holds no sections (csat, comment, nps)")
    csat = _scale(data.get("csat"), "csat", CSAT_POINTS, problems)
    comment = _texts(
        _section(data.get("comment"), "comment", problems).get("question"), "comment.question", problems
    )
    nps = _scale(data.get("nps"), "nps", NPS_POINTS, problems)
    if problems:
        raise InvalidSurveyDefinition(f"survey definition {path} is incomplete: " + "; ".join(problems))
    return SurveyDefinition(csat=csat, comment=comment, nps=nps)


def _section(node: Any, name: str, problems: list[str]) -> dict[Any, Any]:
    if not isinstance(node, dict):
        problems.append(f"{name} is missing")
        return {}
    return node


def _texts(node: Any, name: str, problems: list[str]) -> dict[str, str]:
    """A text in every language; each missing or empty one is a problem named by its place."""
    if not isinstance(node, dict):
        problems.append(f"{name} is missing (a text in each of {', '.join(LANGUAGES)})")
        return {}
    texts: dict[str, str] = {}
    for language in LANGUAGES:
        value = node.get(language)
        if not isinstance(value, str | int) or not str(value).strip():
            problems.append(f"{name}.{language} is missing")
        else:
            texts[language] = str(value).strip()
    return texts


def _scale(node: Any, name: str, points: tuple[int, ...], problems: list[str]) -> Scale:
    section = _section(node, name, problems)
    question = _texts(section.get("question"), f"{name}.question", problems) if section else {}
    raw_labels = section.get("scale")
    if section and not isinstance(raw_labels, dict):
        problems.append(f"{name}.scale is missing (points {points[0]} to {points[-1]})")
    labels_by_point = raw_labels if isinstance(raw_labels, dict) else {}
    unexpected = sorted(str(point) for point in labels_by_point if point not in points)
    if unexpected:
        problems.append(f"{name}.scale has points outside {points[0]}–{points[-1]}: {', '.join(unexpected)}")
    labels: dict[int, dict[str, str]] = {}
    if labels_by_point:
        for point in points:
            if point not in labels_by_point:
                problems.append(f"{name}.scale.{point} is missing")
            else:
                labels[point] = _texts(labels_by_point[point], f"{name}.scale.{point}", problems)
    return Scale(question=question, labels=labels)
