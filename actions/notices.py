"""Messages the process owes the customer (05 interim notice, decision, 08 actions, 09 survey and its
reminder, 11 follow-up).

The product triggers ``EXTERNAL_notice`` / ``EXTERNAL_survey`` with the outbox message's id
on the customer's conversation; the text comes from the core, in the complaint's language,
so the dialogue knows what was said and understands the answer in context.

What comes after the notice is what ``data/rules/notices.yml`` and ``survey.yml`` say (a form in
progress goes on, a survey opens its form, otherwise the assistant listens), named here as the
follow-up action: Rasa then runs it without asking its policies again, a prediction fewer on
each of the many notices the workers deliver.
"""

from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import customer_of, entity_value, unit_of_work
from ccm_core.domain.errors import NotFound, PermissionDenied
from ccm_core.service_layer import views

SURVEY_SLOTS = ("survey_reference", "survey_score", "survey_comment", "survey_nps")


class ActionDeliverNotice(Action):
    def name(self) -> str:
        return "action_deliver_notice"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        message_id = entity_value(tracker, "outbox_id")
        try:
            notice = views.get_notice(unit_of_work(), customer_of(tracker), int(message_id))
        except (TypeError, ValueError, NotFound, PermissionDenied):
            return []  # not this conversation's message: say nothing rather than leak it
        dispatcher.utter_message(text=notice.body)
        # In the middle of a form the conversation stays on the form's case (the one information is
        # added to or withdrawn); otherwise the notice's case becomes the one talked about.
        events: list[EventType] = [] if tracker.active_loop_name else [SlotSet("reference", notice.reference)]
        if not tracker.get_slot("language"):  # a conversation the notice opens speaks the case's language
            events.append(SlotSet("language", notice.language))
        survey = notice.kind in ("survey", "survey_reminder")
        if survey:  # either opens the survey form
            events += [SlotSet(name, None) for name in SURVEY_SLOTS]
            events.append(SlotSet("survey_reference", notice.reference))
        after = tracker.active_loop_name or ("survey_form" if survey else "action_listen")
        events.append(FollowupAction(after))
        return events
