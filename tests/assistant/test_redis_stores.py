"""Several Rasa replicas share conversations through Redis: the tracker and lock stores live there.

The Rasa server here runs on a Redis of its own (``tests.harness.RedisServer``), so a test can stop
it as a crash would and start it again.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from ccm_core.adapters.db import create_db_engine, session_factory
from ccm_core.adapters.migrations import upgrade
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from channels.inbound import AsyncRasa
from tests.harness import AssistantUnavailable, RasaClient, RedisServer, redis_server, running_assistant

pytestmark = [pytest.mark.postgres, pytest.mark.rasa, pytest.mark.redis]


@dataclass
class AssistantOnRedis:
    rasa: RasaClient
    redis: RedisServer
    store: redis.Redis
    rasa_log: Path


@pytest.fixture(scope="module")
def assistant_on_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AssistantOnRedis]:
    workdir: Path = tmp_path_factory.mktemp("assistant-redis")
    database_url = f"sqlite:///{workdir / 'ccm.db'}"
    upgrade(database_url)
    engine = create_db_engine(database_url)
    seed_organisation(
        UnitOfWork(
            session_factory(engine), settings=CoreSettings(data_dir=workdir, database_url=database_url)
        ),
        DEMO_ORGANISATION,
    )
    engine.dispose()
    with redis_server(workdir / "redis") as server:
        store = redis.Redis.from_url(server.url, decode_responses=True)
        try:
            with running_assistant(database_url, workdir, env={"CCM_REDIS_URL": server.url}) as rasa:
                yield AssistantOnRedis(rasa, server, store, workdir / "rasa.log")
        except AssistantUnavailable as missing:
            pytest.fail(str(missing), pytrace=False)
        finally:
            store.close()


def customer() -> str:
    return f"customer-{uuid.uuid4().hex[:12]}"


def test_the_conversation_is_kept_in_redis(assistant_on_redis: AssistantOnRedis) -> None:
    rasa, store = assistant_on_redis.rasa, assistant_on_redis.store
    sender = customer()
    replies = rasa.say(sender, "Merhaba")
    assert replies and "şikayet asistanı" in replies[0]["text"]

    events = [json.loads(event) for event in store.lrange(f"ccm:events:{sender}", 0, -1)]
    assert any(e.get("event") == "user" and e.get("text") == "Merhaba" for e in events)
    assert any(
        e.get("event") == "slot" and e.get("name") == "language" and e.get("value") == "tr" for e in events
    )
    said = [e["text"] for e in rasa.events(sender) if e.get("event") == "user"]
    assert said == ["Merhaba"]  # Rasa's tracker API reads the same store
    assert not list(store.scan_iter("tracker:*"))  # nothing under Rasa's default prefix: ours is used


def test_a_message_while_redis_is_down_is_refused_with_503_and_answered_once_it_is_back(
    assistant_on_redis: AssistantOnRedis,
) -> None:
    rasa, server = assistant_on_redis.rasa, assistant_on_redis.redis
    sender = customer()
    assert rasa.say(sender, "Merhaba")
    server.stop()
    try:
        with pytest.raises(httpx.HTTPStatusError) as refused:
            rasa.say(sender, "Kargom gelmedi")
        assert refused.value.response.status_code == 503  # the product releases it; the platform retries
    finally:
        server.start()
    assert rasa.say(sender, "Kargom gelmedi")
    said = [e["text"] for e in rasa.events(sender) if e.get("event") == "user"]
    assert said == ["Merhaba", "Kargom gelmedi"]  # the first attempt left nothing behind
    assert "Kargom gelmedi" not in assistant_on_redis.rasa_log.read_text(errors="replace")


def everything_in(store: redis.Redis) -> str:
    """Every key of the Redis and every value under it, as text: what a search of the store sees."""
    found = []
    for key in store.scan_iter():
        kind = store.type(key)
        if kind == "string":
            value: object = store.get(key)
        elif kind == "list":
            value = store.lrange(key, 0, -1)
        elif kind == "hash":
            value = store.hgetall(key)
        elif kind == "zset":
            value = store.zrange(key, 0, -1)
        else:
            value = store.smembers(key)
        found.append(f"{key} {value}")
    return "\n".join(found)


def test_an_erased_conversation_leaves_nothing_of_the_customer_in_redis(
    assistant_on_redis: AssistantOnRedis,
) -> None:
    rasa, store = assistant_on_redis.rasa, assistant_on_redis.store
    sender = f"whatsapp:+4915112345{uuid.uuid4().int % 1000:03d}"
    for text in ("Hello", "My name is Jane Roe, jane.roe@example.org", "the parcel arrived crushed"):
        rasa.say(sender, text)
    other = customer()
    rasa.say(other, "Merhaba")
    assert "jane.roe@example.org" in everything_in(store)

    asyncio.run(erase(rasa.url, sender))

    kept = everything_in(store)
    for trace in ("jane.roe@example.org", "Jane Roe", "crushed", sender.split(":")[1]):
        assert trace not in kept
    # The assistant starts afresh if the customer writes again.
    assert [e for e in rasa.events(sender) if e.get("event") == "user"] == []
    assert [e["text"] for e in rasa.events(other) if e.get("event") == "user"] == ["Merhaba"]


async def erase(url: str, sender: str) -> None:
    """As the worker's erasure task does it."""
    client = AsyncRasa(url)
    try:
        await client.erase(sender)
    finally:
        await client.aclose()
