"""09/10: the satisfaction survey in chat, by button or typed ("5", "beş", "fünf", "not happy at all")."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import customer_of, entity_value, fold, say, unit_of_work
from actions.notices import SURVEY_SLOTS
from actions.status import conversation_cases
from ccm_core.domain.errors import CCMError
from ccm_core.domain.lifecycle import Status
from ccm_core.service_layer import services, views

_DIGIT = re.compile(r"(?<![\d.,])([1-5])(?:\s*(?:/|von|out of|uzerinden|\u00fczerinden)\s*5)?(?!\d|[.,]\d)")
_NUMBER_WORDS = {
    1: ("bir", "one", "eins"),
    2: ("iki", "two", "zwei"),
    3: ("uc", "three", "drei"),
    4: ("dort", "four", "vier"),
    5: ("bes", "five", "funf", "fuenf"),
}
# Most specific first: "not at all satisfied" must win over "satisfied".
_PHRASES: list[tuple[int, tuple[str, ...]]] = [
    (
        1,
        (
            "hic memnun degil",
            "hic memnun kalmadim",
            "berbat",
            "rezalet",
            "not at all",
            "not happy at all",
            "terrible",
            "awful",
            "gar nicht zufrieden",
            "uberhaupt nicht zufrieden",
            "ueberhaupt nicht zufrieden",
            "schrecklich",
            "katastrophe",
        ),
    ),
    (
        2,
        (
            "memnun degil",
            "memnun kalmadim",
            "not satisfied",
            "unsatisfied",
            "dissatisfied",
            "not happy",
            "unhappy",
            "nicht zufrieden",
            "unzufrieden",
        ),
    ),
    (
        5,
        (
            "cok memnun",
            "cok iyi",
            "harika",
            "mukemmel",
            "very satisfied",
            "very happy",
            "excellent",
            "perfect",
            "great",
            "sehr zufrieden",
            "super",
            "ausgezeichnet",
            "perfekt",
        ),
    ),
    (3, ("idare eder", "fena degil", "orta", "okay", "ok", "so so", "neutral", "geht so", "mittel")),
    (4, ("memnun", "iyi", "satisfied", "happy", "good", "zufrieden", "gut")),
]
_WORD = re.compile(r"\w+")


def parse_score(answer: str) -> int | None:
    """The 1–5 score in a typed answer, from digits, number words or how it sounds; None if unclear."""
    if match := _DIGIT.search(answer):
        return int(match.group(1))
    folded = fold(answer)
    words = _WORD.findall(folded)
    for score, names in _NUMBER_WORDS.items():
        if len(words) <= 3 and any(name in words for name in names):
            return score
    padded = f" {' '.join(words)} "
    for score, phrases in _PHRASES:
        # a phrase may be followed by a suffix: Turkish "değil-im", German "zufrieden-er"
        if any(f" {phrase}" in padded for phrase in phrases):
            return score
    return None


_NPS_DIGITS = re.compile(
    r"(?<![\d.,])(10|[0-9])(?:\s*(?:/|von|out of|uzerinden|\u00fczerinden)\s*10)?(?!\d|[.,]\d)"
)
_NPS_WORDS = {
    0: ("sifir", "zero", "null"),
    **_NUMBER_WORDS,
    6: ("alti", "six", "sechs"),
    7: ("yedi", "seven", "sieben"),
    8: ("sekiz", "eight", "acht"),
    9: ("dokuz", "nine", "neun"),
    10: ("on", "ten", "zehn"),
}


def parse_nps(answer: str) -> int | None:
    """The 0–10 recommendation score in a typed answer, from digits or number words; None if unclear."""
    if match := _NPS_DIGITS.search(answer):
        return int(match.group(1))
    words = _WORD.findall(fold(answer))
    if len(words) > 3:
        return None
    return next((score for score, names in _NPS_WORDS.items() if any(name in words for name in names)), None)


def score_given(tracker: Tracker, typed: str) -> tuple[int | None, bool]:
    """The score of a tapped 1–5 button, or else read from ``typed``; and whether it was tapped."""
    tapped = entity_value(tracker, "score")
    if str(tapped).isdigit():
        return int(tapped), True
    return parse_score(typed), False


def satisfied_from() -> int:
    return unit_of_work().settings.survey_satisfied_from


def nps_asked() -> bool:
    """The NPS question is part of the survey when the deployment turns it on (``CCM_SURVEY_NPS=on``)."""
    return unit_of_work().settings.survey_nps


class ValidateSurveyForm(FormValidationAction):
    def name(self) -> str:
        return "validate_survey_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        score = str(tracker.get_slot("survey_score") or "")  # raw text until validated into a digit
        slots = ["survey_score"]
        if score.isdigit() and int(score) < satisfied_from():
            slots.append("survey_comment")
        if nps_asked():
            slots.append("survey_nps")
        return slots

    def validate_survey_score(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"survey_score": None}  # cleared by an action, not answered yet
        typed = str(value or "")
        score, tapped = score_given(tracker, typed)
        if score is None or not 1 <= score <= 5:
            say(dispatcher, tracker, "invalid_score")
            return {"survey_score": None}
        slots: dict[str, Any] = {"survey_score": str(score)}
        if not tapped and len(typed.split()) > 3:
            slots["survey_comment"] = typed.strip()  # "2, the replacement is broken too" carries its comment
        return slots

    def validate_survey_comment(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"survey_comment": None}  # cleared by an action, not answered yet
        comment = str(value or "").strip()
        return {"survey_comment": comment or None}

    def validate_survey_nps(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"survey_nps": None}  # cleared by an action, not answered yet
        tapped = entity_value(tracker, "nps")
        nps = int(tapped) if str(tapped).isdigit() else parse_nps(str(value))
        if nps is None or not 0 <= nps <= 10:
            say(dispatcher, tracker, "invalid_nps")
            return {"survey_nps": None}
        return {"survey_nps": str(nps)}


class ActionRecordSurveyAnswer(Action):
    """10: satisfied closes the case; not satisfied starts a follow-up round with the customer's comment."""

    def name(self) -> str:
        return "action_record_survey_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        cleared = [SlotSet(name, None) for name in SURVEY_SLOTS]
        actor = customer_of(tracker)
        reference = tracker.get_slot("survey_reference") or next(
            (c.reference for c in conversation_cases(tracker) if c.status == Status.SURVEY_SENT), None
        )
        score = tracker.get_slot("survey_score")
        if score is None:
            score, _ = score_given(tracker, tracker.latest_message.get("text") or "")
        if reference is None or score is None:
            say(dispatcher, tracker, "no_survey")
            return cleared
        try:
            nps = tracker.get_slot("survey_nps")
            case = services.record_survey_answer(
                unit_of_work(),
                actor,
                reference,
                score=int(score),
                comment=tracker.get_slot("survey_comment"),
                nps=int(nps) if nps is not None else None,
                source="chat",
            )
        except CCMError:
            say(dispatcher, tracker, "no_survey")
            return cleared
        if case.status == Status.CLOSED:
            say(dispatcher, tracker, "survey_thanks", reference=reference)
        else:
            notices = views.customer_notices(unit_of_work(), actor, reference)
            follow_up = next(n for n in reversed(notices) if n.kind == "follow_up_notice")
            dispatcher.utter_message(text=follow_up.body)
        return cleared
