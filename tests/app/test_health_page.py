"""Health page: window from the URL, KPI row, charts, CSV downloads, alerts, bad windows."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.conftest import MAIN, ROOT, TIMEOUT, OpenPage, plain, rendered_text
from tests.app.seed import EXPECTED_COUNTS

PAGE = ROOT / "pages" / "health.py"
REGISTERED = (
    "health.py" in MAIN.read_text() or "health.py" in (ROOT / "app" / "routes.py").read_text()
)


@pytest.fixture
def open_health(seeded_url: str, open_page: OpenPage):
    """The page through app/main.py once registered there; until then the page file alone."""

    def run(**query: str) -> AppTest:
        if REGISTERED:
            return open_page("health", **query)
        at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
        for name, value in query.items():
            at.query_params[name] = value
        at.run()
        return at

    return run


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_a_window_from_the_url_shows_kpis_charts_tables_and_alerts(open_health) -> None:
    at = open_health(since="2026-05-01")
    assert not at.exception
    shown = metrics(at)
    assert shown["Transactions"] == str(sum(EXPECTED_COUNTS.values()))
    assert shown["Failed"] == str(EXPECTED_COUNTS["failed"])
    assert shown["Stuck"] == str(EXPECTED_COUNTS["stuck"])
    assert at.selectbox(key="health_preset").value == "custom"
    assert at.text_input(key="health_since").value == "2026-05-01"
    assert len(at.get("plotly_chart")) >= 6
    labels = [b.proto.label for b in at.get("download_button")]
    for name in ("status counts", "success rates", "latency", "backlog", "errors", "alerts"):
        assert f"Download {name} (CSV)" in labels
    text = plain(rendered_text(at))
    assert "PERIOD_CLOSED" in text and "Alerts" in [h.value for h in at.subheader]


def test_a_preset_replaces_the_window(open_health) -> None:
    at = open_health(since="2026-05-01")
    at.selectbox(key="health_preset").set_value("").run()
    assert not at.exception
    assert metrics(at)["Transactions"] == str(sum(EXPECTED_COUNTS.values()))
    assert "since" not in at.query_params


def test_a_window_with_no_data(open_health) -> None:
    at = open_health(since="2030-01-01", until="2030-02-01")
    assert not at.exception
    assert [i.value for i in at.info][-1] == "No transaction was active in this window."
    assert not at.metric


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "2026-05-12", "until": "2026-05-11"}, "Since (2026-05-12T00:00:00Z) is after"),
        ({"since": "yesterday-ish"}, "Since: cannot read 'yesterday-ish' as a time"),
    ],
)
def test_bad_windows_are_one_line_errors(open_health, query: dict[str, str], message: str) -> None:
    at = open_health(**query)
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value
    assert not at.metric


def test_an_empty_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("Q2C_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("Q2C_SAMPLE_DATA_DIR", str(tmp_path / "none"))
    at = AppTest.from_file(str(PAGE), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert [i.value for i in at.info] == ["The store holds no events yet."]
    assert at.subheader[0].value == "Alerts"
