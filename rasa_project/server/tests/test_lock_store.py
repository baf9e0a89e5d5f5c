"""The lock store against the real Redis, with lockers in several OS processes as Rasa replicas are.

Each test has its own key prefix on Redis db 9 and removes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from multiprocessing.synchronize import Event

import pytest
import redis
import redis.asyncio
from rasa.core.lock_store import LockError
from rasa.utils.endpoints import EndpointConfig
from server.lock_store import FifoRedisLockStore, hashed

REDIS = {"url": "127.0.0.1", "port": 6379, "db": 9}
CONVERSATION = "customer-1"
fork = multiprocessing.get_context("fork")


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own; its keys are removed afterwards."""
    name = f"t{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis(host=REDIS["url"], port=REDIS["port"], db=REDIS["db"])
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def probe(prefix: str) -> Iterator[redis.Redis]:
    """A plain Redis client for what the tests record and look at."""
    client = redis.Redis(host=REDIS["url"], port=REDIS["port"], db=REDIS["db"], decode_responses=True)
    yield client
    client.close()


def store(prefix: str, **options: float) -> FifoRedisLockStore:
    return FifoRedisLockStore(EndpointConfig(**REDIS, key_prefix=prefix, **options))


def issued(probe: redis.Redis, prefix: str) -> int:
    """How many tickets the conversation's queue has issued."""
    return int(probe.hget(f"{prefix}:lock:{hashed(CONVERSATION)}:queue", "last") or 0)


def wait_until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def start(target: Callable[..., None], *args: object) -> multiprocessing.Process:
    process = fork.Process(target=target, args=args, daemon=True)
    process.start()
    return process


# --- what the other processes run ---


def _lockers(prefix: str, go: Event, count: int) -> None:
    """``count`` messages at once; each checks it is alone and does a non-atomic increment."""

    async def one() -> None:
        probe = redis.asyncio.Redis(host=REDIS["url"], port=REDIS["port"], db=REDIS["db"])
        async with lock_store.lock(CONVERSATION) as lock:
            if await probe.incr(f"{prefix}-inside") != 1:
                await probe.incr(f"{prefix}-overlaps")
            counter = int(await probe.get(f"{prefix}-counter") or 0)
            await asyncio.sleep(0.003)
            await probe.set(f"{prefix}-counter", counter + 1)
            await probe.rpush(f"{prefix}-served", lock.tickets[0].number)
            await probe.decr(f"{prefix}-inside")
        await probe.close()

    async def burst() -> None:
        await asyncio.gather(*(one() for _ in range(count)))

    lock_store = store(prefix)
    go.wait()
    asyncio.run(burst())


def _hold_forever(prefix: str, held: Event, lease: float) -> None:
    async def hold() -> None:
        async with store(prefix).lock(CONVERSATION, lock_lifetime=lease):
            held.set()
            while True:
                time.sleep(1)

    asyncio.run(hold())


def _hold_until(prefix: str, held: Event, release: Event) -> None:
    async def hold() -> None:
        async with store(prefix, waiting_seconds=0.5).lock(CONVERSATION):
            held.set()
            release.wait()

    asyncio.run(hold())


def _wait_in_line(prefix: str) -> None:
    async def wait() -> None:
        async with store(prefix, waiting_seconds=0.5).lock(CONVERSATION):
            raise AssertionError("killed before its turn")

    asyncio.run(wait())


def _served_as(prefix: str, name: str) -> None:
    async def locker() -> None:
        async with store(prefix, waiting_seconds=0.5).lock(CONVERSATION):
            redis.Redis(host=REDIS["url"], port=REDIS["port"], db=REDIS["db"]).rpush(f"{prefix}-served", name)

    asyncio.run(locker())


def _queue_then_block_the_loop(prefix: str, go: Event, blocked: Event) -> None:
    """Takes a ticket, then its event loop is busy for three times as long as a place lasts."""

    async def locker() -> None:
        async with store(prefix, waiting_seconds=0.5).lock(CONVERSATION):
            redis.Redis(host=REDIS["url"], port=REDIS["port"], db=REDIS["db"]).rpush(f"{prefix}-served", "S")

    async def busy() -> None:
        task = asyncio.create_task(locker())
        await asyncio.sleep(0.1)
        blocked.set()
        time.sleep(1.5)  # as a prediction under load keeps a Rasa server's loop
        await task

    go.wait()
    asyncio.run(busy())


