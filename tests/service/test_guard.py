"""Repeated deliveries handled once and per-sender rate limits, in the database and in Redis."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ccm_core.adapters.db import create_db_engine, session_factory
from ccm_core.adapters.guard import DatabaseGuard, RedisGuard, hashed
from ccm_core.service_layer.ports import Guard, GuardUnavailable
from tests.conftest import empty_database

REDIS_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def guard(request: pytest.FixtureRequest, clock, tmp_path: Path) -> Iterator[Guard]:
    if request.param != "redis":
        engine = create_db_engine(empty_database(request, request.param, tmp_path))
        yield DatabaseGuard(session_factory(engine), clock=clock)
        engine.dispose()
        return
    prefix = f"ccm-test-{uuid.uuid4().hex[:8]}"
    store = RedisGuard(REDIS_URL, prefix=prefix)
    try:
        store.redis.ping()
    except redis.ConnectionError as down:
        pytest.fail(f"Redis at {REDIS_URL} is not reachable ({down}); start it.", pytrace=False)
    yield store
    for key in store.redis.scan_iter(f"{prefix}:*"):
        store.redis.delete(key)


def test_a_delivery_is_taken_once_and_ignored_when_it_comes_again(guard: Guard) -> None:
    assert guard.claim("telegram:1001") is True
    assert guard.claim("telegram:1001") is False  # being handled by someone else
    assert guard.done("telegram:1001") is False  # not yet: a copy is to be refused, not ignored
    guard.finish("telegram:1001")
    assert guard.claim("telegram:1001") is False  # done
    assert guard.done("telegram:1001") is True
    assert guard.claim("telegram:1002") is True


def test_redis_out_of_reach_is_said_as_the_ports_error() -> None:
    unreachable = RedisGuard("redis://127.0.0.1:9/0")  # nothing listens there
    for call in (
        lambda: unreachable.claim("telegram:1"),
        lambda: unreachable.done("telegram:1"),
        lambda: unreachable.finish("telegram:1"),
        lambda: unreachable.release("telegram:1"),
        lambda: unreachable.allow("rate:telegram:1", 5),
    ):
        with pytest.raises(GuardUnavailable):
            call()


def test_a_failed_delivery_can_be_taken_again(guard: Guard) -> None:
    assert guard.claim("whatsapp:wamid.A") is True
    guard.release("whatsapp:wamid.A")
    assert guard.claim("whatsapp:wamid.A") is True


def test_of_many_replicas_taking_the_same_delivery_exactly_one_wins(guard: Guard) -> None:
    barrier = threading.Barrier(6)
    results: list[bool] = []

    def take() -> None:
        barrier.wait()
        results.append(guard.claim("telegram:7"))

    threads = [threading.Thread(target=take) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 5 + [True]


def test_the_rate_limit_counts_per_sender(guard: Guard) -> None:
    allowed = [guard.allow("rate:telegram:1", limit=3) for _ in range(5)]
    assert allowed == [True, True, True, False, False]
    assert guard.allow("rate:telegram:2", limit=3) is True


def test_a_crashed_replica_lets_its_lease_run_out(engine, clock) -> None:
    guard = DatabaseGuard(session_factory(engine), clock=clock)
    assert guard.claim("telegram:9", lease_seconds=30) is True
    clock.advance(seconds=31)
    assert guard.claim("telegram:9") is True


def test_the_rate_window_resets(engine, clock) -> None:
    guard = DatabaseGuard(session_factory(engine), clock=clock)
    assert [guard.allow("rate:web:s", limit=1) for _ in range(2)] == [True, False]
    clock.advance(seconds=60)
    assert guard.allow("rate:web:s", limit=1) is True


def test_keys_are_stored_hashed(engine) -> None:
    guard = DatabaseGuard(session_factory(engine))
    guard.claim("whatsapp:+905321112233")
    with engine.connect() as connection:
        stored = [row[0] for row in connection.exec_driver_sql("SELECT key FROM inbound_deliveries")]
    assert stored == [hashed("whatsapp:+905321112233")]
    assert "905321112233" not in stored[0]
