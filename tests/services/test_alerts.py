"""Alert rules: evaluated, posted once per change, resolved, retried when the webhook is down."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from services.alerts import AlertCheckOut, check_alerts, load_alert_rules
from services.console import Console
from services.errors import SettingsError
from services.ingest import ingest_events
from services.triage.models import AlertState
from tests.services.test_health import NOW, SLA, STUCK, fixture_events

URL = "https://hooks.example.com/services/T000/SECRET"


class Webhook:
    """A webhook receiver that records posts; ``down`` makes it refuse connections."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        self.posts.append(json.loads(request.content))
        return httpx.Response(200, json={"ok": True})


def write_rules(tmp_path: Path, rules: list[dict[str, Any]], name: str = "rules.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"rules": rules}))
    return path


@pytest.fixture
def engine(console: Console) -> Engine:
    ingest_events(engine=console.engine, events=fixture_events())
    return console.engine


Check = Callable[..., AlertCheckOut]


@pytest.fixture
def check(engine: Engine, tmp_path: Path) -> Check:
    hook = Webhook()

    def run(rules: Path, *, now: datetime = NOW, url: str | None = URL) -> AlertCheckOut:
        with httpx.Client(transport=httpx.MockTransport(hook)) as client:
            return check_alerts(
                engine=engine,
                rules=load_alert_rules(rules),
                flows=["payment", "renewal", "amendment"],
                stuck_after=STUCK,
                sla_minutes=SLA,
                webhook_url=url,
                client=client,
                now=now,
            )

    run.hook = hook  # type: ignore[attr-defined]
    return run


STUCK_RULE = {"id": "stuck", "metric": "stuck", "op": ">", "threshold": 0, "title": "Stuck"}


def test_default_rules_load() -> None:
    rules = load_alert_rules()
    assert {r.metric for r in rules} == {"failures", "stuck", "success_rate", "money_at_risk"}


def test_values_of_every_metric(check: Check, tmp_path: Path) -> None:
    rules = write_rules(tmp_path, [
        {"id": "fail", "metric": "failures", "flow": "*", "window_minutes": 180, "threshold": 0},
        STUCK_RULE,
        {"id": "rate", "metric": "success_rate", "op": "<", "threshold": 60, "min_count": 3},
        {"id": "usd", "metric": "money_at_risk", "currency": "USD", "threshold": 30},
        {"id": "eur", "metric": "money_at_risk", "currency": "EUR", "threshold": 1000},
    ])  # fmt: skip
    out = check(rules, url=None)
    got = {a.rule_id: (a.value, a.firing) for a in out.alerts}
    assert got == {
        "fail:amendment": ("0", False),
        "fail:payment": ("1", True),
        "fail:renewal": ("0", False),
        "stuck": ("1", True),
        "rate": ("57.14", True),
        "usd": ("30.30", True),
        "eur": ("300.30", False),
    }
    assert check.hook.posts == []  # type: ignore[attr-defined]


def test_posts_once_while_firing_then_resolved(
    check: Check, engine: Engine, tmp_path: Path
) -> None:
    hook: Webhook = check.hook  # type: ignore[attr-defined]
    rules = write_rules(tmp_path, [STUCK_RULE])
    first = check(rules)
    assert [(a.rule_id, a.firing, a.posted) for a in first.alerts] == [("stuck", True, "firing")]
    assert [(p["rule_id"], p["status"], p["value"]) for p in hook.posts] == [
        ("stuck", "firing", "1")
    ]
    second = check(rules, now=NOW + timedelta(minutes=5))
    assert second.alerts[0].firing and second.alerts[0].posted is None
    assert len(hook.posts) == 1
    cleared = write_rules(tmp_path, [STUCK_RULE | {"threshold": 5}], "cleared.json")
    third = check(cleared, now=NOW + timedelta(minutes=10))
    assert third.alerts[0].posted == "resolved" and not third.firing
    assert [p["status"] for p in hook.posts] == ["firing", "resolved"]
    with engine.connect() as conn:
        state = conn.execute(select(AlertState)).one()
    assert (state.firing, state.post_pending, state.last_error) == (False, False, None)
    assert state.since == NOW + timedelta(minutes=10)


def test_webhook_down_is_reported_and_retried(check: Check, tmp_path: Path) -> None:
    hook: Webhook = check.hook  # type: ignore[attr-defined]
    rules = write_rules(tmp_path, [STUCK_RULE])
    hook.down = True
    out = check(rules)
    assert out.alerts[0].firing and out.alerts[0].posted is None
    assert out.alerts[0].post_pending
    assert out.post_errors == [
        "stuck: webhook https://hooks.example.com unreachable: ConnectError: connection refused"
    ]
    assert "SECRET" not in out.model_dump_json()
    hook.down = False
    retried = check(rules, now=NOW + timedelta(minutes=5))
    assert retried.alerts[0].posted == "firing" and not retried.post_errors
    assert [p["status"] for p in hook.posts] == ["firing"]
    check(rules, now=NOW + timedelta(minutes=10))
    assert len(hook.posts) == 1


def test_webhook_error_status_is_a_failed_post(engine: Engine, tmp_path: Path) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(503, text="down"))
    with httpx.Client(transport=transport) as client:
        out = check_alerts(
            engine=engine, rules=load_alert_rules(write_rules(tmp_path, [STUCK_RULE])),
            flows=[], stuck_after=STUCK, sla_minutes=SLA, webhook_url=URL, client=client, now=NOW,
        )  # fmt: skip
    assert out.post_errors == ["stuck: webhook https://hooks.example.com answered HTTP 503"]


def test_change_undone_before_it_was_posted_is_not_posted(check: Check, tmp_path: Path) -> None:
    hook: Webhook = check.hook  # type: ignore[attr-defined]
    hook.down = True
    check(write_rules(tmp_path, [STUCK_RULE]))
    hook.down = False
    out = check(write_rules(tmp_path, [STUCK_RULE | {"threshold": 5}], "b.json"))
    assert not out.alerts[0].firing and out.alerts[0].posted is None
    assert not out.alerts[0].post_pending and hook.posts == []


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"id": "x", "metric": "nope", "threshold": 1}, "rule x: metric must be one of"),
        ({"id": "x", "metric": "stuck", "op": "!=", "threshold": 1}, "rule x: op must be"),
        ({"id": "x", "metric": "stuck", "threshold": "lots"}, "rule x: needs a numeric"),
        ({"id": "x", "metric": "money_at_risk", "threshold": 1}, "rule x: money_at_risk needs"),
    ],
)
def test_bad_rules_are_one_line_errors(tmp_path: Path, rule: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message) as info:
        load_alert_rules(write_rules(tmp_path, [rule]))
    assert str(info.value).startswith("Q2C_ALERT_RULES: ") and "\n" not in str(info.value)


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        load_alert_rules(tmp_path / "none.json")
