"""The real assistant for conversation tests: Rasa's server and our action server, as processes.

Both run against their own fresh, migrated and seeded PostgreSQL database (the action
server's core and Rasa's SQL tracker store). The Rasa environment and model come from
``make``; without them these tests fail and say so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from ccm_core.adapters.db import create_db_engine, session_factory
from ccm_core.service_layer.organisation import seed_organisation
from ccm_core.service_layer.unit_of_work import UnitOfWork
from ccm_core.settings import DEMO_ORGANISATION, Settings
from channels.rasa import AssistantUnavailable, RasaClient, running_assistant
from tests.conftest import fresh_postgres_database


@dataclass
class Assistant:
    rasa: RasaClient
    settings: Settings
    engine: Engine

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(session_factory(self.engine), settings=self.settings)


@pytest.fixture(scope="session")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Assistant]:
    workdir = tmp_path_factory.mktemp("assistant")
    with fresh_postgres_database("assistant") as database_url:
        settings = Settings(data_dir=workdir, database_url=database_url)
        engine = create_db_engine(database_url)
        seed_organisation(UnitOfWork(session_factory(engine), settings=settings), DEMO_ORGANISATION)
        try:
            with running_assistant(database_url, workdir) as rasa:
                yield Assistant(rasa, settings, engine)
        except AssistantUnavailable as missing:
            pytest.fail(str(missing), pytrace=False)
        finally:
            engine.dispose()