# --- the tests ---


def test_many_lockers_in_several_processes_are_served_one_at_a_time_in_ticket_order(
    prefix: str, probe: redis.Redis
) -> None:
    go = fork.Event()
    processes = [start(_lockers, prefix, go, 6) for _ in range(4)]
    go.set()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0

    served = [int(ticket) for ticket in probe.lrange(f"{prefix}-served", 0, -1)]
    assert served == list(range(1, 25))  # every message once, in the order it reached Redis
    assert int(probe.get(f"{prefix}-counter")) == 24  # no increment lost to an overlap
    assert probe.get(f"{prefix}-overlaps") is None
    keys = list(probe.scan_iter(f"{prefix}:lock:*"))
    assert keys and all(probe.pttl(key) > 0 for key in keys)  # the queue goes when the conversation is quiet


def test_another_conversation_is_not_held_up(prefix: str) -> None:
    async def both() -> float:
        lock_store = store(prefix)
        async with lock_store.lock(CONVERSATION):
            began = time.monotonic()
            async with lock_store.lock("customer-2"):
                return time.monotonic() - began

    assert asyncio.run(both()) < 0.1


def test_a_holder_killed_with_sigkill_blocks_the_others_only_until_its_lease_ends(prefix: str) -> None:
    lease = 1.0
    held = fork.Event()
    holder = start(_hold_forever, prefix, held, lease)
    assert held.wait(10)
    acquired = time.monotonic()
    os.kill(holder.pid, signal.SIGKILL)
    holder.join()

    async def next_message() -> float:
        async with store(prefix).lock(CONVERSATION):
            return time.monotonic() - acquired

    waited = asyncio.run(next_message())
    assert lease - 0.2 < waited < lease + 0.5


def test_a_waiter_killed_while_waiting_does_not_hold_up_the_queue(prefix: str, probe: redis.Redis) -> None:
    held, release = fork.Event(), fork.Event()
    holder = start(_hold_until, prefix, held, release)
    assert held.wait(10)
    waiter = start(_wait_in_line, prefix)
    wait_until(lambda: issued(probe, prefix) == 2)
    os.kill(waiter.pid, signal.SIGKILL)
    waiter.join()

    async def next_message() -> float:
        async def served() -> float:
            async with store(prefix, waiting_seconds=0.5).lock(CONVERSATION):
                return time.monotonic()

        task = asyncio.create_task(served())
        await asyncio.to_thread(wait_until, lambda: issued(probe, prefix) == 3)
        released = time.monotonic()
        release.set()
        return await task - released

    waited = asyncio.run(next_message())
    holder.join(10)
    assert waited < 1.0  # the dead waiter's place lapses after 0.5 s; the lock lifetime is 60 s


def test_a_stale_holder_cannot_release_the_holder_that_took_over(
    prefix: str, probe: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    lock_store = store(prefix)
    moments: dict[str, float] = {}

    async def slow() -> None:  # outlives its 0.3 s lease
        async with lock_store.lock(CONVERSATION, lock_lifetime=0.3):
            moments["slow in"] = time.monotonic()
            await asyncio.sleep(0.8)
        moments["slow out"] = time.monotonic()

    async def next_one() -> None:
        async with lock_store.lock(CONVERSATION):
            moments["next in"] = time.monotonic()
            lease = probe.get(f"{prefix}:lock:{hashed(CONVERSATION)}:lease")
            while "slow out" not in moments:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)
            assert probe.get(f"{prefix}:lock:{hashed(CONVERSATION)}:lease") == lease  # still ours
            moments["next out"] = time.monotonic()

    async def third() -> None:
        async with lock_store.lock(CONVERSATION):
            moments["third in"] = time.monotonic()

    async def all_three() -> None:
        first = asyncio.create_task(slow())
        await asyncio.sleep(0.05)
        second = asyncio.create_task(next_one())
        await asyncio.sleep(0.05)
        await asyncio.gather(first, second, third())

    with caplog.at_level(logging.WARNING):
        asyncio.run(all_three())

    assert moments["slow in"] + 0.25 < moments["next in"] < moments["slow out"]
    assert moments["third in"] >= moments["next out"]  # the stale release let nobody in
    assert "longer than the lock's lease" in caplog.text


