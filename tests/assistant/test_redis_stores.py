"""Several Rasa replicas share conversations through Redis: the tracker and lock stores live there."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ccm_core.adapters.db import create_db_engine, session_factory
from ccm_core.adapters.migrations import upgrade
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from tests.harness import AssistantUnavailable, RasaClient, running_assistant

pytestmark = [pytest.mark.postgres, pytest.mark.rasa, pytest.mark.redis]

REDIS_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture(scope="module")
def assistant_on_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RasaClient, redis.Redis]]:
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
    store = redis.Redis.from_url(REDIS_URL)
    store.flushdb()
    try:
        with running_assistant(database_url, workdir, env={"CCM_REDIS_URL": REDIS_URL}) as rasa:
            yield rasa, store
    except AssistantUnavailable as missing:
        pytest.fail(str(missing), pytrace=False)
    finally:
        store.flushdb()
        store.close()


def test_the_conversation_is_kept_in_redis(assistant_on_redis: tuple[RasaClient, redis.Redis]) -> None:
    rasa, store = assistant_on_redis
    sender = f"customer-{uuid.uuid4().hex[:12]}"
    replies = rasa.say(sender, "Merhaba")
    assert replies and "şikayet asistanı" in replies[0]["text"]

    stored = store.get(f"ccm:tracker:{sender}")
    assert stored is not None
    events = json.loads(stored)["events"]
    assert any(e.get("event") == "user" and e.get("text") == "Merhaba" for e in events)
    assert any(
        e.get("event") == "slot" and e.get("name") == "language" and e.get("value") == "tr" for e in events
    )
    assert not list(store.scan_iter("tracker:*"))  # nothing under Rasa's default prefix: ours is used
