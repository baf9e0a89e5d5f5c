"""The migrations build exactly the schema the model declares, and the newest one can be undone."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from ccm_core.adapters import guard  # noqa: F401 - its tables belong to the model too
from ccm_core.adapters.migrations import alembic_config, upgrade
from ccm_core.adapters.tables import METADATA


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, METADATA)


def test_the_migrated_schema_matches_the_model(engine: Engine) -> None:
    assert _differences(engine) == []


def test_the_newest_migration_goes_down_and_up_again(engine: Engine, database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "-1")
    assert _differences(engine) != []  # the model is ahead of the schema now
    upgrade(database_url)
    assert _differences(engine) == []
