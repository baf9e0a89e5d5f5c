"""Shared fixtures: every repository and service test runs on SQLite and on PostgreSQL.

PostgreSQL is the server named by ``CCM_TEST_POSTGRES_URL`` (default: the local
server's ``test`` database). Each test run creates its own database there and
drops it afterwards, so parallel runs do not meet. When the server is not
reachable the PostgreSQL tests fail with that reason; they are never skipped.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine

from ccm_core.adapters.db import create_db_engine, normalise_url, session_factory
from ccm_core.adapters.migrations import upgrade
from ccm_core.adapters.tables import METADATA
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import DEMO_ORGANISATION, CoreSettings
from tests.harness import AssistantUnavailable, RasaClient, running_assistant

# One signing key for the test run and every process it starts, as replicas share one in production
# (the key a core makes for itself when none is set is tested on its own in tests/unit/test_settings.py).
os.environ.setdefault("CCM_SECRET_KEY", secrets.token_urlsafe(32))

POSTGRES_ADMIN_URL = os.environ.get(
    "CCM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
START = dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC)  # a Monday morning


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with the servers it needs, so a run can leave them out (``make test-fast``).

    Read from what the test uses: a database parameter of "postgresql" or "redis", the
    ``postgres_url`` or ``assistant`` fixtures, or the browser folder; modules that start
    their own servers declare it with ``pytestmark``.
    """
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = set(map(str, callspec.params.values())) if callspec else set()
        needs: set[str] = set()
        if "postgresql" in params or "postgres_url" in fixtures:
            needs.add("postgres")
        if "redis" in params:
            needs.add("redis")
        if "assistant" in fixtures:
            needs |= {"rasa", "postgres"}
        if "browser" in item.path.parts:
            needs |= {"browser", "rasa", "postgres"}
        for need in sorted(needs - {mark.name for mark in item.iter_markers()}):
            item.add_marker(need)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: dt.datetime = START) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@contextmanager
def fresh_postgres_database(purpose: str) -> Iterator[str]:
    """A new, migrated PostgreSQL database on the test server, dropped afterwards."""
    admin_url = normalise_url(POSTGRES_ADMIN_URL)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"ccm_{purpose}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL at {make_url(admin_url).render_as_string(hide_password=True)} is not reachable "
            f"({type(exc).__name__}); start it or set CCM_TEST_POSTGRES_URL.",
            pytrace=False,
        )
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test run."""
    with fresh_postgres_database("test") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies, so migrations run once per session."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database of each kind."""
    return empty_database(request, request.param, tmp_path)


def empty_database(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        path = tmp_path / "ccm.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    _truncate_all(url)
    return url


def _truncate_all(url: str) -> None:
    engine = create_engine(normalise_url(url))
    tables = ", ".join(f'"{table.name}"' for table in METADATA.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> CoreSettings:
    return CoreSettings(data_dir=tmp_path, database_url=database_url)


@pytest.fixture
def make_uow(engine: Engine, settings: CoreSettings, clock: Clock) -> Callable[[], UnitOfWork]:
    factory = session_factory(engine)
    return lambda: UnitOfWork(factory, settings=settings, clock=clock)


@pytest.fixture
def uow(make_uow: Callable[[], UnitOfWork]) -> UnitOfWork:
    """A unit of work on a database seeded with the demo organisation."""
    unit = make_uow()
    seed_organisation(unit, DEMO_ORGANISATION)
    return unit


# --- the real assistant (Rasa server and action server), shared by every conversation test ---


@dataclass
class Assistant:
    rasa: RasaClient
    settings: CoreSettings
    engine: Engine

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(session_factory(self.engine), settings=self.settings)


@pytest.fixture(scope="session")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    workdir = tmp_path_factory.mktemp("assistant")
    with fresh_postgres_database("assistant") as database_url:
        settings = CoreSettings(data_dir=workdir, database_url=database_url)
        engine = create_db_engine(database_url)
        seed_organisation(UnitOfWork(session_factory(engine), settings=settings), DEMO_ORGANISATION)
        try:
            with running_assistant(database_url, workdir) as rasa:
                yield Assistant(rasa, settings, engine)
        except AssistantUnavailable as missing:
            pytest.fail(str(missing), pytrace=False)
        finally:
            engine.dispose()