def test_a_waiter_whose_event_loop_is_busy_keeps_its_place(prefix: str, probe: redis.Redis) -> None:
    go, blocked = fork.Event(), fork.Event()
    busy = start(_queue_then_block_the_loop, prefix, go, blocked)

    async def others() -> None:
        release = asyncio.Event()

        async def first() -> None:
            async with store(prefix, waiting_seconds=0.5).lock(CONVERSATION):
                probe.rpush(f"{prefix}-served", "A")
                go.set()
                await release.wait()

        async def third() -> None:
            async with store(prefix, waiting_seconds=0.5).lock(CONVERSATION):
                probe.rpush(f"{prefix}-served", "C")

        holder = asyncio.create_task(first())
        await asyncio.to_thread(wait_until, lambda: issued(probe, prefix) == 2)
        follower = asyncio.create_task(third())
        await asyncio.to_thread(wait_until, lambda: issued(probe, prefix) == 3)
        await asyncio.to_thread(blocked.wait, 10)
        release.set()
        await asyncio.gather(holder, follower)

    asyncio.run(others())
    busy.join(10)
    assert busy.exitcode == 0
    assert probe.lrange(f"{prefix}-served", 0, -1) == ["A", "S", "C"]
    assert issued(probe, prefix) == 3  # nobody queued twice


def test_a_waiter_whose_process_is_frozen_past_its_place_queues_again_and_is_served_once(
    prefix: str, probe: redis.Redis
) -> None:
    lock_store = store(prefix, waiting_seconds=0.5)

    async def others() -> None:
        release = asyncio.Event()

        async def first() -> None:
            async with lock_store.lock(CONVERSATION):
                probe.rpush(f"{prefix}-served", "A")
                await release.wait()

        async def third() -> None:
            async with lock_store.lock(CONVERSATION):
                probe.rpush(f"{prefix}-served", "C")

        holder = asyncio.create_task(first())
        await asyncio.to_thread(wait_until, lambda: issued(probe, prefix) == 1)
        frozen = start(_served_as, prefix, "S")
        await asyncio.to_thread(wait_until, lambda: issued(probe, prefix) == 2)
        os.kill(frozen.pid, signal.SIGSTOP)
        follower = asyncio.create_task(third())
        await asyncio.to_thread(wait_until, lambda: issued(probe, prefix) == 3)
        release.set()
        await asyncio.gather(holder, follower)
        os.kill(frozen.pid, signal.SIGCONT)
        await asyncio.to_thread(frozen.join, 10)
        assert frozen.exitcode == 0

    asyncio.run(others())
    assert probe.lrange(f"{prefix}-served", 0, -1) == ["A", "C", "S"]
    assert issued(probe, prefix) == 4  # the frozen message's second ticket


def test_a_queue_that_does_not_move_gives_up_with_lock_error_and_leaves_the_line(
    prefix: str, probe: redis.Redis
) -> None:
    lock_store = store(prefix, waiting_seconds=0.5)

    async def scene() -> tuple[float, float]:
        release = asyncio.Event()

        async def holder() -> None:
            async with lock_store.lock(CONVERSATION):
                await release.wait()

        async def impatient() -> float:
            began = time.monotonic()
            with pytest.raises(LockError):
                async with lock_store.lock(CONVERSATION, lock_lifetime=0.5):
                    raise AssertionError("served while the holder holds")
            return time.monotonic() - began

        async def after() -> float:
            async with lock_store.lock(CONVERSATION):
                return time.monotonic()

        held = asyncio.create_task(holder())
        await asyncio.sleep(0.05)
        gave_up = await impatient()
        follower = asyncio.create_task(after())
        await asyncio.sleep(0.05)
        released = time.monotonic()
        release.set()
        await held
        return gave_up, await follower - released

    gave_up, waited = asyncio.run(scene())
    assert 1.5 < gave_up < 3  # a lease of 0.5 s, a place of 0.5 s and a second to spare
    assert waited < 0.2  # the one who gave up is not waited for


def test_rasas_read_modify_write_methods_refuse(prefix: str) -> None:
    lock_store = store(prefix)
    with pytest.raises(LockError):
        lock_store.issue_ticket(CONVERSATION)
    with pytest.raises(NotImplementedError):
        lock_store.is_someone_waiting(CONVERSATION)
