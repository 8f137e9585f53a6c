"""Threshold alerts on the health figures, posted to a webhook once per change.

Rules are data (``services/alert_rules.json``, or the file in ``Q2C_ALERT_RULES``).
Each has an ``id``, a ``metric`` (``failures`` of a flow, ``stuck``, ``success_rate``
in percent, ``money_at_risk`` in one ``currency``), an ``op`` (``>``, ``>=``, ``<``,
``<=``), a ``threshold`` and optionally ``window_minutes`` (default: all time),
``flow`` (``"*"``: one alert per flow) and ``min_count`` (success rate: fewer due
transactions than this never fire).

``check_alerts`` evaluates every rule and keeps what it last did in ``alert_states``:
a rule that starts firing posts ``"firing"``, one that clears posts ``"resolved"``,
one that stays as it was posts nothing. A post that fails (webhook down) is
reported, kept pending and retried on the next check; a change undone before it
could be posted is dropped (there is nothing to tell).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel
from sqlalchemy import Engine, insert, select, update

from services.alert_rules import OPS, AlertRule, load_alert_rules
from services.health import HealthOut, compute_health
from services.queries import utcnow
from services.triage.models import AlertState

if TYPE_CHECKING:
    from services.console import Console

__all__ = [
    "AlertCheckOut",
    "AlertOut",
    "AlertRule",
    "check_alerts",
    "console_alerts",
    "evaluate_alerts",
    "load_alert_rules",
]


class AlertOut(BaseModel):
    """One alert's evaluation, what is stored for it and what this check posted."""

    rule_id: str
    title: str
    metric: str
    value: str | None  # a decimal string; None when there is nothing to measure
    op: str
    threshold: str
    firing: bool
    since: datetime | None = None
    changed: bool = False
    posted: str | None = None  # firing | resolved, when this check posted
    post_pending: bool = False
    last_posted: datetime | None = None
    error: str | None = None


class AlertCheckOut(BaseModel):
    """The result of one ``q2c alerts check``."""

    checked_at: datetime
    webhook: str | None  # scheme and host only: webhook paths often hold a secret
    alerts: list[AlertOut]

    @property
    def firing(self) -> list[AlertOut]:
        return [a for a in self.alerts if a.firing]

    @property
    def post_errors(self) -> list[str]:
        return [f"{a.rule_id}: {a.error}" for a in self.alerts if a.error]


def _measure(
    rules: tuple[AlertRule, ...], flows: list[str], health: Callable[[int | None], HealthOut]
) -> list[tuple[str, AlertRule, Decimal | None]]:
    """Each alert's key, rule and current value (``flow: "*"`` expands per flow)."""
    out: list[tuple[str, AlertRule, Decimal | None]] = []
    for rule in rules:
        h = health(rule.window_minutes)
        if rule.metric == "failures":
            names = sorted(set(flows) | set(h.by_flow_status)) if rule.flow == "*" else [rule.flow]
            for flow in names:
                failed = h.by_flow_status.get(flow or "", {}).get("failed", 0)
                if flow is None:
                    failed = h.by_status["failed"]
                key = f"{rule.id}:{flow}" if rule.flow == "*" else rule.id
                out.append((key, rule, Decimal(failed)))
        elif rule.metric == "stuck":
            out.append((rule.id, rule, Decimal(h.by_status["stuck"])))
        elif rule.metric == "success_rate":
            due = h.by_status["succeeded"] + h.by_status["failed"] + h.by_status["stuck"]
            rate = h.overall_success_rate
            usable = rate is not None and due >= max(rule.min_count, 1)
            out.append((rule.id, rule, Decimal(str(rate)) if usable else None))
        else:
            out.append((rule.id, rule, h.money_at_risk.get(rule.currency or "", Decimal(0))))
    return out


def _title(key: str, rule: AlertRule) -> str:
    return f"{rule.title} ({key.split(':', 1)[1]})" if ":" in key else rule.title


def evaluate_alerts(
    *,
    engine: Engine,
    rules: tuple[AlertRule, ...],
    flows: list[str],
    stuck_after: timedelta,
    sla_minutes: dict[str, int],
    now: datetime | None = None,
) -> list[AlertOut]:
    """Every alert's current value and stored state, without writing or posting."""
    now = now or utcnow()
    cache: dict[int | None, HealthOut] = {}

    def health(minutes: int | None) -> HealthOut:
        if minutes not in cache:
            since = now - timedelta(minutes=minutes) if minutes else None
            cache[minutes] = compute_health(
                engine=engine,
                since=since,
                until=None,
                stuck_after=stuck_after,
                sla_minutes=sla_minutes,
                now=now,
            )
        return cache[minutes]

    with engine.connect() as conn:
        stored = {r.rule_id: r for r in conn.execute(select(AlertState))}
    out = []
    for key, rule, value in _measure(rules, flows, health):
        state = stored.get(key)
        out.append(
            AlertOut(
                rule_id=key,
                title=_title(key, rule),
                metric=rule.metric,
                value=None if value is None else str(value),
                op=rule.op,
                threshold=str(rule.threshold),
                firing=value is not None and OPS[rule.op](value, rule.threshold),
                since=state.since if state else None,
                post_pending=bool(state and state.post_pending),
                last_posted=state.last_posted if state else None,
                error=state.last_error if state else None,
            )
        )
    return out


