"""Page tests: a seeded SQLite store per test and AppTest runs of the real entry script."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from services.console import open_console
from services.ingest import ingest_events
from services.settings import load_settings
from tests.app.seed import seed_events

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "app" / "main.py"
TIMEOUT = 30  # the first run opens and migrates the store


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """No console (or anything else cached) leaks from one test to the next."""
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def seeded_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite store holding ``tests.app.seed`` events; Q2C_DATABASE_URL points at it."""
    url = f"sqlite:///{tmp_path / 'pages.db'}"
    console = open_console(load_settings(database_url=url))
    summary = ingest_events(engine=console.engine, events=seed_events(), settings=console.settings)
    assert summary.accepted == len(seed_events()), summary.to_dict()
    console.engine.dispose()
    monkeypatch.setenv("Q2C_DATABASE_URL", url)
    monkeypatch.setenv("Q2C_SAMPLE_DATA_DIR", str(tmp_path / "no-sample-data"))
    return url


OpenPage = Callable[..., AppTest]


@pytest.fixture
def open_page(seeded_url: str) -> OpenPage:
    """Run ``app/main.py`` on one page (``explorer``, ``trace``, ``ingest``) with a URL query."""

    def run(page: str = "explorer", **query: str) -> AppTest:
        at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
        for name, value in query.items():
            at.query_params[name] = value
        if page != "explorer":
            at.switch_page(f"../pages/{page}.py")
        at.run()
        return at

    return run


def plain(markdown: str) -> str:
    """Markdown with its backslash escapes removed: the text the user reads."""
    return re.sub(r"\\(.)", r"\1", markdown)


def rendered_text(at: AppTest) -> str:
    """Everything a user could read on the page, as one string (for 'not shown' checks)."""
    parts: list[str] = []
    for node in at.main:
        _collect(node, parts)
    for node in at.sidebar:
        _collect(node, parts)
    return "\n".join(parts)


def _collect(node: object, parts: list[str]) -> None:
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        label = getattr(getattr(node, "proto", None), "label", None)
        if isinstance(label, str):
            parts.append(label)
        for child in children.values():
            _collect(child, parts)
        return
    try:
        value = getattr(node, "value", None)
    except Exception:  # some elements have no readable value
        value = None
    if isinstance(value, str):
        parts.append(value)
    proto = getattr(node, "proto", None)
    if proto is not None:
        parts.append(str(proto))  # every field, labels and help texts included
