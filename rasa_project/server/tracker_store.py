"""Conversations in Redis whose turns cost the same after years of history.

Rasa's ``RedisTrackerStore`` keeps a conversation's every session in one JSON value: each turn
reads and parses all of it, and each save parses it again to merge (``_merge_trackers``), so a
Telegram or WhatsApp customer's turn gets slower with every month they have talked to us (at
5,040 earlier events a turn took 33 times as long as a fresh one's: ``make bench-history``).
Here a conversation is a Redis list of its events, one JSON document each, and the index where
its latest session begins:

- a turn reads the latest session only (``LRANGE`` from that index) and appends the events it
  added (``RPUSH``), whatever the length of the history before it;
- every step is one Lua script, so a save checks, in Redis, that nothing was appended since its
  tracker was read, and refuses otherwise rather than losing or repeating events;
- the whole history stays (``retrieve_full_tracker``, Rasa's ``/tracker`` API, the audit of what
  the assistant said); the core keeps the complaint's own record in any case;
- a conversation kept in Rasa's format (``<prefix>:tracker:<id>``) is moved to ours the first
  time it is read, so an existing deployment switches without a migration step.

Rasa's servers take one conversation's turns one at a time (our lock store), so two saves of one
conversation do not race; the check is the lock's fence for a turn that outlived its lease, or a
writer that does not take the lock: the later save is refused and its message sent again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SerializedTrackerAsText, TrackerStore
from rasa.shared.core.constants import ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# Set on every tracker this store reads: (the list index of its first event, the list's length).
_READ_AT = "_ccm_read_at"

# KEYS: events, session. Returns where the latest session begins, the list's length, its events.
_LATEST_SESSION = """
local start = tonumber(redis.call('GET', KEYS[2]) or '0')
return {start, redis.call('LLEN', KEYS[1]), redis.call('LRANGE', KEYS[1], start, -1)}
"""

# KEYS: events, session. ARGV: the list's length when the tracker was read (0 for a new one),
# expiry seconds (0: none), then for each new event its JSON and '1' if it begins a session,
# else '0'. Returns the new length, or an error when something was appended since the read.
_APPEND = """
local length = redis.call('LLEN', KEYS[1])
if length ~= tonumber(ARGV[1]) then
  return redis.error_reply('STALE read at ' .. ARGV[1] .. ' events, ' .. length .. ' stored now')
end
for i = 3, #ARGV, 2 do
  redis.call('RPUSH', KEYS[1], ARGV[i])
  if ARGV[i + 1] == '1' then
    redis.call('SET', KEYS[2], redis.call('LLEN', KEYS[1]) - 1)
  end
end
local expiry = tonumber(ARGV[2])
if expiry > 0 then
  redis.call('EXPIRE', KEYS[1], expiry)
  redis.call('EXPIRE', KEYS[2], expiry)
end
return redis.call('LLEN', KEYS[1])
"""

# KEYS: events, session, Rasa's value. ARGV: the session's index, then every event's JSON.
# Moves a conversation kept in Rasa's format into ours, unless another replica did it first.
_MIGRATE = """
if redis.call('EXISTS', KEYS[1]) == 0 and #ARGV > 1 then
  redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))
  redis.call('SET', KEYS[2], ARGV[1])
