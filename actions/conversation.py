"""What every action needs: the core, who the customer is, their language, and texts for them."""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from ccm_core.bootstrap import Core, bootstrap
from ccm_core.domain.lifecycle import CHAT_CHANNELS, Channel
from ccm_core.domain.policy import Actor
from ccm_core.i18n import normalise_language
from ccm_core.language import fold
from ccm_core.service_layer.unit_of_work import UnitOfWork

_LOCALES = Path(__file__).with_name("locales")
DEFAULT_CHANNEL = Channel.WEB


@cache
def core() -> Core:
    """One configured core per action server process (settings from the environment)."""
    return bootstrap()


def unit_of_work() -> UnitOfWork:
    return core().unit_of_work()


def intent_of(tracker: Tracker) -> str:
    """The intent of the customer's latest message ("" when there is none)."""
    return (tracker.latest_message.get("intent") or {}).get("name") or ""


def entity_value(tracker: Tracker, entity: str) -> Any:
    """The first value of ``entity`` in the latest message (a tapped button's payload, say), or None."""
    found = tracker.latest_message.get("entities") or []
    return next((e.get("value") for e in found if e.get("entity") == entity), None)


def language_of(tracker: Tracker) -> str:
    return normalise_language(tracker.get_slot("language"))


def channel_of(tracker: Tracker) -> str:
    """The customer channel this conversation runs on: from the channel's metadata, else from the
    conversation id (``telegram:12345``: a notice can open a conversation before the customer writes),
    web otherwise."""
    channel = tracker.get_slot("channel")
    if channel in CHAT_CHANNELS:
        return channel
    prefix = (tracker.sender_id or "").partition(":")[0]
    return prefix if prefix in CHAT_CHANNELS else DEFAULT_CHANNEL


def customer_of(tracker: Tracker) -> Actor:
    """The customer is known by the conversation: channel and sender id (a Telegram chat id, say)."""
    return Actor.customer(channel=channel_of(tracker), external_id=tracker.sender_id)


def identity_reaches_customer(tracker: Tracker) -> bool:
    """Telegram and WhatsApp identities reach the customer later; a web chat may never be reopened."""
    return channel_of(tracker) in (Channel.TELEGRAM, Channel.WHATSAPP)


@cache
def catalogue(language: str) -> dict[str, str]:
    return yaml.safe_load((_LOCALES / f"{language}.yaml").read_text(encoding="utf-8"))


def text(language: str, key: str, /, **params: Any) -> str:
    """A text the actions compose (labels, summaries), in ``language``; ``a.b`` reaches nested keys."""
    entry: Any = catalogue(normalise_language(language))
    for part in key.split("."):
        entry = entry[part]
    return str(entry).format(**params)


def say(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    key: str,
    /,
    buttons: list[dict[str, str]] | None = None,
    **params: Any,
) -> None:
    """Send the catalogue text ``key`` in the conversation's language."""
    dispatcher.utter_message(text=text(language_of(tracker), key, **params), buttons=buttons)


def yes_no(language: str) -> list[dict[str, str]]:
    return [
        {"title": text(language, "button_yes"), "payload": "/affirm"},
        {"title": text(language, "button_no"), "payload": "/deny"},
    ]


_YES = (
    "evet",
    "tabi",
    "tabii",
    "tamam",
    "olur",
    "onay",
    "kabul",
    "yes",
    "yeah",
    "yep",
    "sure",
    "ok",
    "okay",
    "agree",
    "correct",
    "right",
    "ja",
    "jawohl",
    "klar",
    "genau",
    "einverstanden",
    "stimmt",
    "passt",
)
_NO = (
    "hayir",
    "yok",
    "istemiyorum",
    "degil",
    "vazgec",
    "no",
    "nope",
    "not",
    "don",
    "dont",
    "cancel",
    "disagree",
    "nein",
    "nee",
    "nicht",
    "kein",
    "keine",
    "falsch",
)


def yes_or_no(tracker: Tracker) -> bool | None:
    """The answer to a yes/no question: the intent first, else the words ("no, I don't consent")."""
    intent = intent_of(tracker)
    if intent in ("affirm", "deny"):
        return intent == "affirm"
    words = re.findall(r"\w+", fold(tracker.latest_message.get("text") or ""))
    if any(word in _NO for word in words):
        return False
    if any(word in _YES for word in words):
        return True
    return None


def answered_yes_or_no(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool | None:
    """``yes_or_no``, asking for a plain yes or no (with buttons) when the answer is neither."""
    answer = yes_or_no(tracker)
    if answer is None:
        say(dispatcher, tracker, "answer_yes_or_no", buttons=yes_no(language_of(tracker)))
    return answer


def when(moment: dt.datetime | None, language: str) -> str:
    """A date and time as the customer reads it, in the operator's time zone."""
    if moment is None:
        return "-"
    local = moment.astimezone(ZoneInfo(core().settings.timezone))
    return local.strftime("%Y-%m-%d %H:%M" if language == "en" else "%d.%m.%Y %H:%M")
