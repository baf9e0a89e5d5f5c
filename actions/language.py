"""The conversation's language and channel: from the channel's metadata, else the first message.

Customers switch with "English please" or "Türkçe konuşalım"; every later answer,
buttons included, follows the ``language`` slot.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction
from rasa_sdk.types import DomainDict

from actions.conversation import intent_of
from actions.recovery import ANSWERS as OFFER_ANSWERS
from actions.recovery import OFFER_SLOTS
from ccm_core.domain.lifecycle import CHAT_CHANNELS
from ccm_core.i18n import LANGUAGES
from ccm_core.language import TOKEN, detect_language, fold

# How customers name the languages ("English please", "Türkçe konuşalım", "auf Deutsch"), folded.
_LANGUAGE_NAMES = {
    "tr": ("turkce", "turkish", "turkisch", "tuerkisch"),
    "en": ("ingilizce", "english", "englisch", "inglizce", "engl"),
    "de": ("almanca", "german", "deutsch", "deutch", "aleman"),
}


def language_asked_for(message: str) -> str | None:
    """The language a "please speak …" message names; Turkish suffixes allowed ("İngilizceye")."""
    words = TOKEN.findall(fold(message))
    for language, names in _LANGUAGE_NAMES.items():
        if any(word.startswith(name) for word in words for name in names):
            return language
    return None


def _metadata(tracker: Tracker) -> dict[str, Any]:
    return tracker.latest_message.get("metadata") or tracker.get_slot("session_started_metadata") or {}


class ActionSessionStart(Action):
    """Start a session with the channel and language the channel knows about the customer."""

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = [SessionStarted()]
        metadata = tracker.get_slot("session_started_metadata") or {}
        carried = {
            name: value
            for name, value in tracker.slots.items()
            if name in ("language", "channel") and value is not None
        }
        carried.update(_from_metadata(metadata))
        events += [SlotSet(name, value) for name, value in carried.items()]
        events.append(ActionExecuted("action_listen"))
        return events


def _from_metadata(metadata: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    language = str(metadata.get("language") or "").replace("_", "-").split("-")[0].lower()
    if language in LANGUAGES:
        found["language"] = language
    if metadata.get("channel") in CHAT_CHANNELS:
        found["channel"] = metadata["channel"]
    return found


class ValidateSlotMappings(ValidationAction):
    """Runs after every customer message: keeps ``language`` and ``channel`` up to date, ends offers."""

    def name(self) -> str:
        return "action_validate_slot_mappings"

    async def extract_language(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        message = tracker.latest_message
        if intent_of(tracker) == "change_language" and (
            asked := language_asked_for(message.get("text") or "")
        ):
            return {"language": asked}
        if tracker.get_slot("language"):
            return {}
        from_channel = _from_metadata(_metadata(tracker)).get("language")
        detected = from_channel or detect_language(message.get("text") or "")
        return {"language": detected} if detected else {}

    async def extract_offer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """An offer (``actions.recovery``) is answered in the next message or not at all.

        Rasa runs this again when a form starts in the same turn: an offer made in this turn stays.
        """
        if tracker.get_slot("offer") is None or intent_of(tracker) in OFFER_ANSWERS:
            return {}
        for event in reversed(tracker.events):
            if event.get("event") == "user":
                return dict.fromkeys(OFFER_SLOTS)
            if event.get("event") == "slot" and event.get("name") == "offer":
                return {}  # made after the customer's latest message
        return dict.fromkeys(OFFER_SLOTS)

    async def extract_channel(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if tracker.get_slot("channel"):
            return {}
        channel = _from_metadata(_metadata(tracker)).get("channel")
        return {"channel": channel} if channel else {}
