"""Replay page: dry-run counts, start a bulk replay, approval by another admin, roles.

The store holds 12 copies of a tax outage (EUR), 3 of an ERP item typo (GBP), one
middleware failure (not replayable) and a tax step without an idempotency key.
The page runs on its own (``AppTest.from_file``) with the in-process sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from services.console import open_console
from services.ingest import ingest_events
from services.settings import load_settings
from tests.app.conftest import ROOT, plain
from tests.services.test_bulk import bulk_events

PAGE = ROOT / "pages" / "replay.py"
TAXES = 12


@pytest.fixture
def open_replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., AppTest]:
    url = f"sqlite:///{tmp_path / 'replay.db'}"
    console = open_console(load_settings(database_url=url))
    ingest_events(engine=console.engine, events=bulk_events(TAXES))
    console.engine.dispose()
    monkeypatch.setenv("Q2C_DATABASE_URL", url)
    monkeypatch.setenv("Q2C_SAMPLE_DATA_DIR", str(ROOT / "sample_data"))
    monkeypatch.setenv("Q2C_BULK_RATE_PER_SYSTEM", "100000")

    def run(name: str = "raj", role: str = "revops", system: str = "") -> AppTest:
        at = AppTest.from_file(str(PAGE), default_timeout=30)
        at.session_state["actor_name"] = name
        at.session_state["actor_role"] = role
        at.session_state["replay_system"] = system
        at.run()
        assert not at.exception
        return at

    return run


def dry_run(at: AppTest) -> AppTest:
    at.button(key="replay_dry_run").click().run()
    assert not at.exception
    return at


def start(at: AppTest, reason: str = "tax is back") -> AppTest:
    at.selectbox(key="replay_reason_code").select("transient_outage")
    at.text_area(key="replay_reason").input(reason)
    next(b for b in at.button if b.label == "Start bulk replay").click().run()
    assert not at.exception
    return at


def frame(at: AppTest, column: str):
    """The table with ``column``: plan ("reason"), runs ("requested by"), items ("outcome")."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_dry_run_shows_what_would_be_sent_skipped_and_blocked(open_replay) -> None:
    at = dry_run(open_replay())
    assert metrics(at) == {"Would send": str(TAXES + 3), "Skipped": "0", "Blocked": "2"}
    reasons = frame(at, "reason")
    assert sorted(reasons["state"]) == ["blocked", "blocked"]
    assert any("cannot be replayed" in r for r in reasons["reason"])
    assert all(t.startswith("trace?key=") for t in reasons["trace"])
    assert any("Needs approval" in w.value for w in at.warning)
    assert "No bulk replay yet." in [c.value for c in at.caption]


def test_revops_starts_a_small_run_and_sees_each_trace(open_replay, monkeypatch) -> None:
    monkeypatch.setenv("Q2C_BULK_APPROVAL_AMOUNT", "1e12")
    at = start(dry_run(open_replay(system="tax")))
    [done] = [w for w in at.warning if "sent" in w.value]  # warning: one blocked
    assert f"done; sent {TAXES}, succeeded {TAXES}, failed 0" in done.value
    items = frame(at, "outcome")
    assert len(items) == TAXES + 1 and (items["state"] == "succeeded").sum() == TAXES
    assert items["trace"].str.startswith("trace?key=").all()
    runs = frame(at, "requested by")
    assert list(runs["state"]) == ["done"] and list(runs["requested by"]) == ["raj"]


def test_a_large_run_is_approved_by_another_admin_only(open_replay) -> None:
    at = start(dry_run(open_replay(system="tax")))
    assert any("awaiting_approval" in plain(i.value) for i in at.info)
    assert not [b for b in at.button if b.label == "Approve and run"]  # revops may not

    bo = open_replay("bo", "admin")
    bo.button(key="replay_approve").click().run()
    assert not bo.exception
    assert any(f"succeeded {TAXES}" in s.value for s in bo.warning)
    runs = frame(bo, "requested by")
    assert list(runs["approved by"]) == ["bo"]


def test_the_requester_cannot_approve_their_own_run(open_replay) -> None:
    at = start(dry_run(open_replay("ada", "admin", system="tax")))
    at.button(key="replay_approve").click().run()
    assert not at.exception
    assert any(
        "ada requested" in plain(e.value) and "cannot approve it" in e.value for e in at.error
    )
    assert list(frame(at, "requested by")["state"]) == ["awaiting_approval"]


def test_a_viewer_sees_counts_but_no_way_to_act(open_replay) -> None:
    at = dry_run(open_replay("fin", "viewer"))
    assert metrics(at)["Would send"] == str(TAXES + 3)
    assert any("may not start a bulk replay" in i.value for i in at.info)
    assert not [b for b in at.button if b.label == "Start bulk replay"]


def test_cancel_a_run_waiting_for_approval(open_replay) -> None:
    at = start(dry_run(open_replay(system="tax")))
    at.button(key="replay_cancel").click().run()
    assert not at.exception
    assert list(frame(at, "requested by")["state"]) == ["cancelled"]
