"""A conversation erased from each tracker store the product configures: SQL, Redis (ours), memory.

Each store keeps two conversations; erasing one leaves nothing of it and the other untouched.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore, SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from server.erasure import delete_conversation
from server.tracker_store import SessionRedisTrackerStore

DOMAIN = Domain.from_dict({})
REDIS = {"host": "127.0.0.1", "port": 6379, "db": 9}
ERASED, KEPT = "whatsapp:+4915112345678", "web:someone-else"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    name = f"t{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis(**REDIS)
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)
    client.close()


def store_of(kind: str, tmp_path: Path, redis_prefix: str) -> TrackerStore:
    if kind == "sql":
        return SQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "tracker.db"))
    if kind == "redis":
        return SessionRedisTrackerStore(DOMAIN, **REDIS, key_prefix=redis_prefix)
    return InMemoryTrackerStore(DOMAIN)


async def said(store: TrackerStore, sender: str) -> list[str]:
    tracker = await store.retrieve_full_tracker(sender)
    return [e.text for e in tracker.events if isinstance(e, UserUttered)] if tracker else []


@pytest.mark.parametrize("kind", ["sql", "redis", "memory"])
def test_an_erased_conversation_is_gone_and_the_others_stay(
    kind: str, tmp_path: Path, redis_prefix: str
) -> None:
    store = store_of(kind, tmp_path, redis_prefix)

    async def scenario() -> None:
        for sender in (ERASED, KEPT):
            tracker = DialogueStateTracker.from_events(
                sender,
                [ActionExecuted("action_listen"), UserUttered(f"I am Jane Roe, {sender}", {"name": "greet"})],
            )
            await store.save(tracker)
        await delete_conversation(FailSafeTrackerStore(store), ERASED)  # as Rasa wraps it
        assert await said(store, ERASED) == []
        assert await said(store, KEPT) == [f"I am Jane Roe, {KEPT}"]

    asyncio.run(scenario())
    if kind == "redis":
        client = redis.Redis(**REDIS, decode_responses=True)
        assert [key for key in client.scan_iter(f"{redis_prefix}*") if ERASED in key] == []
        client.close()
