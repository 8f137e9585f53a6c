"""The layer rules of the architecture: pages stay thin, services never know Streamlit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What pages/ and app/ may not touch: SQL, HTTP, and the store's internals.
UI_FORBIDDEN = (
    "sqlalchemy",
    "httpx",
    "requests",
    "simple_salesforce",
    "services.db",
    "services.models",
    "services.store",
    "services.queries",
    "services.systems",
    "services.sandbox",
)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", _files("services"), ids=lambda p: str(p.relative_to(ROOT)))
def test_services_never_import_streamlit_app_or_pages(path: Path) -> None:
    bad = {name for name in _imports(path) if name.split(".")[0] in {"streamlit", "app", "pages"}}
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", _files("pages") + _files("app"), ids=lambda p: p.name)
def test_pages_and_app_use_no_sql_or_http(path: Path) -> None:
    bad = {
        name
        for name in _imports(path)
        if any(name == f or name.startswith(f + ".") for f in UI_FORBIDDEN)
    }
    assert not bad, f"{path.parent.name}/{path.name} imports {sorted(bad)}"
