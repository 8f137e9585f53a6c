"""Health figures of the integration over a time window, computed by the database.

A transaction is *in the window* when it was active in it: its last event is at or
after ``since`` and its first event at or before ``until`` (so a transaction whose
first or last event falls in the window counts, and so does one that spans it; the
same rule as the Explorer's Since/Until filter). Either end may be open.

Every figure comes from a few ``GROUP BY`` queries whose answers are small (one row
per flow, legal entity, status, day, latency second, amount...); rows are never
loaded one by one. Definitions (also in ``docs/performance.md``):

- ``by_status``: ``stuck`` is in progress and idle longer than ``stuck_after``.
- ``success_rate`` (percent, ``None`` when nothing is due): succeeded / (succeeded +
  failed + stuck); in progress is not due yet. By system: of the due transactions
  that touched the system, the share that did not fail there.
- ``latency_ms``: succeeded transactions, first event to last event (the terminal
  step), nearest-rank p50/p95 at one-second resolution.
- ``backlog``: failed and stuck transactions by the age of their last event.
- ``sla_breaches``: per flow with an SLA, succeeded later than the SLA after the
  first event, or not succeeded and older than the SLA now.
- ``money_at_risk``: amounts of failed and stuck transactions, summed as ``Decimal``
  per currency, never across currencies (``XXX``: an amount without a currency).
- ``errors``: failed transactions by category, origin (``services.triage.classify``)
  and code, most frequent first (Pareto order).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import Engine, Integer, and_, case, cast, false, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from services.models import Event, Transaction
from services.queries import STATUSES, utcnow
from services.timeparse import check_window
from services.triage.classify import classify

if TYPE_CHECKING:
    from services.console import Console

__all__ = ["AGE_BUCKETS", "HealthOut", "compute_health", "console_health"]

AGE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("<1h", timedelta(hours=1)),
    ("1-4h", timedelta(hours=4)),
    ("4-24h", timedelta(hours=24)),
    ("1-3d", timedelta(days=3)),
    (">3d", None),
)
NO_CURRENCY = "XXX"
HOURLY_UP_TO = timedelta(days=2)  # trends per hour for windows up to this long, else per day
T = Transaction


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


def _in_window(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if since is not None:
        conds.append(T.last_time >= since)
    if until is not None:
        conds.append(T.first_time <= until)
    return conds


def _sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _latency_seconds(engine: Engine) -> Any:
    """Whole seconds from first to last event, in the database's own date arithmetic."""
    if _sqlite(engine):
        diff = (func.julianday(T.last_time) - func.julianday(T.first_time)) * 86400
    else:
        diff = func.extract("epoch", T.last_time - T.first_time)
    return cast(func.round(diff), Integer)


def _bucket(engine: Engine, unit: str) -> Any:
    """The hour or day of the last event as text: ``2026-11-02`` or ``2026-11-02 14``."""
    if _sqlite(engine):
        return func.substr(T.last_time, 1, 13 if unit == "hour" else 10)
    return func.to_char(T.last_time, "YYYY-MM-DD HH24" if unit == "hour" else "YYYY-MM-DD")


def _percentile(hist: list[tuple[int, int]], p: float) -> int:
    """Nearest-rank percentile of a sorted ``(value, count)`` histogram."""
    rank = max(1, math.ceil(p / 100 * sum(n for _, n in hist)))
    seen = 0
    for value, n in hist:
        seen += n
        if seen >= rank:
            return value
    return hist[-1][0]


def _status_label(status: str, idle: Any) -> str:
    return "stuck" if status == "in_progress" and idle else status


