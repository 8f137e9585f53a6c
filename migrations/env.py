"""Alembic environment: runs on the connection handed in by services.db.migrate,
or on ``sqlalchemy.url`` / ``Q2C_DATABASE_URL`` when run from the alembic CLI."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from services.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from services.settings import get_settings

    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    with create_engine(url).begin() as conn:
        _run(conn)
