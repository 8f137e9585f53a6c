"""Health figures of the integration over a time window, computed by the database.

A transaction is *in the window* when it was active in it: its last event is at or
after ``since`` and its first event at or before ``until`` (so a transaction whose
first or last event falls in the window counts, and so does one that spans it; the
same rule as the Explorer's Since/Until filter). Either end may be open.

The figures come from roll-ups kept on ingest (``services.rollups``: sums per month,
day and hour) for the buckets no window or age edge cuts, and from the rows of the
hours an edge does cut (``services.health_layers``); the same figures from every row
(``rollups=False``) are the reference the roll-ups are tested and ``q2c health
--verify``-ed against. Definitions (also in ``docs/performance.md``):

- ``by_status``: ``stuck`` is in progress and idle longer than ``stuck_after``.
- ``success_rate`` (percent, ``None`` when nothing is due): succeeded / (succeeded +
  failed + stuck); in progress is not due yet. By system: of the due transactions
  that touched the system, the share that did not fail there.
- ``latency_ms``: succeeded transactions, first event to last event (the terminal
  step), nearest-rank p50/p95 of ``rollups.latency_bucket``: rounded up to the
  second below a minute, to 5 s below ten minutes, to the minute above.
- ``backlog``: failed and stuck transactions by the age of their last event.
- ``sla_breaches``: per flow with an SLA, succeeded later than the SLA after the
  first event, or not succeeded and older than the SLA now.
- ``money_at_risk``: amounts of failed and stuck transactions, summed exactly per
  currency, never across currencies (``XXX``: an amount without a currency), shown
  with at least the currency's minor units (``services.money``).
- ``errors``: failed transactions by category, origin (``services.triage.classify``)
  and code, most frequent first (Pareto order).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import Engine, select

from services.health_counts import plain_money
from services.health_layers import layers
from services.health_sql import AGE_BUCKETS, Edges, Partials
from services.models import Event
from services.money import EXACT, display_amount
from services.queries import STATUSES, utcnow
from services.rollups import rebuild
from services.timeparse import check_window
from services.triage.classify import classify

if TYPE_CHECKING:
    from services.console import Console

__all__ = [
    "AGE_BUCKETS",
    "HealthOut",
    "compute_health",
    "console_health",
    "rebuild_rollups",
    "verify_rollups",
]

HOURLY_UP_TO = timedelta(days=2)  # trends per hour for windows up to this long, else per day


class HealthOut(BaseModel):
    """Health figures of one window; ``cli_dict`` is the ``q2c health --json`` shape."""

    window: dict[str, Any]
    by_status: dict[str, int]
    success_rate: dict[str, dict[str, float | None]]
    overall_success_rate: float | None
    latency_ms: dict[str, dict[str, int]]
    backlog: dict[str, int]
    sla_breaches: dict[str, int]
    money_at_risk: dict[str, Decimal]
    errors: list[dict[str, Any]]
    trend_unit: str  # hour | day
    trends: list[dict[str, Any]]  # {"bucket": "2026-11-02", "status": "failed", "count": 3}
    by_flow_status: dict[str, dict[str, int]]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def cli_dict(self) -> dict[str, Any]:
        """The documented JSON: amounts as decimal strings, nothing else added."""
        return {
            "window": self.window,
            "by_status": self.by_status,
            "success_rate": self.success_rate,
            "latency_ms": self.latency_ms,
            "backlog": self.backlog,
            "sla_breaches": self.sla_breaches,
            "money_at_risk": {c: str(a) for c, a in self.money_at_risk.items()},
            "errors": self.errors,
        }


def _rate(good: int, due: int) -> float | None:
    return round(100.0 * good / due, 2) if due else None


def _percentile(hist: list[tuple[int, int]], p: float) -> int:
    """Nearest-rank percentile of a sorted ``(value, count)`` histogram."""
    rank = max(1, math.ceil(p / 100 * sum(n for _, n in hist)))
    seen = 0
    for value, n in hist:
        seen += n
        if seen >= rank:
            return value
    return hist[-1][0]


def compute_health(
    *,
    engine: Engine,
    since: datetime | None,
    until: datetime | None,
    stuck_after: timedelta,
    sla_minutes: dict[str, int],
    now: datetime | None = None,
    rollups: bool = True,
) -> HealthOut:
    """Health figures of the transactions active in ``[since, until]`` (naive UTC).

    Args:
        engine: the store.
        since, until: the window; ``None`` leaves that end open.
        stuck_after: in-progress transactions idle longer count as stuck.
        sla_minutes: end-to-end SLA per flow.
        now: the clock (tests pass one); stuck, backlog ages and open SLAs use it.
        rollups: read the roll-ups where they answer (``False``: read every row, the
            reference the roll-ups are checked against; same figures, slower).

    Returns:
        ``HealthOut``; an empty store or window gives zeros and empty maps.

    Raises:
        InputError: ``since`` is after ``until``.

    Example:
        >>> compute_health(engine=engine, since=None, until=None,
        ...                stuck_after=timedelta(minutes=30), sla_minutes={}).by_status
        {'failed': 2, 'stuck': 1, 'in_progress': 0, 'succeeded': 7}
    """
    check_window(since, until)
    now = now or utcnow()
    end = until or now
    edges = Edges(
        since=since,
        until=until,
        now=now,
        cutoff=now - stuck_after,
        sla_minutes=dict(sla_minutes),
        unit="hour" if since is not None and end - since <= HOURLY_UP_TO else "day",
    )
    with engine.connect() as conn, localcontext() as ctx:
        ctx.prec = EXACT  # money is summed exactly
        parts = layers(conn, edges, rollups=rollups)
        if parts.money_odd:
            parts.money = plain_money(conn, edges)
        errors = _errors(conn, parts)
        return _figures(edges, parts, errors)


def verify_rollups(
    *,
    engine: Engine,
    since: datetime | None,
    until: datetime | None,
    stuck_after: timedelta,
    sla_minutes: dict[str, int],
    now: datetime | None = None,
) -> list[str]:
    """The figures that differ between the roll-ups and the rows (empty: they agree).

    Reads every row of the window once (seconds at a million transactions).
    """
    now = now or utcnow()
    kw: dict[str, Any] = {
        "engine": engine,
        "since": since,
        "until": until,
        "stuck_after": stuck_after,
        "sla_minutes": sla_minutes,
        "now": now,
    }
    fast = compute_health(**kw).model_dump()
    rows = compute_health(**kw, rollups=False).model_dump()
    return [name for name, value in fast.items() if rows[name] != value]


def rebuild_rollups(engine: Engine) -> int:
    """Recompute the roll-ups from ``transactions``; returns the transactions read."""
    with engine.begin() as conn:
        return rebuild(conn)


def _figures(edges: Edges, parts: Partials, errors: list[dict[str, Any]]) -> HealthOut:
    hist: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for (flow, seconds), n in sorted(parts.latency.items()):
        if n:
            hist[flow].append((seconds, n))
    breaches: Counter[str] = Counter(parts.open_late)
    for flow, pairs in hist.items():
        if flow in edges.sla_minutes:
            breaches[flow] += sum(n for s, n in pairs if s > edges.sla_minutes[flow] * 60)
    trends = sorted((b, s, n) for (b, s), n in parts.trends.items() if n)
    since, until = edges.since, edges.until
    return HealthOut(
        window={
            "since": since.isoformat() + "Z" if since else None,
            "until": until.isoformat() + "Z" if until else None,
            "now": edges.now.isoformat() + "Z",
            "rule": "active in the window: last event >= since and first event <= until",
        },
        latency_ms={
            flow: {"p50": _percentile(h, 50) * 1000, "p95": _percentile(h, 95) * 1000}
            for flow, h in sorted(hist.items())
        },
        backlog={name: parts.backlog.get(name, 0) for name, _ in AGE_BUCKETS},
        sla_breaches={f: breaches[f] for f in sorted(breaches) if breaches[f]},
        money_at_risk={c: display_amount(a, c) for c, a in sorted(parts.money.items())},
        errors=errors,
        trend_unit=edges.unit,
        trends=[{"bucket": b, "status": s, "count": n} for b, s, n in trends],
        **_from_mix(parts.mix),
    )


def _from_mix(mix: Counter[tuple[Any, ...]]) -> dict[str, Any]:
    """Status counts and success rates from the (flow, entity, systems, status) mix."""
    by_status = dict.fromkeys(STATUSES, 0)
    good: dict[str, Counter[str]] = {k: Counter() for k in ("flow", "entity", "system")}
    due: dict[str, Counter[str]] = {k: Counter() for k in ("flow", "entity", "system")}
    by_flow: dict[str, Counter[str]] = defaultdict(Counter)
    for (flow, entity, systems, failed_system, label), n in mix.items():
        if not n:
            continue
        by_status[label] += n
        flow = flow or "(none)"
        by_flow[flow][label] += n
        if label == "in_progress":
            continue
        for kind, name in (("flow", flow), ("entity", entity or "(none)")):
            due[kind][name] += n
            good[kind][name] += n if label == "succeeded" else 0
        for system in filter(None, (systems or "").split(",")):
            due["system"][system] += n
            good["system"][system] += 0 if label == "failed" and failed_system == system else n
    all_due = by_status["succeeded"] + by_status["failed"] + by_status["stuck"]
    names = {"system": "by_system", "flow": "by_flow", "entity": "by_legal_entity"}
    return {
        "by_status": by_status,
        "overall_success_rate": _rate(by_status["succeeded"], all_due),
        "success_rate": {
            names[k]: {name: _rate(good[k][name], due[k][name]) for name in sorted(due[k])}
            for k in ("system", "flow", "entity")
        },
        "by_flow_status": {f: {s: c[s] for s in STATUSES} for f, c in sorted(by_flow.items())},
    }


def _errors(conn: Any, parts: Partials) -> list[dict[str, Any]]:
    """Failed transactions by (category, origin, code), most frequent first."""
    statuses: dict[tuple[str, str, str | None], int | None] = {}
    counts: Counter[tuple[str, str, str]] = Counter()
    for (system, operation, code, message), n in sorted(parts.failures.items(), key=str):
        if not n:
            continue
        ident = (system or "", operation or "", code)
        if code is None:
            statuses[ident] = None
        elif ident not in statuses:  # the HTTP status is on the failed step event
            statuses[ident] = conn.execute(
                select(Event.http_status)
                .where(
                    Event.error_code == code,
                    Event.system == ident[0],
                    Event.operation == ident[1],
                    Event.status == "failed",
                )
                .limit(1)
            ).scalar()
        found = classify(
            system=ident[0],
            operation=ident[1],
            code=code,
            http_status=statuses[ident],
            message=message,
        )
        counts[(found.category, found.origin, code or "")] += n
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [
        {"category": cat, "origin": origin, "code": code, "count": n}
        for (cat, origin, code), n in ranked
    ]


def console_health(
    console: Console, *, since: datetime | None, until: datetime | None, now: datetime | None = None
) -> HealthOut:
    """``compute_health`` with a console's store and settings (what pages call)."""
    return compute_health(
        engine=console.engine,
        since=since,
        until=until,
        stuck_after=console.stuck_after,
        sla_minutes=console.settings.sla_minutes,
        now=now,
    )
