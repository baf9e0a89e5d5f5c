"""Adding information to an open complaint, and withdrawing one."""

from __future__ import annotations

import abc
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import answered_yes_or_no, customer_of, intent_of, language_of, say, unit_of_work
from actions.recovery import offer_complaint
from actions.status import complaint_buttons, conversation_cases, mentioned_reference
from ccm_core.domain import validation
from ccm_core.domain.errors import CCMError, ValidationFailed
from ccm_core.domain.lifecycle import Status
from ccm_core.service_layer import services


class ActionChooseOpenComplaint(Action):
    """Which open complaint the customer means: the one named, the only one, or a choice with buttons."""

    def name(self) -> str:
        return "action_choose_open_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        open_cases = [c for c in conversation_cases(tracker) if c.status != Status.CLOSED]
        named = mentioned_reference(tracker)
        chosen = next((c.reference for c in open_cases if c.reference == named), None)
        if chosen is None and len(open_cases) == 1 and named is None:
            chosen = open_cases[0].reference
        if chosen is not None:
            return [
                SlotSet("reference", chosen),
                SlotSet("information", None),
                SlotSet("withdraw_confirmed", None),
            ]
        intent = intent_of(tracker) or "add_information"
        nothing_chosen = [SlotSet("reference", None)]  # the form that follows ends at once: nothing to ask
        if not open_cases:
            return nothing_chosen + offer_complaint(dispatcher, tracker, "no_open_complaint")
        say(
            dispatcher,
            tracker,
            "choose_complaint",
            buttons=complaint_buttons(open_cases, language_of(tracker), intent),
        )
        return nothing_chosen


class CaseFormValidation(FormValidationAction, abc.ABC):
    """A form about the complaint ``action_choose_open_complaint`` chose; with none, it asks nothing."""

    @abc.abstractmethod
    def name(self) -> str: ...

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        return domain_slots if tracker.get_slot("reference") else []


class ValidateAddInformationForm(CaseFormValidation):
    def name(self) -> str:
        return "validate_add_information_form"

    def validate_information(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"information": None}  # cleared by an action, not answered yet
        try:
            added = validation.text(
                "information", str(value or ""), max_length=unit_of_work().settings.max_text_length
            )
        except ValidationFailed:
            say(dispatcher, tracker, "invalid_description")
            return {"information": None}
        return {"information": added}


class ValidateWithdrawForm(CaseFormValidation):
    def name(self) -> str:
        return "validate_withdraw_form"

    def validate_withdraw_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is None:
            return {"withdraw_confirmed": None}  # cleared by an action, not answered yet
        return {"withdraw_confirmed": answered_yes_or_no(dispatcher, tracker)}


class ActionAddInformation(Action):
    def name(self) -> str:
        return "action_add_information"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reference, information = tracker.get_slot("reference"), tracker.get_slot("information")
        if not reference or not information:
            return [SlotSet("information", None)]
        try:
            services.add_customer_message(unit_of_work(), customer_of(tracker), reference, body=information)
        except CCMError:
            say(dispatcher, tracker, "complaint_not_found", reference=reference)
            return [SlotSet("information", None)]
        say(dispatcher, tracker, "information_added", reference=reference)
        return [SlotSet("information", None)]


class ActionWithdrawComplaint(Action):
    def name(self) -> str:
        return "action_withdraw_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reference = tracker.get_slot("reference")
        if not reference:
            return []
        if tracker.get_slot("withdraw_confirmed") is not True:
            say(dispatcher, tracker, "withdraw_kept", reference=reference)
            return [SlotSet("withdraw_confirmed", None)]
        try:
            services.withdraw_complaint(unit_of_work(), customer_of(tracker), reference)
        except CCMError:
            say(dispatcher, tracker, "complaint_not_found", reference=reference)
            return [SlotSet("withdraw_confirmed", None)]
        say(dispatcher, tracker, "withdrawn", reference=reference)
        return [SlotSet("withdraw_confirmed", None)]