def _webhook_label(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


def _post(client: httpx.Client, url: str, alert: AlertOut, now: datetime) -> str | None:
    """Post one alert; the one-line reason when the webhook did not take it."""
    status = "firing" if alert.firing else "resolved"
    limit = f"{alert.op} {alert.threshold}"
    body = {
        "rule_id": alert.rule_id,
        "status": status,
        "title": alert.title,
        "metric": alert.metric,
        "value": alert.value,
        "op": alert.op,
        "threshold": alert.threshold,
        "since": alert.since.isoformat() + "Z" if alert.since else None,
        "checked_at": now.isoformat() + "Z",
        "text": f"[{status}] {alert.title}: {alert.value} (threshold {limit})",
    }
    try:
        response = client.post(url, json=body)
    except httpx.HTTPError as exc:
        return f"webhook {_webhook_label(url)} unreachable: {type(exc).__name__}: {exc}"[:300]
    if response.status_code >= 300:
        return f"webhook {_webhook_label(url)} answered HTTP {response.status_code}"
    return None


def check_alerts(
    *,
    engine: Engine,
    rules: tuple[AlertRule, ...],
    flows: list[str],
    stuck_after: timedelta,
    sla_minutes: dict[str, int],
    webhook_url: str | None,
    client: httpx.Client | None = None,
    now: datetime | None = None,
) -> AlertCheckOut:
    """Evaluate every rule, post changes to ``webhook_url`` and store each alert's state.

    Args:
        client: the HTTP client for the webhook (tests pass one with a MockTransport).
        now: the clock.

    Returns:
        Each alert with its value, whether it fires, and what was posted or failed.

    Example:
        >>> out = check_alerts(engine=engine, rules=load_alert_rules(), flows=[],
        ...                    stuck_after=timedelta(minutes=30), sla_minutes={},
        ...                    webhook_url=None)
        >>> [a.rule_id for a in out.firing]
        ['stuck']
    """
    now = now or utcnow()
    alerts = evaluate_alerts(
        engine=engine,
        rules=rules,
        flows=flows,
        stuck_after=stuck_after,
        sla_minutes=sla_minutes,
        now=now,
    )
    with engine.connect() as conn:
        stored = {r.rule_id: r for r in conn.execute(select(AlertState))}
    http = client or httpx.Client(timeout=10.0)
    try:  # posts happen outside the write transaction: a slow webhook holds no lock
        rows = [_advance(a, stored.get(a.rule_id), webhook_url, http, now) for a in alerts]
    finally:
        if client is None:
            http.close()
    with engine.begin() as conn:
        for alert, values in zip(alerts, rows, strict=True):
            if alert.rule_id in stored:
                where = AlertState.rule_id == alert.rule_id
                conn.execute(update(AlertState).where(where).values(values))
            else:
                conn.execute(insert(AlertState).values(rule_id=alert.rule_id, **values))
    return AlertCheckOut(checked_at=now, webhook=_webhook_label(webhook_url), alerts=alerts)


def _advance(
    alert: AlertOut, state: Any, url: str | None, http: httpx.Client, now: datetime
) -> dict[str, Any]:
    """Move one alert's stored state on, posting when it changed (or a post is pending)."""
    was_firing = bool(state and state.firing)
    pending = bool(state and state.post_pending)
    if alert.firing != was_firing:
        alert.changed = True
        alert.since = now
        pending = not pending  # a change undone before it was posted: nothing to tell
    alert.error = None
    last_posted = state.last_posted if state else None
    if pending and url:
        alert.error = _post(http, url, alert, now)
        if alert.error is None:
            alert.posted = "firing" if alert.firing else "resolved"
            pending, last_posted = False, now
    elif pending:
        pending = False  # no webhook configured: nothing to post to
    alert.post_pending, alert.last_posted = pending, last_posted
    return {
        "firing": alert.firing,
        "since": alert.since,
        "last_value": float(alert.value) if alert.value is not None else None,
        "last_checked": now,
        "last_posted": last_posted,
        "post_pending": pending,
        "last_error": alert.error,
    }


def console_alerts(console: Console, *, now: datetime | None = None) -> list[AlertOut]:
    """The configured rules' current values and stored states (what pages show)."""
    return evaluate_alerts(
        engine=console.engine,
        rules=load_alert_rules(console.settings.alert_rules),
        flows=sorted(console.catalog.flows),
        stuck_after=console.stuck_after,
        sla_minutes=console.settings.sla_minutes,
        now=now,
    )
