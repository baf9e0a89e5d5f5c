"""When the assistant did not understand or took a wrong turn: a way on, never a dead end.

* A message the model cannot place (``nlu_fallback``; a grievance the model cannot place is
  filed as a complaint before it gets here, see ``rasa_project/components/complaint_decision.py``)
  is kept for admins to review, then answered in two stages: first "Did you mean …?" with the best
  guess (tapped or typed, yes goes on as if the customer had said it, no asks to rephrase); from
  the second miss in a row on, the complaint form or a person, with buttons.
* Status, add-information or withdraw with no complaint to act on offers to file one, keeping
  the customer's message as its description when it describes a problem.
* When the policies do not know what to do next (``action_default_fallback``), the same two ways on.

Offers are yes/no questions. A yes or no outside a form goes to ``action_answer_offer``; the
``offer`` slot says what it answers, and lasts one turn: ``action_validate_slot_mappings`` clears
it when the next message is neither yes nor no.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import (
    ActionExecuted,
    EventType,
    FollowupAction,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.complaint import MIN_DESCRIPTION_WORDS, TOPIC_PREFIX, starting_complaint
from actions.conversation import channel_of, intent_of, language_of, say, text, unit_of_work, yes_no
from ccm_core.domain.errors import CCMError
from ccm_core.service_layer import teaching

logger = logging.getLogger(__name__)

NOT_UNDERSTOOD = "nlu_fallback"
OFFER_COMPLAINT = "complaint"
OFFER_SUGGESTION = "suggestion"
OFFER_SLOTS = ("offer", "suggestion", "kept_description")
ANSWERS = ("affirm", "deny")
ANNOUNCEMENT = "file_complaint"
# A message kept as a complaint's description describes a problem (the NLU says so,
# ``describes_a_problem``) or is likely a complaint.
MIN_COMPLAINT_PROBABILITY = 0.25
MIN_GUESS_CONFIDENCE = 0.25  # below it, "Did you mean …?" would be a shot in the dark: ask to rephrase
_NOT_SUGGESTED = {NOT_UNDERSTOOD, "out_of_scope", *ANSWERS, "inform", "EXTERNAL_notice", "EXTERNAL_survey"}


def keep_for_review(tracker: Tracker, reason: str) -> None:
    """The message, masked by the core, with the model's best guess: admins teach the assistant from it."""
    message = tracker.latest_message
    ranking = [r for r in message.get("intent_ranking") or [] if r.get("name") != NOT_UNDERSTOOD]
    best = ranking[0] if ranking else {}
    try:
        teaching.keep_unrecognised_message(
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


def _user_events(tracker: Tracker) -> list[dict[str, Any]]:
    return [event for event in tracker.applied_events() if event.get("event") == "user"]


def _intent(event: dict[str, Any]) -> str:
    return ((event.get("parse_data") or {}).get("intent") or {}).get("name") or ""


def misses_in_a_row(tracker: Tracker) -> int:
    """Unplaced messages since the last one understood; a "no" to our guess does not break the run."""
    count = 0
    for event in reversed(_user_events(tracker)):
        intent = _intent(event)
        if intent == NOT_UNDERSTOOD:
            count += 1
        elif intent != "deny":
            break
    return count


def complaint_probability(message: dict[str, Any]) -> float:
    """How likely the message is a complaint: the complaint intents' summed probability."""
    return sum(
        float(r.get("confidence") or 0)
        for r in message.get("intent_ranking") or []
        if r.get("name") == ANNOUNCEMENT or str(r.get("name")).startswith(TOPIC_PREFIX)
    )


def likeliest_topic(message: dict[str, Any]) -> str | None:
    topics = [r for r in message.get("intent_ranking") or [] if str(r.get("name")).startswith(TOPIC_PREFIX)]
    best = max(topics, key=lambda r: float(r.get("confidence") or 0), default=None)
    return best["name"].removeprefix(TOPIC_PREFIX) if best else None


def problem_described(tracker: Tracker) -> str | None:
    """The latest message, when it says what went wrong, to become a complaint's description."""
    message = tracker.latest_message
    said = (message.get("text") or "").strip()
    if len(said.split()) < MIN_DESCRIPTION_WORDS:
        return None
    if message.get("describes_a_problem") or complaint_probability(message) >= MIN_COMPLAINT_PROBABILITY:
        return said
    return None


def complaint_offered(description: str | None = None, topic: str | None = None) -> list[EventType]:
    """An offer to file a complaint: yes opens the form with this description and topic to confirm."""
    return [
        SlotSet("offer", OFFER_COMPLAINT),
        SlotSet("suggestion", None),
        SlotSet("kept_description", description),
        SlotSet("predicted_category", topic),
    ]


def offer_complaint(dispatcher: CollectingDispatcher, tracker: Tracker, key: str) -> list[EventType]:
    """Ask whether to file a complaint (yes/no buttons), keeping the message if it describes a problem."""
    language = language_of(tracker)
    description = problem_described(tracker)
    question = text(language, key)
    if description:
        question += " " + text(language, "offer_keeps_description")
    dispatcher.utter_message(text=question, buttons=yes_no(language))
    return complaint_offered(description, likeliest_topic(tracker.latest_message) if description else None)


def offer_ways_on(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """Still not understood: the complaint form or a person, one tap each (typed yes means the form)."""
    language = language_of(tracker)
    dispatcher.utter_message(
        text=text(language, "offer_ways_on"),
        buttons=[
            {"title": text(language, "button_file_complaint"), "payload": f"/{ANNOUNCEMENT}"},
            {"title": text(language, "button_talk_to_person"), "payload": "/request_human"},
        ],
    )
    return complaint_offered()


class ActionRecover(Action):
    """A message the model could not place: keep it for review, then guess, or offer the ways on."""

    def name(self) -> str:
        return "action_recover"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        keep_for_review(tracker, "low_confidence")
        if misses_in_a_row(tracker) >= 2:
            return offer_ways_on(dispatcher, tracker)
        language = language_of(tracker)
        ranking = tracker.latest_message.get("intent_ranking") or []
        guesses = (r for r in ranking if float(r.get("confidence") or 0) >= MIN_GUESS_CONFIDENCE)
        guess = next((r["name"] for r in guesses if r.get("name") not in _NOT_SUGGESTED), None)
        if guess is None:
            say(dispatcher, tracker, "ask_rephrase")
            return [SlotSet(name, None) for name in OFFER_SLOTS]
        label = text(language, f"intent.{guess}")
        dispatcher.utter_message(
            text=text(language, "did_you_mean", intent=label),
            buttons=[
                {"title": label, "payload": "/affirm"},
                {"title": text(language, "something_else"), "payload": "/deny"},
            ],
        )
        return [
            SlotSet("offer", OFFER_SUGGESTION),
            SlotSet("suggestion", guess),
            SlotSet("kept_description", None),
        ]


class ActionAnswerOffer(Action):
    """Yes or no outside a form: the answer to the assistant's last offer, if it made one.

    Yes to "Did you mean …?" puts the unplaced message back with the guessed intent (the guess and
    the "yes" are taken back with two ``UserUtteranceReverted``), so the conversation goes on as if
    it had been understood at once: its text stays a complaint's description, its entities stay
    found. Yes to filing a complaint opens the form with what the offer kept. No to a guess asks to
    say it another way; any other no, or a yes to nothing, asks what else we can do.
    """

    def name(self) -> str:
        return "action_answer_offer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        offer = tracker.get_slot("offer")
        ended = [SlotSet(name, None) for name in OFFER_SLOTS]
        if intent_of(tracker) != "affirm" or offer is None:
            say(dispatcher, tracker, "ask_rephrase" if offer == OFFER_SUGGESTION else "offer_declined")
            return ended
        if offer == OFFER_COMPLAINT:
            kept = starting_complaint(
                tracker.get_slot("predicted_category"), tracker.get_slot("kept_description")
            )
            return [*ended, *kept, FollowupAction("complaint_form")]
        return following_suggestion(dispatcher, tracker)


def following_suggestion(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    suggestion = tracker.get_slot("suggestion")
    earlier = reversed(_user_events(tracker)[:-1])  # before the "yes"
    unplaced = next((event for event in earlier if _intent(event) == NOT_UNDERSTOOD), None)
    if not suggestion or unplaced is None:
        say(dispatcher, tracker, "ask_rephrase")
        return [SlotSet(name, None) for name in OFFER_SLOTS]
    parse_data = copy.deepcopy(unplaced.get("parse_data") or {})
    parse_data["intent"] = {"name": suggestion, "confidence": 1.0}
    kept = {name: tracker.get_slot(name) for name in ("language", "channel") if tracker.get_slot(name)}
    return [
        UserUtteranceReverted(),  # the "yes"
        UserUtteranceReverted(),  # the unplaced message and our guess (and the listen before each)
        ActionExecuted("action_listen"),
        UserUttered(unplaced.get("text"), parse_data, input_channel=unplaced.get("input_channel")),
        *(SlotSet(name, value) for name, value in kept.items()),  # set by that message, undone with it
    ]


class ActionKeepUnrecognisedMessage(Action):
    """Out of scope: kept for review; the answer (``utter_out_of_scope``) offers to take a complaint."""

    def name(self) -> str:
        return "action_keep_unrecognised_message"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        keep_for_review(tracker, "out_of_scope")
        return complaint_offered()


class ActionDefaultFallback(Action):
    """The policies do not know what comes next: offer the ways on, and forget the turn."""

    def name(self) -> str:
        return "action_default_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        return [UserUtteranceReverted(), *offer_ways_on(dispatcher, tracker)]
