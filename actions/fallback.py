"""What the assistant did not understand: ask once, then ask to rephrase; keep the message for admins.

The message is kept with personal data masked (``ccm_core`` masks it before storing),
with the intent the model guessed and how sure it was, so admins can teach the assistant.
"""

from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.conversation import channel_of, language_of, say, text, unit_of_work
from ccm_core.domain.errors import CCMError
from ccm_core.service_layer import services

logger = logging.getLogger(__name__)
_NOT_SUGGESTED = {
    "nlu_fallback",
    "out_of_scope",
    "affirm",
    "deny",
    "inform",
    "EXTERNAL_notice",
    "EXTERNAL_survey",
}


def keep_for_review(tracker: Tracker, reason: str) -> None:
    message = tracker.latest_message
    ranking = [r for r in message.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
    best = ranking[0] if ranking else {}
    try:
        services.keep_unrecognised_message(
            unit_of_work(),
            channel=channel_of(tracker),
            conversation_id=tracker.sender_id,
            language=language_of(tracker),
            text=message.get("text") or "",
            predicted_intent=best.get("name"),
            confidence=best.get("confidence"),
            reason=reason,
        )
    except CCMError as refused:  # an empty or oversized message: nothing worth reviewing
        logger.info("unrecognised message not kept: %s", refused.code)


class ActionDefaultAskAffirmation(Action):
    """First stage of the fallback: "Did you mean …?" with the best guess, in the customer's language."""

    def name(self) -> str:
        return "action_default_ask_affirmation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        keep_for_review(tracker, "low_confidence")
        language = language_of(tracker)
        ranking = tracker.latest_message.get("intent_ranking") or []
        guess = next((r["name"] for r in ranking if r.get("name") not in _NOT_SUGGESTED), None)
        if guess is None:
            say(dispatcher, tracker, "ask_rephrase")
            return []
        label = text(language, f"intent.{guess}")
        dispatcher.utter_message(
            text=text(language, "did_you_mean", intent=label),
            buttons=[
                {"title": label, "payload": f"/{guess}"},
                {"title": text(language, "something_else"), "payload": "/out_of_scope"},
            ],
        )
        return []


class ActionKeepUnrecognisedMessage(Action):
    def name(self) -> str:
        return "action_keep_unrecognised_message"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        keep_for_review(tracker, "out_of_scope")
        return []


class ActionDefaultAskRephrase(Action):
    """Second stage of the fallback: ask the customer to say it another way."""

    def name(self) -> str:
        return "action_default_ask_rephrase"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        say(dispatcher, tracker, "ask_rephrase")
        return []


class ActionDefaultFallback(Action):
    """Still not understood: say how to go on (describe the problem, or ask for a person)."""

    def name(self) -> str:
        return "action_default_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        say(dispatcher, tracker, "default")
        return [UserUtteranceReverted()]
