"""One conversation's messages handled one at a time, in arrival order, across Rasa replicas.

Rasa's ``RedisLockStore`` keeps a ``TicketLock`` per conversation as one JSON value and changes
it by read-modify-write (get, issue, save) with nothing atomic about it: two replicas reading it
at once issue the same ticket or overwrite each other's, so two turns of a conversation run side
by side, or a message waits for a ticket that is gone and fails (RasaHQ/rasa#9213). Here every
step is one Lua script, so Redis runs it whole:

- a message takes a ticket (``HINCRBY`` on the conversation's counter: arrival order);
- the ticket being served is a number in the same hash; its owner takes a lease key holding
  its ticket and a random token (``PX`` = the lock lifetime), which fences it: only the
  owner of that exact lease can release it and pass the turn on;
- waiters poll (every 15 ms when next in line); their places in a sorted set of waiting
  tickets are renewed by a thread of the process, so a place lapses when the process dies, not
  when its event loop is busy (a Rasa server predicts synchronously, and under load its loop
  stood still for 2-8 s in the replicas test); a served ticket with neither a lease nor a
  renewed place belongs to a process that died, and the next poll skips it;
- all keys expire when the conversation falls quiet (twice the lock lifetime).

A queue that comes back after expiring gets a new generation id, so a ticket of the old one
is never taken for a ticket of the new one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import DEFAULT_SOCKET_TIMEOUT_IN_SECONDS, LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig
from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.015  # between polls of the waiter next in line; further back, proportionally longer
MAX_POLL_SECONDS = 0.25
# How long a waiter keeps its place unless renewed (four times as often): how long the death of a
# waiting process holds up its conversation. A process frozen longer loses its place and queues again.
WAITING_SECONDS = 10.0

ACQUIRED, LOST = 1, -1  # what taking a turn can say besides 0, still waiting

_HELPERS = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function keep(key, ttl)  -- extend the key's life, never shorten it
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
"""

# KEYS: queue, waiting. ARGV: a generation id for a new queue, waiting ms, ttl ms. Returns {gen, ticket}.
_ISSUE = (
    _HELPERS
    + """
local gen = redis.call('HGET', KEYS[1], 'gen')
if not gen then
  gen = ARGV[1]
  redis.call('HSET', KEYS[1], 'gen', gen, 'last', 0, 'serving', 1)
  redis.call('DEL', KEYS[2])
end
local ticket = redis.call('HINCRBY', KEYS[1], 'last', 1)
redis.call('ZADD', KEYS[2], now_ms() + tonumber(ARGV[2]), ticket)
keep(KEYS[1], tonumber(ARGV[3]))
keep(KEYS[2], tonumber(ARGV[3]))
return {gen, ticket}
"""
)

# KEYS: queue, lease, waiting. ARGV: gen, ticket, lease value, lease ms, ttl ms.
# Returns {ACQUIRED, 0 (waiting) or LOST, the ticket now served}.
_TAKE_TURN = (
    _HELPERS
    + """
if redis.call('HGET', KEYS[1], 'gen') ~= ARGV[1] then return {-1, 0} end
local ticket = tonumber(ARGV[2])
local serving = tonumber(redis.call('HGET', KEYS[1], 'serving'))
local now = now_ms()
local ttl = tonumber(ARGV[5])
if redis.call('EXISTS', KEYS[2]) == 0 then
  while serving < ticket do
    local alive = redis.call('ZSCORE', KEYS[3], serving)
    if alive and tonumber(alive) > now then break end
    redis.call('ZREM', KEYS[3], serving)
    serving = serving + 1
  end
  redis.call('HSET', KEYS[1], 'serving', serving)
  if serving == ticket then
    redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
    redis.call('ZREM', KEYS[3], ticket)
    keep(KEYS[1], ttl)
    keep(KEYS[3], ttl)
    return {1, serving}
  end
end
if serving > ticket then return {-1, serving} end
keep(KEYS[1], ttl)
keep(KEYS[3], ttl)
return {0, serving}
"""
)

# KEYS: queue, waiting. ARGV: gen, ticket, waiting ms. Renews a place still in the queue, never one
# that was skipped.
_RENEW = (
    _HELPERS
    + """
if redis.call('HGET', KEYS[1], 'gen') == ARGV[1] then
  redis.call('ZADD', KEYS[2], 'XX', now_ms() + tonumber(ARGV[3]), ARGV[2])
end
"""
)

