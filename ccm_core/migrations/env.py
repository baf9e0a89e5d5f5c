"""Alembic environment: migrates the database named in the Alembic config (set by ``ccm db upgrade``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from ccm_core.adapters.db import create_db_engine
from ccm_core.adapters.tables import METADATA

config = context.config


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("No database to migrate: set sqlalchemy.url (ccm db upgrade does).")
    engine = create_db_engine(url)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
