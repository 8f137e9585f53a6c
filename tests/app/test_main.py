"""The entry script: navigation, the demo banner, one-line errors instead of tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import MAIN, TIMEOUT, plain, rendered_text
from tests.factories import flow_events


def _run_main() -> AppTest:
    return AppTest.from_file(str(MAIN), default_timeout=TIMEOUT).run()


def test_embedded_default_shows_demo_banner_naming_the_database(seeded_url: str) -> None:
    at = _run_main()

    assert not at.exception
    banner = " ".join(i.value for i in at.info)
    assert "Demo data" in banner
    assert seeded_url in banner
    assert [t.value for t in at.title] == ["Explorer"]


def test_banner_is_on_every_page(open_page) -> None:
    for page in ("explorer", "trace", "ingest"):
        at = open_page(page)
        assert not at.exception, page
        assert any("Demo data" in i.value for i in at.info), page


def test_live_systems_are_not_demo(seeded_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Q2C_SYSTEMS", "live")

    at = _run_main()

    assert not at.exception
    assert not any("Demo data" in i.value for i in at.info)


def test_unreachable_postgres_is_one_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("Q2C_DATABASE_URL", "postgresql+psycopg://u:secret@127.0.0.1:1/x")

    at = _run_main()

    assert not at.exception
    assert len(at.error) == 1
    message = plain(at.error[0].value)
    assert "\n" not in message
    assert "127.0.0.1" in message
    shown = rendered_text(at)
    assert "u:***@127.0.0.1:1/x" in plain(shown)  # the helper sees the error text ...
    assert "secret" not in shown  # ... and the password is nowhere
    assert not at.title  # no page ran


def test_invalid_setting_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Q2C_STUCK_AFTER_MINUTES", "soon")

    at = _run_main()

    assert not at.exception
    assert len(at.error) == 1
    assert "Q2C_STUCK_AFTER_MINUTES" in plain(at.error[0].value)
    assert "\n" not in at.error[0].value


def test_empty_embedded_store_loads_sample_data_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample = tmp_path / "sample"
    sample.mkdir()
    steps = [("salesforce", "opportunity.closed_won"), ("middleware", "order.validate")]
    events = flow_events("o2c-sample", steps, fail_last=True, keys={"order_number": "SO-1"})
    (sample / "events.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    monkeypatch.setenv("Q2C_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("Q2C_SAMPLE_DATA_DIR", str(sample))

    at = _run_main()
    at.run()  # a rerun must not load it again

    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Failed"] == "1"
    assert len(at.dataframe[0].value) == 1
