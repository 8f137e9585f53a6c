"""Shared fixtures: a clean environment, a real database per test (SQLite file, and
PostgreSQL when ``Q2C_TEST_POSTGRES_URL`` is set; required under ``CI=true``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from services.connections import open_systems
from services.console import Console, open_console
from services.settings import get_settings, load_settings
from services.systems.registry import BuildEnv
from services.validation.service import Validation

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("Q2C_TEST_POSTGRES_URL")
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No Q2C_* variable leaks into a test; settings are rebuilt each time."""
    for name in list(os.environ):
        if name.startswith("Q2C_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _postgres_url() -> str:
    if not PG_URL:
        if IN_CI:
            pytest.fail("CI=true but Q2C_TEST_POSTGRES_URL is not set: PostgreSQL tests must run")
        pytest.skip(
            "PostgreSQL tests need Q2C_TEST_POSTGRES_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)"
        )
    return PG_URL


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test; dropped afterwards."""
    base = _postgres_url()
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        if IN_CI:
            raise
        pytest.skip(f"PostgreSQL at Q2C_TEST_POSTGRES_URL is not reachable: {exc}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'q2c.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'q2c.db'}"


@pytest.fixture
def console(db_url: str) -> Iterator[Console]:
    c = open_console(load_settings(database_url=db_url))
    yield c
    c.engine.dispose()


@pytest.fixture
def v(db_url: str) -> Iterator[Validation]:
    """Order validation against the sample data and a sandbox that never sleeps."""
    settings = load_settings(database_url=db_url, sample_data_dir=str(ROOT / "sample_data"))
    console = open_console(settings)
    systems = open_systems(settings, BuildEnv(sleep=lambda s: None))
    assert systems.sandbox is not None
    systems.sandbox.sleep = lambda s: None
    yield Validation(console, systems)
    console.engine.dispose()
