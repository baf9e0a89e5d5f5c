"""The Rasa server as the product runs it: its endpoints from our settings.

Rasa keeps conversations in a SQL tracker store of the same database family as the core
(a SQLite file beside ``ccm.db`` by default, the same PostgreSQL server in production),
or in Redis when ``CCM_REDIS_URL`` is set, so several Rasa replicas can serve the same
conversations. There our tracker store (``rasa_project/server/tracker_store.py``) reads a
turn's latest session only (Rasa's own reads and rewrites the whole history every turn), and the
Rasa servers take turns on a conversation through our lock store (``rasa_project/server/
lock_store.py``): Rasa's own ``redis`` lock store lets two servers handle one conversation's
messages at once, or fails one (RasaHQ/rasa#9213).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from sqlalchemy import make_url

from ccm_core.settings import CoreSettings
from channels.settings import AssistantSettings

# Imported by the Rasa server, which runs in rasa_project/ with it on PYTHONPATH.
LOCK_STORE = "server.lock_store.FifoRedisLockStore"
TRACKER_STORE = "server.tracker_store.SessionRedisTrackerStore"


def rasa_server(rasa_bin: str) -> list[str]:
    """The Rasa server's command up to ``run`` and its options: Rasa's own command line with the product's
    changes to the server installed first (``rasa_project/server/__main__.py``), by the Python of Rasa's
    environment. It runs in rasa_project/ with it on PYTHONPATH, as the lock store does."""
    return [str(Path(rasa_bin).with_name("python")), "-m", "server"]


def tracker_store(
    core: CoreSettings, assistant: AssistantSettings, key_prefix: str = "ccm"
) -> dict[str, Any]:
    """Rasa's tracker store: Redis when configured, else SQL next to the core's database."""
    if core.redis_url:  # keys <prefix>:events:<id> and <prefix>:session:<id>
        return {"type": TRACKER_STORE, **_redis(core.redis_url), "key_prefix": key_prefix}
    url = make_url(assistant.rasa_tracker_url or core.database_url)
    if url.get_backend_name() == "sqlite":
        database = Path(url.database or core.data_dir / "ccm.db")
        return {
            "type": "SQL",
            "dialect": "sqlite",
            "db": str(database.with_name("rasa-tracker.db").resolve()),
        }
    store = {"type": "SQL", "dialect": "postgresql", "url": url.host or "127.0.0.1", "db": url.database}
    store.update({"port": url.port} if url.port else {})
    store.update({"username": url.username} if url.username else {})
    store.update({"password": url.password} if url.password else {})
    return store


def _redis(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    config: dict[str, Any] = {"url": parts.hostname or "127.0.0.1", "port": parts.port or 6379}
    config["db"] = int(parts.path.strip("/") or 0)
    if parts.password:
        config["password"] = parts.password
    return config


def endpoints(core: CoreSettings, assistant: AssistantSettings, key_prefix: str = "ccm") -> dict[str, Any]:
    """The content of Rasa's ``endpoints.yml``: our action server, the tracker store, the lock store.

    ``key_prefix`` starts the keys of the stores in Redis (tests keep each run's apart with it).
    """
    config: dict[str, Any] = {
        "action_endpoint": {"url": assistant.action_server_url},
        "tracker_store": tracker_store(core, assistant, key_prefix),
    }
    if core.redis_url:
        config["lock_store"] = {"type": LOCK_STORE, **_redis(core.redis_url), "key_prefix": key_prefix}
    return config


def write_endpoints(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


if __name__ == "__main__":
    deployment = endpoints(CoreSettings(), AssistantSettings())
    print(write_endpoints(Path(sys.argv[1] if len(sys.argv) > 1 else "var/rasa/endpoints.yml"), deployment))
