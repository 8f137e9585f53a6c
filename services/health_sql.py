"""Shared pieces of the health queries: the window and clock (``Edges``), the counts a
layer returns (``Partials``) and the SQL expressions every layer uses.

A layer reads either roll-up rows (bucket starts in place of times, ``sum(n)``) or
``transactions`` rows (their own times, ``count(*)``); ``Cols`` says which.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Integer, and_, case, cast, false, func, or_
from sqlalchemy.sql.elements import ColumnElement

from services.models import Transaction

__all__ = [
    "AGE_BUCKETS",
    "NO_CURRENCY",
    "Cols",
    "Edges",
    "Partials",
    "age_case",
    "at_risk",
    "bucket_text",
    "label",
    "late_after",
    "latency_sql",
    "window",
    "window_conds",
]

AGE_BUCKETS: tuple[tuple[str, timedelta | None], ...] = (
    ("<1h", timedelta(hours=1)),
    ("1-4h", timedelta(hours=4)),
    ("4-24h", timedelta(hours=24)),
    ("1-3d", timedelta(days=3)),
    (">3d", None),
)
NO_CURRENCY = "XXX"
T = Transaction


@dataclass(frozen=True)
class Edges:
    """The window and the clock of one health query."""

    since: datetime | None
    until: datetime | None
    now: datetime
    cutoff: datetime  # in progress and idle since before this: stuck
    sla_minutes: dict[str, int]
    unit: str  # trend buckets: hour | day

    def on_last(self, status_dependent: bool) -> list[datetime]:
        if not status_dependent:
            return [self.since] if self.since else []
        return [self.cutoff, *(self.now - limit for _, limit in AGE_BUCKETS if limit)]

    def on_first(self, status_dependent: bool) -> list[datetime]:
        if not status_dependent:
            return [self.until] if self.until else []
        return [self.now - timedelta(minutes=m) for m in self.sla_minutes.values()]


@dataclass
class Partials:
    """Counts of the layers of one window, added up as each layer is read."""

    mix: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    latency: Counter[tuple[str, int]] = field(default_factory=Counter)
    backlog: Counter[str] = field(default_factory=Counter)
    open_late: Counter[str] = field(default_factory=Counter)
    money: dict[str, Decimal] = field(default_factory=dict)
    money_odd: bool = False  # an amount the roll-ups cannot hold exactly: sum the rows
    failures: Counter[tuple[str, str, str | None, str | None]] = field(default_factory=Counter)
    trends: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add_mix(self, row: tuple[Any, ...], name: str, n: int) -> None:
        """Count ``n`` under (flow, entity, systems, failed system) with status ``name``;
        roll-ups say ``''`` where rows say NULL."""
        flow, entity, systems, failed_system = row
        self.mix[(flow or None, entity or None, systems or "", failed_system or None, name)] += n

    def add_money(self, currency: str | None, amount: Decimal) -> None:
        key = currency or NO_CURRENCY
        self.money[key] = self.money.get(key, Decimal(0)) + amount


@dataclass(frozen=True)
class Cols:
    """One layer's columns: roll-up bucket starts or the rows' own times."""

    first: Any
    last: Any
    weight: Any  # sum(n) or count(*)
    scope: ColumnElement[bool]
    windowed: bool = False  # the scope holds the window already


def label(status: str, idle: Any) -> str:
    return "stuck" if status == "in_progress" and idle else status


def at_risk(edges: Edges, status: Any, last: Any) -> ColumnElement[bool]:
    """Failed, or in progress and idle since before the stuck cutoff (money at risk)."""
    return or_(status == "failed", and_(status == "in_progress", last < edges.cutoff))


def window_conds(edges: Edges, first: Any, last: Any) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if edges.since is not None:
        conds.append(last >= edges.since)
    if edges.until is not None:
        conds.append(first <= edges.until)
    return conds


def window(edges: Edges, c: Cols) -> list[ColumnElement[bool]]:
    if c.windowed:
        return [c.scope]
    return [c.scope, *window_conds(edges, c.first, c.last)]


def age_case(edges: Edges, last: Any) -> Any:
    whens = [(last > edges.now - limit, name) for name, limit in AGE_BUCKETS if limit]
    return case(*whens, else_=AGE_BUCKETS[-1][0]).label("age")


def late_after(edges: Edges, flow: Any, first: Any) -> ColumnElement[bool]:
    conds = [and_(flow == f, first < edges.now - timedelta(minutes=m))
             for f, m in edges.sla_minutes.items()]  # fmt: skip
    return or_(*conds) if conds else false()


def latency_sql(conn: Connection) -> Any:
    """``rollups.latency_bucket`` in SQL: exact microseconds on SQLite, numeric on PostgreSQL."""
    if conn.dialect.name == "sqlite":

        def epoch_us(col: Any) -> Any:
            seconds = cast(func.strftime("%s", col), Integer)
            return seconds * 1_000_000 + cast(func.substr(col, 21, 6), Integer)

        us = epoch_us(T.last_time) - epoch_us(T.first_time)
        s = (us + 999_999) // 1_000_000
    else:
        s = cast(func.ceil(func.extract("epoch", T.last_time - T.first_time)), Integer)
    return case((s < 60, s), (s < 600, ((s + 4) // 5) * 5), else_=((s + 59) // 60) * 60)


def bucket_text(conn: Connection, unit: str) -> Any:
    if conn.dialect.name == "sqlite":
        return func.substr(T.last_time, 1, 13 if unit == "hour" else 10)
    return func.to_char(T.last_time, "YYYY-MM-DD HH24" if unit == "hour" else "YYYY-MM-DD")