def compute_health(
    *,
    engine: Engine,
    since: datetime | None,
    until: datetime | None,
    stuck_after: timedelta,
    sla_minutes: dict[str, int],
    now: datetime | None = None,
) -> HealthOut:
    """Health figures of the transactions active in ``[since, until]`` (naive UTC).

    Args:
        engine: the store.
        since, until: the window; ``None`` leaves that end open.
        stuck_after: in-progress transactions idle longer count as stuck.
        sla_minutes: end-to-end SLA per flow.
        now: the clock (tests pass one); stuck, backlog ages and open SLAs use it.

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
    cutoff = now - stuck_after
    window = _in_window(since, until)
    idle = (T.last_time < cutoff).label("idle")
    stuck = and_(T.status == "in_progress", T.last_time < cutoff)
    end = until or now
    unit = "hour" if since is not None and end - since <= HOURLY_UP_TO else "day"
    with engine.connect() as conn:
        mix = conn.execute(
            select(T.flow, T.legal_entity, T.systems, T.failed_system, T.status, idle, func.count())
            .where(*window)
            .group_by(T.flow, T.legal_entity, T.systems, T.failed_system, T.status, idle)
        ).all()
        lat = select(T.flow, _latency_seconds(engine).label("s"), func.count()).where(
            T.status == "succeeded", *window
        )
        latency = conn.execute(lat.group_by(T.flow, "s").order_by(T.flow, "s")).all()
        backlog = conn.execute(
            select(_age_bucket(now), func.count())
            .where(or_(T.status == "failed", stuck), *window)
            .group_by("age")
        ).all()
        open_late = conn.execute(
            select(T.flow, func.count())
            .where(T.status.in_(("failed", "in_progress")), _late(sla_minutes, now), *window)
            .group_by(T.flow)
        ).all()
        money = conn.execute(
            select(T.currency, T.amount, func.count())
            .where(or_(T.status == "failed", stuck), T.amount.is_not(None), *window)
            .group_by(T.currency, T.amount)
        ).all()
        failures = conn.execute(
            select(T.failed_system, T.failed_operation, T.error_code, T.error_message, func.count())
            .where(T.status == "failed", *window)
            .group_by(T.failed_system, T.failed_operation, T.error_code, T.error_message)
        ).all()
        errors = _errors(conn, failures)
        bucket = _bucket(engine, unit).label("b")
        trends = conn.execute(
            select(bucket, T.status, idle, func.count())
            .where(*window)
            .group_by("b", T.status, "idle")
            .order_by("b")
        ).all()
    out = _from_mix(mix)
    hist: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for flow, seconds, n in latency:
        hist[flow or "(none)"].append((int(seconds), n))
    breaches: Counter[str] = Counter({flow: n for flow, n in open_late if flow})
    for flow, pairs in hist.items():
        if flow in sla_minutes:
            breaches[flow] += sum(n for s, n in pairs if s > sla_minutes[flow] * 60)
    at_risk: dict[str, Decimal] = {}
    for currency, amount, n in money:
        try:
            value = Decimal(amount or "0") * n
        except InvalidOperation:
            continue  # refused on ingest; never in a store written by q2c
        key = currency or NO_CURRENCY
        at_risk[key] = at_risk.get(key, Decimal(0)) + value
    trend_counts: Counter[tuple[str, str]] = Counter()
    for b, status, is_idle, n in trends:
        trend_counts[(str(b), _status_label(status, is_idle))] += n
    ages = dict(Counter({str(label): n for label, n in backlog}))
    return HealthOut(
        window={
            "since": since.isoformat() + "Z" if since else None,
            "until": until.isoformat() + "Z" if until else None,
            "now": now.isoformat() + "Z",
            "rule": "active in the window: last event >= since and first event <= until",
        },
        latency_ms={
            flow: {"p50": _percentile(h, 50) * 1000, "p95": _percentile(h, 95) * 1000}
            for flow, h in sorted(hist.items())
        },
        backlog={label: ages.get(label, 0) for label, _ in AGE_BUCKETS},
        sla_breaches={f: breaches[f] for f in sorted(breaches) if breaches[f]},
        money_at_risk=dict(sorted(at_risk.items())),
        errors=errors,
        trend_unit=unit,
        trends=[
            {"bucket": b, "status": s, "count": n} for (b, s), n in sorted(trend_counts.items())
        ],
        **out,
    )


def _age_bucket(now: datetime) -> Any:
    """The backlog age bucket of a row's last event, as a SQL ``CASE``."""
    whens = [(T.last_time > now - limit, label) for label, limit in AGE_BUCKETS if limit]
    return case(*whens, else_=AGE_BUCKETS[-1][0]).label("age")


def _late(sla_minutes: dict[str, int], now: datetime) -> ColumnElement[bool]:
    """Unfinished and older than its flow's SLA (a flow without an SLA is never late)."""
    conds = [
        and_(T.flow == flow, T.first_time < now - timedelta(minutes=minutes))
        for flow, minutes in sla_minutes.items()
    ]
    return or_(*conds) if conds else false()


def _from_mix(rows: Sequence[Any]) -> dict[str, Any]:
    """Status counts and success rates from the (flow, entity, systems, status) mix."""
    by_status = dict.fromkeys(STATUSES, 0)
    good: dict[str, Counter[str]] = {k: Counter() for k in ("flow", "entity", "system")}
    due: dict[str, Counter[str]] = {k: Counter() for k in ("flow", "entity", "system")}
    by_flow: dict[str, Counter[str]] = defaultdict(Counter)
    for flow, entity, systems, failed_system, status, is_idle, n in rows:
        label = _status_label(status, is_idle)
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


def _errors(conn: Any, failures: Sequence[Any]) -> list[dict[str, Any]]:
    """Failed transactions by (category, origin, code), most frequent first."""
    statuses: dict[tuple[str, str, str | None], int | None] = {}
    counts: Counter[tuple[str, str, str]] = Counter()
    for system, operation, code, message, n in failures:
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