end
redis.call('DEL', KEYS[3])
return redis.call('LLEN', KEYS[1])
"""


class TurnRefused(BaseException):
    """The turn cannot be recorded: it must fail whole, so the message is sent again.

    A ``BaseException`` because Rasa wraps every tracker store in ``FailSafeTrackerStore``, whose
    ``except Exception`` answers a failed read with a brand-new conversation and a failed save
    with a copy in memory: a customer half-way through the complaint form would be greeted afresh
    and their answer forgotten, while the reply says all is well. ``server.channel`` turns it
    into a 503.
    """


class TrackerConflict(TurnRefused):
    """A save that would not continue the stored conversation: refused, nothing written."""


class TrackerUnavailable(TurnRefused):
    """Redis did not answer."""


def _dump(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False)


def _begins_session(event: dict[str, Any]) -> bool:
    """Where Rasa splits a conversation into sessions: at ``action_session_start``."""
    return event.get("event") == "action" and event.get("name") == ACTION_SESSION_START_NAME


def latest_session_start(events: Sequence[dict[str, Any]]) -> int:
    starts = [index for index, event in enumerate(events) if _begins_session(event)]
    return starts[-1] if starts else 0


@asynccontextmanager
async def _reachable() -> AsyncIterator[None]:
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as down:
        raise TrackerUnavailable(type(down).__name__) from down


class SessionRedisTrackerStore(TrackerStore, SerializedTrackerAsText):
    """Rasa's tracker store interface on a Redis list per conversation (see the module's notes)."""

    def __init__(
        self,
        domain: Domain,
        host: str = "localhost",
        port: int = 6379,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        event_broker: EventBroker | None = None,
        record_exp: float | None = None,
        key_prefix: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.red = Redis(
            host=host,
            port=port,
            db=db,
            username=username,
            password=password,
            decode_responses=True,
            # A connection left from before a Redis restart fails once; try again on a new one.
            # Safe for a save too: one that had gone through is refused as stale, not doubled.
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        self.record_exp = int(record_exp or 0)
        self.prefix = f"{key_prefix}:" if key_prefix else ""
        self._latest_session = self.red.register_script(_LATEST_SESSION)
        self._append = self.red.register_script(_APPEND)
        self._migrate = self.red.register_script(_MIGRATE)
        super().__init__(domain, event_broker, **kwargs)

    def _keys(self, sender_id: str) -> list[str]:
        return [f"{self.prefix}events:{sender_id}", f"{self.prefix}session:{sender_id}"]

    def _rasa_key(self, sender_id: str) -> str:
        """Where Rasa's own Redis store kept the conversation (it adds ``tracker:``)."""
        return f"{self.prefix}tracker:{sender_id}"

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The latest session only: what the policies and forms need for the next turn."""
        async with _reachable():
            begins, length, events = await self._latest_session(keys=self._keys(sender_id))
            if not length and await self._moved_from_rasa(sender_id):
                begins, length, events = await self._latest_session(keys=self._keys(sender_id))
        return self._tracker(sender_id, events, int(begins), int(length))

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        """Every session, for Rasa's ``/tracker`` API and exports."""
        events_key = self._keys(conversation_id)[0]
        async with _reachable():
            events = await self.red.lrange(events_key, 0, -1)
            if not events and await self._moved_from_rasa(conversation_id):
                events = await self.red.lrange(events_key, 0, -1)
        return self._tracker(conversation_id, events, 0, len(events))

    async def exists(self, conversation_id: str) -> bool:
        async with _reachable():
            found = await self.red.exists(self._keys(conversation_id)[0], self._rasa_key(conversation_id))
        return bool(found)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Appends the events the tracker added since it was read; refuses a stale or foreign tracker.

        A tracker this store did not read (Rasa's ``PUT .../tracker/events`` builds one) counts as
        a new conversation, so it cannot overwrite or repeat a stored one.
        """
        await self.stream_events(tracker)
        keys = self._keys(tracker.sender_id)
        begins, read = getattr(tracker, _READ_AT, (0, 0))
        new = list(tracker.events)[read - begins :]
        if not new:
            return
        arguments: list[Any] = [read, self.record_exp]
        for event in new:
            data = event.as_dict()
            arguments += [_dump(data), "1" if _begins_session(data) else "0"]
        async with _reachable():
            if not read and not await self.red.exists(keys[0]):
                await self._moved_from_rasa(tracker.sender_id)
            try:
                length = await self._append(keys=keys, args=arguments)
            except ResponseError as refused:
                raise TrackerConflict(str(refused)) from refused
        setattr(tracker, _READ_AT, (begins, int(length)))

    async def delete(self, sender_id: str) -> None:
        """Erasure: the conversation's every session goes, in our format and in Rasa's."""
        async with _reachable():
            await self.red.delete(*self._keys(sender_id), self._rasa_key(sender_id))

    async def keys(self) -> Iterable[str]:
        found = set()
        async with _reachable():
            for kind in ("events", "tracker"):
                pattern = f"{self.prefix}{kind}:*"
                skip = len(pattern) - 1
                found.update([key[skip:] async for key in self.red.scan_iter(match=pattern)])
        return found

    async def _moved_from_rasa(self, sender_id: str) -> bool:
        """Moves a conversation Rasa's own store kept into our format; whether there was one."""
        stored = await self.red.get(self._rasa_key(sender_id))
        if stored is None:
            return False
        events = json.loads(stored).get("events") or []
        arguments = [latest_session_start(events), *[_dump(event) for event in events]]
        await self._migrate(keys=[*self._keys(sender_id), self._rasa_key(sender_id)], args=arguments)
        logger.info("Moved a conversation's %d events from Rasa's Redis format", len(events))
        return True

    def _tracker(
        self, sender_id: str, events: list[str], begins: int, length: int
    ) -> DialogueStateTracker | None:
        if not events:
            return None
        tracker = DialogueStateTracker.from_dict(
            sender_id, [json.loads(event) for event in events], self.domain.slots, self.max_event_history
        )
        setattr(tracker, _READ_AT, (begins, length))  # where its events sit in the stored list
        return tracker