# KEYS: queue, lease, waiting. ARGV: gen, ticket, lease value. The lease's owner passes the turn on;
# anyone else only leaves the queue. Returns 1 when the lease was still this owner's.
_LEAVE = """
local same = redis.call('HGET', KEYS[1], 'gen') == ARGV[1]
if redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('DEL', KEYS[2])
  if same then redis.call('HSET', KEYS[1], 'serving', tonumber(ARGV[2]) + 1) end
  return 1
end
if same then redis.call('ZREM', KEYS[3], ARGV[2]) end
return 0
"""


@dataclass(eq=False)
class _Turn:
    """One message's place in its conversation's queue, and the keys that hold the queue."""

    queue: str
    lease: str
    waiting: str
    token: str
    generation: bytes = b""
    ticket: int = 0
    held: bool = False

    @property
    def lease_value(self) -> str:
        return f"{self.ticket}:{self.token}"


class _Heartbeat:
    """Renews the places of this process's waiters, from a thread that runs while they wait."""

    def __init__(self, client: Redis, waiting_ms: int) -> None:
        self.renew = client.register_script(_RENEW)
        self.client, self.waiting_ms = client, waiting_ms
        self.guard = threading.Lock()  # over the waiters and their places, which a re-queue changes
        self.waiters: set[_Turn] = set()
        self.thread: threading.Thread | None = None

    def add(self, turn: _Turn) -> None:
        with self.guard:
            self.waiters.add(turn)
            if self.thread is None or not self.thread.is_alive():  # not alive in a forked child either
                self.thread = threading.Thread(target=self._run, name="lock-store-heartbeat", daemon=True)
                self.thread.start()

    def discard(self, turn: _Turn) -> None:
        with self.guard:
            self.waiters.discard(turn)

    def _run(self) -> None:
        """Every quarter of a place's life, until nobody waits."""
        while True:
            time.sleep(self.waiting_ms / 4000)
            with self.guard:
                if not self.waiters:
                    self.thread = None
                    return
                places = [(t.queue, t.waiting, t.generation, t.ticket) for t in self.waiters]
            try:
                with self.client.pipeline(transaction=False) as pipe:
                    for queue, waiting, generation, ticket in places:
                        self.renew(
                            keys=[queue, waiting], args=[generation, ticket, self.waiting_ms], client=pipe
                        )
                    pipe.execute()
            except RedisError as error:
                logger.warning("Could not renew waiters' places (%s).", type(error).__name__)


def hashed(conversation_id: str) -> str:
    """A conversation's keys name it by hash: its id (a WhatsApp number) never sits in Redis for a lock."""
    return hashlib.sha256(conversation_id.encode("utf-8")).hexdigest()


