"""Writes a long-lived customer's history into a tracker store, through the store's own ``save``.

Runs in the Rasa environment (``benchmarks.history`` starts it): the store is built from the same
``endpoints.yml`` the Rasa server reads, so the history is stored exactly as the server would have
stored it over the months, without months of turns. Prints the number of events written.

    <rasa env>/bin/python benchmarks/history_seed.py ENDPOINTS_YML CONVERSATION_ID EVENTS
"""

from __future__ import annotations

import asyncio
import sys
import time

from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config

DAY = 86_400.0
SESSION_DAYS = 12  # a customer who talks to us every other week or so
CHAT = [  # (intent, what the customer said, what the assistant answered): a plain exchange
    ("greet", "merhaba", "Merhaba! Ben şikayet asistanıyım."),
    ("check_status", "şikayetim ne durumda", "Şikayetiniz inceleniyor."),
    ("thank", "teşekkürler", "Rica ederim."),
]
NOTICE = ("EXTERNAL_notice", "", "Şikayetiniz ilgili birime ulaştı ve inceleme başladı.")


def session(start: float, exchanges: int) -> list[Event]:
    """One session as Rasa records it: its start, the carried-over slot, then exchanges and notices."""
    events: list[Event] = [
        ActionExecuted("action_session_start", timestamp=start),
        SessionStarted(timestamp=start),
        SlotSet("language", "tr", timestamp=start),
        ActionExecuted("action_listen", timestamp=start),
    ]
    for number in range(exchanges):
        intent, said, answer = NOTICE if number % 5 == 4 else CHAT[number % len(CHAT)]
        at = start + 60 * (number + 1)
        parse = {"intent": {"name": intent, "confidence": 0.97}, "entities": [], "text": said}
        events += [
            UserUttered(said, parse["intent"], [], parse, timestamp=at, input_channel="telegram"),
            ActionExecuted(f"utter_{intent.lower()}", policy="RulePolicy", confidence=1.0, timestamp=at + 1),
            BotUttered(answer, {"elements": None, "buttons": None}, timestamp=at + 1),
            ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0, timestamp=at + 1),
        ]
    return events


def history(events: int) -> list[Event]:
    """At least ``events`` events in sessions of 80, the last one ended weeks ago."""
    per_session = 4 + 4 * 19
    sessions = max(1, -(-events // per_session))
    first = time.time() - (sessions + 2) * SESSION_DAYS * DAY
    return [event for number in range(sessions) for event in session(first + number * SESSION_DAYS * DAY, 19)]


async def seed(endpoints: str, conversation: str, events: int) -> int:
    store = TrackerStore.create(read_endpoint_config(endpoints, "tracker_store"), Domain.empty())
    tracker = DialogueStateTracker.from_events(conversation, history(events))
    await store.save(tracker)
    return len(tracker.events)


if __name__ == "__main__":
    print(asyncio.run(seed(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
