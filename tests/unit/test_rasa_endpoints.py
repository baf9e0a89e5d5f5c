"""Rasa's ``endpoints.yml`` as the product writes it: with Redis, replicas share conversations safely."""

from __future__ import annotations

from pathlib import Path

from ccm_core.settings import CoreSettings
from channels.rasa import LOCK_STORE, TRACKER_STORE, endpoints
from channels.settings import AssistantSettings

RASA_PROJECT = Path(__file__).resolve().parents[2] / "rasa_project"


def test_with_redis_the_tracker_is_kept_there_and_turns_are_ordered_by_our_lock_store(tmp_path: Path) -> None:
    core = CoreSettings(data_dir=tmp_path, redis_url="redis://:s3cret@cache.internal:6380/4")

    config = endpoints(core, AssistantSettings())

    redis = {"url": "cache.internal", "port": 6380, "db": 4, "password": "s3cret", "key_prefix": "ccm"}
    assert config["tracker_store"] == {"type": TRACKER_STORE, **redis}  # not Rasa's "redis": its turns grow
    assert config["lock_store"] == {"type": LOCK_STORE, **redis}  # not Rasa's "redis" (RasaHQ/rasa#9213)
    module, _, name = LOCK_STORE.rpartition(".")  # imported by the Rasa server, which runs in rasa_project
    assert f"class {name}(LockStore):" in (RASA_PROJECT / f"{module.replace('.', '/')}.py").read_text()


def test_without_redis_one_rasa_server_keeps_its_conversations_in_sql_and_its_locks_in_memory(
    tmp_path: Path,
) -> None:
    config = endpoints(CoreSettings(data_dir=tmp_path), AssistantSettings())

    assert config["tracker_store"]["type"] == "SQL"
    assert "lock_store" not in config
