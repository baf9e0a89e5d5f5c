"""Wiring: from settings to a unit-of-work factory, the one thing every entry point needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from ccm_core.adapters.db import create_db_engine, session_factory
from ccm_core.adapters.guard import DatabaseGuard, RedisGuard
from ccm_core.service_layer.ports import Guard
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import Settings, load_settings


@dataclass(frozen=True)
class Core:
    """The configured core: settings, the engine and a factory of units of work on it."""

    settings: Settings
    engine: Engine
    unit_of_work: Callable[[], UnitOfWork]

    def guard(self, redis_url: str | None) -> Guard:
        """De-duplication and rate limits: in Redis when the deployment has it, else in the database."""
        return RedisGuard(redis_url) if redis_url else DatabaseGuard(session_factory(self.engine))


def bootstrap(settings: Settings | None = None) -> Core:
    settings = settings or load_settings()
    engine = create_db_engine(settings.database_url)
    sessions = session_factory(engine)
    return Core(settings, engine, lambda: UnitOfWork(sessions, settings=settings))
