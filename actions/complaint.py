"""Filing a complaint in chat: ask only for what is missing, confirm, record through the core."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import (
    answered_yes_or_no,
    channel_of,
    customer_of,
    entity_value,
    fold,
    identity_reaches_customer,
    intent_of,
    language_of,
    say,
    text,
    unit_of_work,
    yes_no,
)
from ccm_core.domain import validation
from ccm_core.domain.errors import CCMError, ValidationFailed
from ccm_core.i18n import translate
from ccm_core.service_layer import services, views

FORM_SLOTS = ("description", "category", "external_reference", "contact", "consent", "confirmed")
CLEARED_AFTER_FILING = (*FORM_SLOTS, "predicted_category", "reference_kind", "wants_human")
MIN_DESCRIPTION_WORDS = 3
NONE_GIVEN = "-"
TOPIC_PREFIX = "complaint_"
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[A-Za-z]{2,}")
_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-/]{2,28}[A-Za-z0-9]")


def category_by_code(code: str | None) -> views.CategoryView | None:
    return next((c for c in views.categories(unit_of_work()) if c.code == code), None)


def _said_it_all(tracker: Tracker) -> str | None:
    """The opening message as the description when it already says what went wrong."""
    message = tracker.latest_message.get("text") or ""
    if intent_of(tracker).startswith(TOPIC_PREFIX) and len(message.split()) >= MIN_DESCRIPTION_WORDS:
        return message.strip()
    return None


def starting_complaint(predicted_category: str | None, description: str | None) -> list[EventType]:
    """A fresh complaint form: the topic to confirm first, and the description when already told."""
    events = [SlotSet(name, None) for name in FORM_SLOTS]
    events.append(SlotSet("predicted_category", predicted_category))
    if description:
        events.append(SlotSet("description", description))
    return events


class ActionStartComplaint(Action):
    """Before the form asks anything: keep the topic predicted from the text and a complete description."""

    def name(self) -> str:
        return "action_start_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        intent = intent_of(tracker)
        predicted = intent.removeprefix(TOPIC_PREFIX) if intent.startswith(TOPIC_PREFIX) else None
        return starting_complaint(predicted, _said_it_all(tracker))


class ValidateComplaintForm(FormValidationAction):
    """Checks every answer and re-asks with a helpful hint instead of failing."""

    def name(self) -> str:
        return "validate_complaint_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        required = ["description", "category"]
        if tracker.get_slot("reference_kind"):
            required.append("external_reference")
        if not identity_reaches_customer(tracker):
            required.append("contact")
        required.append("consent")
        if tracker.get_slot("consent") is not False:
            required.append("confirmed")
        return required

    def validate_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"description": None}  # cleared by an action, not answered yet
        described = str(value or "").strip()
        try:
            validation.text("description", described, max_length=unit_of_work().settings.max_text_length)
        except ValidationFailed:
            described = ""
        if len(described.split()) < MIN_DESCRIPTION_WORDS:
            say(dispatcher, tracker, "invalid_description")
            return {"description": None}
        return {"description": described}

    def validate_category(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"category": None}  # cleared by an action, not answered yet
        chosen = entity_value(tracker, "category")
        if chosen is None and intent_of(tracker) == "affirm":
            chosen = tracker.get_slot("predicted_category")
        if chosen is None:
            chosen = _category_named(str(value or ""), language_of(tracker))
        category = category_by_code(chosen)
        if category is None:
            say(dispatcher, tracker, "invalid_category")
            return {"category": None}
        return {"category": category.code, "reference_kind": category.needs_reference}

    def validate_external_reference(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"external_reference": None}  # cleared by an action, not answered yet
        answer = str(value or "").strip()
        none_words = {fold(w.strip()) for w in text(language_of(tracker), "none_words").split(",")}
        if fold(answer).strip(" .!") in none_words or intent_of(tracker) == "deny":
            return {"external_reference": NONE_GIVEN}
        number = next((m for m in _NUMBER.findall(answer) if any(ch.isdigit() for ch in m)), None)
        if number is None:
            say(dispatcher, tracker, "invalid_external_reference")
            return {"external_reference": None}
        return {"external_reference": number}

    def validate_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"contact": None}  # cleared by an action, not answered yet
        answer = str(value or "")
        try:
            if found := _EMAIL.search(answer):
                return {"contact": validation.email(found.group(0))}
            phone = validation.phone(re.sub(r"^[^\d+]*", "", answer))
            if phone:
                return {"contact": phone}
        except ValidationFailed:
            pass
        say(dispatcher, tracker, "invalid_contact")
        return {"contact": None}

    def validate_consent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"consent": None}  # cleared by an action, not answered yet
        return {"consent": answered_yes_or_no(dispatcher, tracker)}

    def validate_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"confirmed": None}  # cleared by an action, not answered yet
        answer = answered_yes_or_no(dispatcher, tracker)
        if answer is None:
            return {"confirmed": None}
        if answer is False:
            say(dispatcher, tracker, "complaint_restart")
            return {name: None for name in (*FORM_SLOTS, "reference_kind")}
        return {"confirmed": True}


def _category_named(answer: str, language: str) -> str | None:
    """A category typed by name ("Teslimat", "billing") instead of tapped."""
    typed = fold(answer).strip(" .!?")
    if not typed:
        return None
    for category in views.categories(unit_of_work()):
        names = {fold(category.code), *(fold(label) for label in category.labels.values())}
        if typed in names:
            return category.code
    return None


class ActionAskCategory(Action):
    """The topic predicted from the text comes first; one tap confirms it or picks another."""

    def name(self) -> str:
        return "action_ask_category"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = language_of(tracker)
        options = views.categories(unit_of_work())
        predicted = next((c for c in options if c.code == tracker.get_slot("predicted_category")), None)
        buttons = [
            {"title": c.label(language), "payload": f'/inform{{"category":"{c.code}"}}'}
            for c in options
            if c is not predicted
        ]
        if predicted is None:
            dispatcher.utter_message(text=text(language, "category_choose"), buttons=buttons)
            return []
        label = predicted.label(language)
        confirm = {"title": text(language, "yes_category", category=label), "payload": "/affirm"}
        dispatcher.utter_message(
            text=text(language, "category_question", category=label), buttons=[confirm, *buttons]
        )
        return []


class ActionAskExternalReference(Action):
    def name(self) -> str:
        return "action_ask_external_reference"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        kind = tracker.get_slot("reference_kind")
        say(dispatcher, tracker, "ask_account_number" if kind == "account" else "ask_order_number")
        return []


class ActionAskConfirmed(Action):
    """The summary the customer confirms before anything is recorded."""

    def name(self) -> str:
        return "action_ask_confirmed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = language_of(tracker)
        category = category_by_code(tracker.get_slot("category"))
        lines = [
            text(language, "summary_description", value=tracker.get_slot("description")),
            text(language, "summary_category", value=category.label(language) if category else "-"),
        ]
        reference = tracker.get_slot("external_reference")
        if reference and reference != NONE_GIVEN:
            key = "summary_account" if tracker.get_slot("reference_kind") == "account" else "summary_order"
            lines.append(text(language, key, value=reference))
        if contact := tracker.get_slot("contact"):
            lines.append(text(language, "summary_contact", value=contact))
        else:
            channel = translate(language, f"channel.{channel_of(tracker)}")
            lines.append(text(language, "summary_channel_contact", channel=channel))
        say(dispatcher, tracker, "ask_confirmed", buttons=yes_no(language), summary="\n".join(lines))
        return []


def _form_started_at(tracker: Tracker) -> float:
    """When this filing began: with the sender id, the idempotency key of the intake."""
    for event in reversed(tracker.events):
        if event.get("event") == "active_loop" and event.get("name") == "complaint_form":
            return float(event.get("timestamp") or 0)
    return 0.0


class ActionRecordComplaint(Action):
    """02/04: the record is created in CCM and the customer gets the reference and what happens next."""

    def name(self) -> str:
        return "action_record_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        cleared = [SlotSet(name, None) for name in CLEARED_AFTER_FILING]
        if tracker.get_slot("consent") is not True:
            say(dispatcher, tracker, "consent_declined")
            return cleared
        if tracker.get_slot("confirmed") is not True:
            return cleared
        actor = customer_of(tracker)
        contact = tracker.get_slot("contact") or ""
        external = tracker.get_slot("external_reference")
        try:
            recorded = services.record_complaint(
                unit_of_work(),
                actor,
                channel=actor.channel or channel_of(tracker),
                language=language_of(tracker),
                category=tracker.get_slot("category"),
                description=tracker.get_slot("description"),
                customer=services.CustomerDetails(
                    email=contact if "@" in contact else None,
                    phone=contact if contact and "@" not in contact else None,
                ),
                external_reference=None if external in (None, NONE_GIVEN) else external,
                idempotency_key=f"chat:{actor.channel}:{tracker.sender_id}:{_form_started_at(tracker):.6f}",
            )
            reference = recorded.case.reference
            acknowledgement = next(
                n
                for n in views.customer_notices(unit_of_work(), actor, reference)
                if n.kind == "acknowledgement"
            )
            dispatcher.utter_message(text=acknowledgement.body)
            say(dispatcher, tracker, "what_happens_next", reference=reference)
            if tracker.get_slot("wants_human"):
                services.request_human(unit_of_work(), actor, reference)
                say(dispatcher, tracker, "human_requested", reference=reference)
        except CCMError:
            say(dispatcher, tracker, "something_went_wrong")
            return []
        return [*cleared, SlotSet("reference", reference)]
