"""Engines, sessions and migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from services.errors import StoreError
from services.settings import redact_url

__all__ = [
    "MIGRATIONS_DIR",
    "is_empty",
    "lock_writers",
    "make_engine",
    "migrate",
    "writer_connection",
]

WRITER = "q2c_writer"
WRITER_CACHE_KB = 65536
_PG_WRITER_LOCK = 0x51324301  # "Q2C" + 1: one advisory lock id for ingest writers
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin, so a
    # batch's reads and writes share one snapshot (see _sqlite_begin).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA cache_size=-16384")  # 16 MB of pages per connection
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    """Writers take the write lock up front (BEGIN IMMEDIATE): no stale snapshots."""
    writer = conn.get_execution_options().get(WRITER, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")


def writer_connection(engine: Engine) -> Connection:
    """A connection whose transactions serialise with every other writer.

    SQLite: ``BEGIN IMMEDIATE``. PostgreSQL: a transaction-scoped advisory lock,
    taken by :func:`lock_writers` at the start of each transaction.
    """
    conn = engine.connect().execution_options(**{WRITER: True})
    if conn.dialect.name == "sqlite":
        # Ingest touches index pages all over a large store; a bigger page cache for
        # the writer saves re-reading them (readers keep the default 16 MB). Set on
        # the driver connection: no transaction, so no write lock taken for it.
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KB}")
    return conn


def lock_writers(conn: Connection) -> None:
    """Serialise ingest writers on PostgreSQL (SQLite already did at BEGIN)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_WRITER_LOCK})")


def make_engine(url: str, *, check: bool = True) -> Engine:
    """An engine for ``url``: SQLite gets WAL and a busy timeout.

    Args:
        url: a SQLAlchemy URL (``sqlite:///q2c.db``, ``postgresql+psycopg://...``).
        check: open one connection now so an unreachable database fails here.

    Raises:
        StoreError: the URL is malformed or the database cannot be reached
            (the message shows the URL with its password hidden).
    """
    safe = redact_url(url)
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    except (ArgumentError, ImportError, ValueError) as exc:
        raise StoreError(f"database URL {safe} is not usable: {exc}") from None
    if check:
        try:
            with engine.connect():
                pass
        except (OperationalError, SQLAlchemyError) as exc:
            detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else ""
            raise StoreError(f"cannot reach the database at {safe}: {detail}") from None
    return engine


def migrate(engine: Engine) -> None:
    """Apply every Alembic migration up to head (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot migrate {redact_url(str(engine.url))}: {exc}") from None


def is_empty(engine: Engine) -> bool:
    """True when the store holds no events (or has no tables yet)."""
    if not inspect(engine).has_table("events"):
        return True
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT 1 FROM events LIMIT 1").first() is None
