"""The session tracker store against the real Redis, beside Rasa's own Redis store.

Each test has its own key prefix on Redis db 9 and removes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
import redis
from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from server.tracker_store import SessionRedisTrackerStore, TrackerConflict

REDIS = {"host": "127.0.0.1", "port": 6379, "db": 9}
DOMAIN = Domain.from_dict({"slots": {"language": {"type": "text", "mappings": [{"type": "custom"}]}}})
CONVERSATION = "customer-1"
T = TypeVar("T")


@pytest.fixture
def prefix() -> Iterator[str]:
    name = f"t{uuid.uuid4().hex[:12]}"  # alphanumeric: Rasa's own store ignores any other prefix
    yield name
    client = redis.Redis(**REDIS)
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)
    client.close()


def store(prefix: str) -> SessionRedisTrackerStore:
    return SessionRedisTrackerStore(DOMAIN, **REDIS, key_prefix=prefix)


def session(day: int, turns: int = 2) -> list[Event]:
    """One session: its start, the language slot carried over, then ``turns`` exchanges."""
    at = 1_700_000_000.0 + day * 86_400
    events: list[Event] = [
        ActionExecuted("action_session_start", timestamp=at),
        SessionStarted(timestamp=at),
        SlotSet("language", "tr", timestamp=at),
        ActionExecuted("action_listen", timestamp=at),
    ]
    for turn in range(turns):
        events += [
            UserUttered(
                f"day {day} message {turn}", {"name": "greet", "confidence": 1.0}, timestamp=at + turn
            ),
            BotUttered(f"day {day} answer {turn}", timestamp=at + turn),
            ActionExecuted("action_listen", timestamp=at + turn),
        ]
    return events


def texts(tracker: DialogueStateTracker | None) -> list[str]:
    assert tracker is not None
    return [e.text for e in tracker.events if isinstance(e, UserUttered)]


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


async def both_views(
    tracker_store: SessionRedisTrackerStore,
) -> tuple[DialogueStateTracker | None, DialogueStateTracker | None]:
    """What a turn reads, and what Rasa's tracker API gives."""
    return await tracker_store.retrieve(CONVERSATION), await tracker_store.retrieve_full_tracker(CONVERSATION)


def test_a_turn_reads_the_latest_session_and_the_history_stays(prefix: str) -> None:
    async def scenario() -> tuple[DialogueStateTracker | None, DialogueStateTracker | None]:
        tracker_store = store(prefix)
        tracker = DialogueStateTracker.from_events(CONVERSATION, session(1) + session(2) + session(3))
        await tracker_store.save(tracker)
        return await tracker_store.retrieve(CONVERSATION), await tracker_store.retrieve_full_tracker(
            CONVERSATION
        )

    latest, full = run(scenario())
    assert texts(latest) == ["day 3 message 0", "day 3 message 1"]
    assert latest is not None and latest.get_slot("language") == "tr"
    assert texts(full) == [f"day {d} message {t}" for d in (1, 2, 3) for t in (0, 1)]


def test_a_turn_appends_only_what_it_added_also_when_a_new_session_begins(prefix: str) -> None:
    async def scenario() -> tuple[DialogueStateTracker | None, DialogueStateTracker | None]:
        tracker_store = store(prefix)
        await tracker_store.save(DialogueStateTracker.from_events(CONVERSATION, session(1)))
        tracker = await tracker_store.retrieve(CONVERSATION)
        assert tracker is not None
        tracker.update_with_events(session(2, turns=1), DOMAIN)
        await tracker_store.save(tracker)
        tracker.update(UserUttered("day 2 message 1", timestamp=1_700_000_000.0 + 2 * 86_400 + 5))
        await tracker_store.save(tracker)  # the same tracker saved twice in one turn
        return await tracker_store.retrieve(CONVERSATION), await tracker_store.retrieve_full_tracker(
            CONVERSATION
        )

    latest, full = run(scenario())
    assert texts(latest) == ["day 2 message 0", "day 2 message 1"]
    assert texts(full) == ["day 1 message 0", "day 1 message 1", "day 2 message 0", "day 2 message 1"]
    assert full is not None and len(full.events) == len(session(1)) + len(session(2, turns=1)) + 1


def test_a_stale_tracker_is_refused_and_nothing_is_lost(prefix: str) -> None:
    async def scenario() -> DialogueStateTracker | None:
        tracker_store = store(prefix)
        await tracker_store.save(DialogueStateTracker.from_events(CONVERSATION, session(1)))
        first, second = await tracker_store.retrieve(CONVERSATION), await tracker_store.retrieve(CONVERSATION)
        assert first is not None and second is not None
        first.update(UserUttered("first writer"))
        await tracker_store.save(first)
        second.update(UserUttered("second writer"))
        with pytest.raises(TrackerConflict, match="STALE"):
            await tracker_store.save(second)
        return await tracker_store.retrieve(CONVERSATION)

    assert texts(run(scenario()))[-1] == "first writer"


def test_a_tracker_built_elsewhere_cannot_overwrite_a_stored_conversation(prefix: str) -> None:
    """What Rasa's ``PUT /conversations/<id>/tracker/events`` would do: refused, the history kept."""

    async def scenario() -> DialogueStateTracker | None:
        tracker_store = store(prefix)
        await tracker_store.save(DialogueStateTracker.from_events(CONVERSATION, session(1)))
        with pytest.raises(TrackerConflict):
            await tracker_store.save(DialogueStateTracker.from_events(CONVERSATION, session(5)))
        return await tracker_store.retrieve_full_tracker(CONVERSATION)

    assert texts(run(scenario())) == ["day 1 message 0", "day 1 message 1"]


def test_a_conversation_kept_by_rasas_redis_store_is_moved_when_first_read(prefix: str) -> None:
    async def scenario() -> tuple[DialogueStateTracker | None, DialogueStateTracker | None, list[str]]:
        rasas = RedisTrackerStore(DOMAIN, **REDIS, key_prefix=prefix)
        await rasas.save(DialogueStateTracker.from_events(CONVERSATION, session(1) + session(2)))
        expected = await rasas.retrieve(CONVERSATION)
        ours = store(prefix)
        assert set(await ours.keys()) == {CONVERSATION}
        latest = await ours.retrieve(CONVERSATION)
        assert texts(latest) == texts(expected)
        assert latest is not None
        latest.update(UserUttered("after the move"))
        await ours.save(latest)
        client = redis.Redis(**REDIS, decode_responses=True)
        keys = sorted(client.scan_iter(f"{prefix}*"))
        client.close()
        return latest, await ours.retrieve_full_tracker(CONVERSATION), keys

    _, full, keys = run(scenario())
    assert texts(full) == [
        "day 1 message 0",
        "day 1 message 1",
        "day 2 message 0",
        "day 2 message 1",
        "after the move",
    ]
    assert keys == [f"{prefix}:events:{CONVERSATION}", f"{prefix}:session:{CONVERSATION}"]


def test_a_new_conversation_is_none_until_saved_and_then_exists(prefix: str) -> None:
    async def scenario() -> tuple[DialogueStateTracker | None, bool, bool]:
        tracker_store = store(prefix)
        missing = await tracker_store.retrieve(CONVERSATION)
        before = await tracker_store.exists(CONVERSATION)
        await tracker_store.get_or_create_tracker(CONVERSATION)
        return missing, before, await tracker_store.exists(CONVERSATION)

    assert run(scenario()) == (None, False, True)
