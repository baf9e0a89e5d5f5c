"""Wiring: from settings to a unit-of-work factory, the one thing every entry point needs."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from ccm_core.adapters.db import create_db_engine, session_factory
from ccm_core.adapters.guard import DatabaseGuard, RedisGuard
from ccm_core.service_layer.ports import Guard
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import CoreSettings


@dataclass(frozen=True)
class Core:
    """The configured core: settings, the engine and a factory of units of work on it."""

    settings: CoreSettings
    engine: Engine
    unit_of_work: Callable[[], UnitOfWork]

    def guard(self) -> Guard:
        """De-duplication and rate limits: in Redis when the deployment has it, else in the database."""
        if self.settings.redis_url:
            return RedisGuard(self.settings.redis_url)
        return DatabaseGuard(session_factory(self.engine))


def bootstrap(settings: CoreSettings | None = None) -> Core:
    """Start the core: the database engine, and the signing key when the operator set none."""
    settings = settings or CoreSettings()
    if not settings.secret_key:
        settings = settings.model_copy(update={"secret_key": local_secret(settings.data_dir)})
    engine = create_db_engine(settings.database_url)
    sessions = session_factory(engine)
    return Core(settings, engine, lambda: UnitOfWork(sessions, settings=settings))


def local_secret(data_dir: Path) -> str:
    """A key kept in the data directory, made on first use: enough for one machine.

    Several replicas must share one key: set ``CCM_SECRET_KEY`` for them.
    """
    path = data_dir / "secret.key"
    if not path.exists():
        # Written aside, then linked into place: processes starting together all read one key.
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".secret.key.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text().strip()
