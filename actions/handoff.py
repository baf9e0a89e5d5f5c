"""Asking for a person: the open case is flagged for its department; without one, it is filed first."""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.complaint import FORM_SLOTS
from actions.conversation import customer_of, say, unit_of_work
from actions.status import conversation_cases, mentioned_reference
from ccm_core.domain.errors import CCMError
from ccm_core.domain.lifecycle import Status
from ccm_core.service_layer import services


class ActionRequestHuman(Action):
    def name(self) -> str:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if tracker.active_loop.get("name") == "complaint_form":
            return [SlotSet("wants_human", True)]  # flagged when the complaint being filed is recorded
        open_cases = [c for c in conversation_cases(tracker) if c.status != Status.CLOSED]
        named = mentioned_reference(tracker)
        case = next((c for c in open_cases if c.reference == named), open_cases[0] if open_cases else None)
        if case is None:
            say(dispatcher, tracker, "human_needs_case")
            return [
                *(SlotSet(name, None) for name in FORM_SLOTS),
                SlotSet("predicted_category", None),
                SlotSet("wants_human", True),
                FollowupAction("complaint_form"),
            ]
        try:
            services.request_human(unit_of_work(), customer_of(tracker), case.reference)
        except CCMError:
            say(dispatcher, tracker, "something_went_wrong")
            return []
        say(dispatcher, tracker, "human_requested", reference=case.reference)
        return [SlotSet("reference", case.reference)]