class FifoRedisLockStore(LockStore):
    """A lock store whose ``lock()`` serialises a conversation across every Rasa server sharing Redis.

    Configured in ``endpoints.yml`` as Rasa's ``redis`` lock store is (``url``, ``port``, ``db``,
    ``username``, ``password``, ``use_ssl``, ``ssl_*``, ``key_prefix``, ``socket_timeout``), plus
    ``waiting_seconds``. Rasa only calls ``lock()``; the base class's other methods work on a stored
    ``TicketLock`` by read-modify-write, and as this store keeps none they refuse (``LockError``,
    ``NotImplementedError``) instead of going around the queue.
    """

    def __init__(self, endpoint_config: EndpointConfig) -> None:
        settings = dict(endpoint_config.kwargs)
        connection: dict[str, Any] = {
            "host": endpoint_config.url or settings.get("host", "localhost"),
            "port": int(settings.get("port", 6379)),
            "db": int(settings.get("db", 1)),
            "username": settings.get("username"),
            "password": settings.get("password"),
            "ssl": bool(settings.get("use_ssl", False)),
            "ssl_certfile": settings.get("ssl_certfile"),
            "ssl_keyfile": settings.get("ssl_keyfile"),
            "ssl_ca_certs": settings.get("ssl_ca_certs"),
            "socket_timeout": float(settings.get("socket_timeout", DEFAULT_SOCKET_TIMEOUT_IN_SECONDS)),
        }
        self.red = AsyncRedis(**connection)
        prefix = settings.get("key_prefix")
        self.key_prefix = f"{prefix}:lock:" if prefix else "lock:"
        self.waiting_seconds = float(settings.get("waiting_seconds", WAITING_SECONDS))
        self.waiting_ms = int(self.waiting_seconds * 1000)
        self._heartbeat = _Heartbeat(Redis(**connection), self.waiting_ms)
        self._issue = self.red.register_script(_ISSUE)
        self._take_turn = self.red.register_script(_TAKE_TURN)
        self._leave = self.red.register_script(_LEAVE)
        super().__init__()

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = POLL_SECONDS,
    ) -> AsyncGenerator[TicketLock, None]:
        """Wait for this message's turn in the conversation, hold it for the block, then pass it on.

        The turn is held for at most ``lock_lifetime`` (the lease); ``LockError`` when Redis fails
        or the queue stops moving for longer than a lease and a waiter's place together.
        """
        base = f"{self.key_prefix}{hashed(conversation_id)}"
        turn = _Turn(f"{base}:queue", f"{base}:lease", f"{base}:waiting", secrets.token_hex(16))
        lease_ms = max(1, int(lock_lifetime * 1000))
        ttl_ms = 2 * max(lease_ms, self.waiting_ms)
        await self._queue(turn, ttl_ms)
        self._heartbeat.add(turn)
        try:
            await self._wait_for_turn(turn, lock_lifetime, wait_time_in_seconds, lease_ms, ttl_ms)
            self._heartbeat.discard(turn)
            turn.held = True
            yield TicketLock(conversation_id, deque([Ticket(turn.ticket, time.time() + lock_lifetime)]))
        finally:
            self._heartbeat.discard(turn)
            await self._pass_on(turn)

    async def _queue(self, turn: _Turn, ttl_ms: int) -> None:
        try:
            generation, ticket = await self._issue(
                keys=[turn.queue, turn.waiting],
                args=[secrets.token_hex(8), self.waiting_ms, ttl_ms],
            )
        except RedisError as error:
            raise LockError(
                f"Could not queue for the conversation's lock ({type(error).__name__})."
            ) from error
        with self._heartbeat.guard:
            turn.generation, turn.ticket = generation, int(ticket)

    async def _wait_for_turn(
        self, turn: _Turn, lock_lifetime: float, poll_seconds: float, lease_ms: int, ttl_ms: int
    ) -> None:
        """Poll until served. The queue moves at least once per lease plus a waiter's place, even
        when their processes die; if it stands still longer, something else is wrong."""
        patience = lock_lifetime + self.waiting_seconds + 1.0
        clock = asyncio.get_running_loop().time
        served, deadline = -1, clock() + patience
        while True:
            try:
                state, serving = await self._take_turn(
                    keys=[turn.queue, turn.lease, turn.waiting],
                    args=[turn.generation, turn.ticket, turn.lease_value, lease_ms, ttl_ms],
                )
            except RedisError as error:
                raise LockError(
                    f"Could not take the conversation's lock ({type(error).__name__})."
                ) from error
            if state == ACQUIRED:
                return
            if state == LOST:
                logger.warning(
                    "A message lost its place in its conversation's queue (its process did not renew it "
                    "for %.1f s) and queues again at the end.",
                    self.waiting_seconds,
                )
                await self._queue(turn, ttl_ms)
                continue
            if serving != served:
                served, deadline = serving, clock() + patience
            elif clock() > deadline:
                raise LockError(f"The conversation's queue has not moved for {patience:.0f} s.")
            await asyncio.sleep(min(poll_seconds * max(1, turn.ticket - serving), MAX_POLL_SECONDS))

    async def _pass_on(self, turn: _Turn) -> None:
        """Release the lease if it is still ours, else just leave the queue. Not raising here: a
        failed release costs the conversation one lease's wait, failing the handled message costs more."""
        try:
            released = await self._leave(
                keys=[turn.queue, turn.lease, turn.waiting],
                args=[turn.generation, turn.ticket, turn.lease_value],
            )
        except RedisError as error:
            logger.warning(
                "Could not release a conversation's lock (%s); its lease will expire.", type(error).__name__
            )
            return
        if turn.held and not released:
            logger.warning(
                "A message was handled for longer than the lock's lease: the next one may have started "
                "before it finished."
            )
