"""Where is my complaint: the current step in the chart's words, with its dates."""

from __future__ import annotations

import re

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import customer_of, entity_value, language_of, say, text, unit_of_work, when
from actions.recovery import offer_complaint
from ccm_core.domain.errors import NotFound, PermissionDenied
from ccm_core.domain.lifecycle import Status
from ccm_core.domain.search import ComplaintFilter
from ccm_core.i18n import translate
from ccm_core.service_layer import views
from ccm_core.service_layer.views import CaseSummary, CaseView

REFERENCE = re.compile(r"\bCMP-\d{4}-\d{6}\b", re.IGNORECASE)


def mentioned_reference(tracker: Tracker) -> str | None:
    """A reference in the latest message (entity or plain text), upper-cased."""
    typed = REFERENCE.search(tracker.latest_message.get("text") or "")
    found = entity_value(tracker, "reference") or (typed.group(0) if typed else None)
    return found.upper() if found else None


def conversation_cases(tracker: Tracker) -> list[CaseSummary]:
    """This conversation's complaints, newest first; never another customer's."""
    cases, _ = views.list_complaints(unit_of_work(), customer_of(tracker), ComplaintFilter(limit=20))
    return list(cases)


def complaint_buttons(cases: list[CaseSummary], language: str, intent: str) -> list[dict[str, str]]:
    return [
        {
            "title": text(
                language,
                "complaint_button",
                reference=c.reference,
                step=translate(language, f"status.{c.status}"),
            ),
            "payload": f'/{intent}{{"reference":"{c.reference}"}}',
        }
        for c in cases
    ]


def describe(case: CaseView, language: str) -> str:
    """The case's step in plain words, then the dates that matter."""
    stamps = case.timestamps
    lines = [
        text(
            language,
            "status_line",
            reference=case.reference,
            step=translate(language, f"status.{case.status}"),
        ),
        translate(language, f"status_detail.{case.status}"),
        text(language, "status_received", when=when(stamps["received_at"], language)),
    ]
    if stamps["review_started_at"]:
        lines.append(
            text(language, "status_review_started", when=when(stamps["review_started_at"], language))
        )
    if stamps["decided_at"]:
        lines.append(text(language, "status_decided", when=when(stamps["decided_at"], language)))
    if stamps["informed_at"]:
        lines.append(text(language, "status_informed", when=when(stamps["informed_at"], language)))
    if case.follow_up_round and stamps["follow_up_started_at"]:
        lines.append(
            text(
                language,
                "status_follow_up",
                round=case.follow_up_round,
                when=when(stamps["follow_up_started_at"], language),
            )
        )
    if case.status == Status.CLOSED and case.close_reason:
        reason = translate(language, f"close_reason.{case.close_reason}")
        lines.append(text(language, "status_closed", when=when(stamps["closed_at"], language), reason=reason))
    return "\n".join(lines)


class ActionCheckStatus(Action):
    def name(self) -> str:
        return "action_check_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = language_of(tracker)
        reference = mentioned_reference(tracker)
        if reference is None:
            cases = conversation_cases(tracker)
            open_cases = [c for c in cases if c.status != Status.CLOSED]
            if not cases:
                return offer_complaint(dispatcher, tracker, "no_complaints")
            if len(open_cases) > 1:
                say(
                    dispatcher,
                    tracker,
                    "choose_complaint",
                    buttons=complaint_buttons(open_cases, language, "check_status"),
                )
                return []
            reference = (open_cases or cases)[0].reference
        try:
            case = views.get_complaint(unit_of_work(), customer_of(tracker), reference, language)
        except (NotFound, PermissionDenied):
            say(dispatcher, tracker, "complaint_not_found", reference=reference)
            return [SlotSet("reference", None)]
        dispatcher.utter_message(text=describe(case, language))
        return [SlotSet("reference", case.reference)]
