"""Health figures as sums from three layers that never count a transaction twice.

A figure depends on a transaction only through which side of a few *edges* its
times fall: the window (``last_time >= since``, ``first_time <= until``) and, for
failed and in-progress ones, the stuck cutoff, the backlog ages and the SLA ages.
So every transaction is counted by exactly one layer:

1. ``month`` roll-up rows no edge cuts (their buckets lie wholly on one side of each);
2. ``day`` roll-up rows of the months an edge cuts, where no edge cuts the day;
3. ``hour`` roll-up rows of the days an edge cuts, where no edge cuts the hour;
4. the ``transactions`` rows of the hours an edge cuts, read and counted one by one.

(Hourly trends, for windows up to two days, use the hour rows throughout.)

On a bucket no edge cuts, comparing its start with an edge gives the answer for
every transaction in it, so the layers use the same comparisons as the rows with
the bucket start in place of the time. With ``rollups=False`` the third layer
reads every row: the reference the roll-ups are tested against.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    and_,
    case,
    cast,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.elements import ColumnElement

from services.models import Transaction
from services.rollups import (
    GRAINS,
    RollupErrors,
    RollupLatency,
    RollupTx,
    bucket_end,
    bucket_start,
)

__all__ = ["AGE_BUCKETS", "Edges", "Partials", "layers", "plain_money"]

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
    """Counts of one layer; layers add up with ``merge``."""

    mix: Counter[tuple[Any, ...]] = field(default_factory=Counter)
    latency: Counter[tuple[str, int]] = field(default_factory=Counter)
    backlog: Counter[str] = field(default_factory=Counter)
    open_late: Counter[str] = field(default_factory=Counter)
    money: dict[str, Decimal] = field(default_factory=dict)
    money_odd: bool = False  # an amount the roll-ups cannot hold exactly: sum the rows
    failures: Counter[tuple[str, str, str | None, str | None]] = field(default_factory=Counter)
    trends: Counter[tuple[str, str]] = field(default_factory=Counter)

    def merge(self, other: Partials) -> None:
        for name in ("mix", "latency", "backlog", "open_late", "failures", "trends"):
            getattr(self, name).update(getattr(other, name))
        for currency, amount in other.money.items():
            self.money[currency] = self.money.get(currency, Decimal(0)) + amount
        self.money_odd |= other.money_odd


@dataclass(frozen=True)
class _Cols:
    """One layer's columns: roll-up bucket starts or the rows' own times."""

    first: Any
    last: Any
    weight: Any  # sum(n) or count(*)
    scope: ColumnElement[bool]
    windowed: bool = False  # the scope holds the window already


def label(status: str, idle: Any) -> str:
    return "stuck" if status == "in_progress" and idle else status


def _in(col: Any, starts: list[datetime], grain: str, extra: Any = None) -> list[Any]:
    return [and_(*([extra] if extra is not None else []), col >= s, col < bucket_end(s, grain))
            for s in sorted(set(starts))]  # fmt: skip


def undecided(edges: Edges, grain: str, first: Any, last: Any, status: Any) -> ColumnElement[bool]:
    """Rows in a ``grain`` bucket some edge cuts (for failed and in progress, any edge)."""

    def floors(times: list[datetime]) -> list[datetime]:
        return [bucket_start(t, grain) for t in times]

    window = [*_in(last, floors(edges.on_last(False)), grain),
              *_in(first, floors(edges.on_first(False)), grain)]  # fmt: skip
    clock = [*_in(last, floors(edges.on_last(True)), grain),
             *_in(first, floors(edges.on_first(True)), grain)]  # fmt: skip
    if isinstance(status, str):  # a roll-up of one status
        return or_(false(), *window, *(clock if status != "succeeded" else []))
    return or_(false(), *window, and_(status != "succeeded", or_(false(), *clock)))


def _near(
    edges: Edges, parent: str, extra: Any, first: Any, last: Any, status: Any
) -> ColumnElement[bool] | None:
    """Rows in the window inside the ``parent`` buckets an edge cuts (a superset of
    ``undecided`` at ``parent``), as index ranges; ``None`` when no edge cuts one.

    ``extra`` (the grain, a status) goes inside each range, and so does the window:
    given a plain ``last_time >= since`` beside the ranges, SQLite reads every row
    since then instead of the ranges.
    """
    clock = not (isinstance(status, str) and status == "succeeded")
    on_last = edges.on_last(False) + (edges.on_last(True) if clock else [])
    on_first = edges.on_first(False) + (edges.on_first(True) if clock else [])
    lasts = [bucket_start(t, parent) for t in on_last]
    firsts = [bucket_start(t, parent) for t in on_first]
    terms = [*_in(last, lasts, parent, extra), *_in(first, firsts, parent, extra)]
    if not terms:
        return None
    window = _window_conds(edges, first, last)
    return or_(*(and_(term, *window) for term in terms))


def _window_conds(edges: Edges, first: Any, last: Any) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if edges.since is not None:
        conds.append(last >= edges.since)
    if edges.until is not None:
        conds.append(first <= edges.until)
    return conds


def _window(edges: Edges, c: _Cols) -> list[ColumnElement[bool]]:
    if c.windowed:
        return [c.scope]
    return [c.scope, *_window_conds(edges, c.first, c.last)]


def _age(edges: Edges, last: Any) -> Any:
    whens = [(last > edges.now - limit, name) for name, limit in AGE_BUCKETS if limit]
    return case(*whens, else_=AGE_BUCKETS[-1][0]).label("age")


def _late(edges: Edges, flow: Any, first: Any) -> ColumnElement[bool]:
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


def _bucket_text(conn: Connection, unit: str) -> Any:
    if conn.dialect.name == "sqlite":
        return func.substr(T.last_time, 1, 13 if unit == "hour" else 10)
    return func.to_char(T.last_time, "YYYY-MM-DD HH24" if unit == "hour" else "YYYY-MM-DD")


def _main(conn: Connection, edges: Edges, c: _Cols, src: Any, out: Partials) -> None:
    """Status mix, backlog, open SLA breaches and trends of one layer."""
    w = _window(edges, c)
    idle = (c.last < edges.cutoff).label("idle")
    stuck = and_(src.status == "in_progress", c.last < edges.cutoff)
    rows = conn.execute(
        select(
            src.flow, src.legal_entity, src.systems, src.failed_system, src.status, idle, c.weight
        )
        .where(*w)
        .group_by(src.flow, src.legal_entity, src.systems, src.failed_system, src.status, idle)
    )
    for flow, entity, systems, failed_system, status, is_idle, n in rows:
        out.mix[(flow or None, entity or None, systems or "", failed_system or None,
                 label(status, is_idle))] += int(n)  # fmt: skip
    age = _age(edges, c.last)
    for name, n in conn.execute(
        select(age, c.weight).where(*w, or_(src.status == "failed", stuck)).group_by("age")
    ):
        out.backlog[str(name)] += int(n)
    late = and_(src.status.in_(("failed", "in_progress")), _late(edges, src.flow, c.first))
    for flow, n in conn.execute(select(src.flow, c.weight).where(*w, late).group_by(src.flow)):
        if flow:
            out.open_late[flow] += int(n)
    _money(conn, edges, c, src, out, or_(src.status == "failed", stuck))


def _combined(conn: Connection, edges: Edges, c: _Cols, src: Any, out: Partials) -> None:
    """What ``_main`` counts, in one pass: every label a column of one ``GROUP BY``.

    For the rows layer (few rows, in a few hours) the trend bucket is one more column.
    """
    idle = (c.last < edges.cutoff).label("idle")
    late = _late(edges, src.flow, c.first).label("late")
    dims = [src.flow, src.legal_entity, src.systems, src.failed_system, src.status]
    cols = [*dims, idle, _age(edges, c.last), late]
    group: list[Any] = [*dims, "idle", "age", "late"]
    if src is T:
        cols.append(_bucket_text(conn, edges.unit).label("b"))
        group.append("b")
    stmt = select(*cols, c.weight).where(*_window(edges, c)).group_by(*group)
    for flow, entity, systems, failed_system, status, is_idle, age, is_late, *rest in conn.execute(
        stmt
    ):
        n = int(rest[-1])
        name = label(status, is_idle)
        out.mix[(flow or None, entity or None, systems or "", failed_system or None, name)] += n
        if name in ("failed", "stuck"):
            out.backlog[str(age)] += n
        if is_late and flow and status != "succeeded":
            out.open_late[flow] += n
        if src is T:
            out.trends[(rest[0], name)] += n
    if src is not T:  # the rows layer reads money with an index on status
        _risk(conn, edges, c, src, out)


def _trends(conn: Connection, edges: Edges, c: _Cols, src: Any, out: Partials) -> None:
    """Transactions per hour or day of their last event, by status (stuck apart)."""
    idle = (c.last < edges.cutoff).label("idle")
    fmt = "%Y-%m-%d %H" if edges.unit == "hour" else "%Y-%m-%d"
    bucket = _bucket_text(conn, edges.unit) if src is T else c.last
    for b, status, is_idle, n in conn.execute(
        select(bucket.label("b"), src.status, idle, c.weight)
        .where(*_window(edges, c))
        .group_by("b", src.status, "idle")
    ):
        text = b if isinstance(b, str) and src is T else b.strftime(fmt)
        out.trends[(text, label(status, is_idle))] += int(n)


def _money(conn: Connection, edges: Edges, c: _Cols, src: Any, out: Partials, risk: Any) -> None:
    if src is T:
        out.money_odd |= _row_money(conn, _window(edges, c), risk, out)
        return
    stmt = (
        select(src.currency, func.sum(src.with_amount), func.sum(src.amount_units),
               func.sum(src.amount_micros), func.sum(src.odd_amounts))
        .where(*_window(edges, c), risk)
        .group_by(src.currency)
    )  # fmt: skip
    try:
        rows = conn.execute(stmt).all()
    except OperationalError:  # SQLite's integer sum overflowed: sum the rows instead
        out.money_odd = True
        return
    for currency, with_amount, units, micros, odd in rows:
        if odd:
            out.money_odd = True
        if with_amount:
            key = currency or NO_CURRENCY
            value = Decimal(int(units)) + Decimal(int(micros)) / 1_000_000
            out.money[key] = out.money.get(key, Decimal(0)) + value


def _row_money(conn: Connection, where: list[Any], risk: Any, out: Partials) -> bool:
    rows = conn.execute(
        select(T.currency, T.amount, func.count())
        .where(*where, risk, T.amount.is_not(None))
        .group_by(T.currency, T.amount)
    )
    for currency, amount, n in rows:
        key = currency or NO_CURRENCY
        out.money[key] = out.money.get(key, Decimal(0)) + Decimal(amount or 0) * n
    return False


def plain_money(conn: Connection, edges: Edges) -> dict[str, Decimal]:
    """Money at risk of the whole window summed from the rows (when a roll-up cannot)."""
    out = Partials()
    stuck = and_(T.status == "in_progress", T.last_time < edges.cutoff)
    c = _Cols(T.first_time, T.last_time, func.count(), true())
    _row_money(conn, _window(edges, c), or_(T.status == "failed", stuck), out)
    return out.money


def _latency(conn: Connection, edges: Edges, c: _Cols, src: Any, out: Partials) -> None:
    seconds = (latency_sql(conn) if src is T else src.seconds).label("s")
    where = [*_window(edges, c)] + ([T.status == "succeeded"] if src is T else [])
    for flow, s, n in conn.execute(
        select(src.flow, seconds, c.weight).where(*where).group_by(src.flow, "s")
    ):
        out.latency[(flow or "(none)", int(s))] += int(n)


def _failures(conn: Connection, edges: Edges, c: _Cols, src: Any, out: Partials) -> None:
    where = [*_window(edges, c)] + ([T.status == "failed"] if src is T else [])
    message = src.error_message if src is T else func.min(src.error_message)
    group = [src.failed_system, src.failed_operation, src.error_code,
             src.error_message if src is T else src.message_key]  # fmt: skip
    stmt = select(src.failed_system, src.failed_operation, src.error_code, message, c.weight)
    for system, operation, code, text, n in conn.execute(stmt.where(*where).group_by(*group)):
        out.failures[(system or "", operation or "", code or None, text or None)] += int(n)


def layers(conn: Connection, edges: Edges, *, rollups: bool) -> Partials:
    """The counts of every layer of ``edges``' window, added up."""
    out = Partials()
    if not rollups:
        plain = _Cols(T.first_time, T.last_time, func.count(), true())
        _main(conn, edges, plain, T, out)
        _trends(conn, edges, plain, T, out)
        _latency(conn, edges, plain, T, out)
        _failures(conn, edges, plain, T, out)
        return out
    hourly = edges.unit == "hour"
    for src, status, grains, run in (
        (RollupTx, RollupTx.status, GRAINS, _combined),
        (RollupTx, RollupTx.status, ("hour",) if hourly else ("day", "hour"), _trends),
        (RollupLatency, "succeeded", GRAINS, _latency),
        (RollupErrors, "failed", GRAINS, _failures),
    ):
        parent: str | None = None
        for grain in grains:
            scope = and_(src.grain == grain, ~undecided(edges, grain, src.first_start,
                                                         src.last_start, status))  # fmt: skip
            if parent is not None:
                near = _near(edges, parent, src.grain == grain, src.first_start, src.last_start,
                             status)  # fmt: skip
                if near is None:
                    break
                cut = undecided(edges, parent, src.first_start, src.last_start, status)
                scope = and_(near, cut, scope)
            run(conn, edges, _Cols(src.first_start, src.last_start, func.sum(src.n), scope,
                                   parent is not None), src, out)  # fmt: skip
            parent = grain
    near = _near(edges, "hour", None, T.first_time, T.last_time, T.status)
    if near is not None:
        cut = undecided(edges, "hour", T.first_time, T.last_time, T.status)
        _rows(conn, edges, and_(near, cut), out)
    return out


def _rows(conn: Connection, edges: Edges, scope: ColumnElement[bool], out: Partials) -> None:
    """The rows layer in one pass: every figure a column of one ``GROUP BY``.

    Columns only some rows need are NULL on the others (the amount unless failed or
    stuck, the latency unless succeeded, the error unless failed), so they group
    only the rows that need them.
    """
    idle = (T.last_time < edges.cutoff).label("idle")
    failed = T.status == "failed"
    risk = or_(failed, and_(T.status == "in_progress", T.last_time < edges.cutoff))
    dims = [T.flow, T.legal_entity, T.systems, T.failed_system, T.status]
    extra = [
        idle,
        _age(edges, T.last_time),
        _late(edges, T.flow, T.first_time).label("late"),
        _bucket_text(conn, edges.unit).label("b"),
        case((risk, T.currency)).label("cur"),
        case((risk, T.amount)).label("amt"),
        case((T.status == "succeeded", latency_sql(conn))).label("lat"),
        case((failed, T.failed_operation)).label("op"),
        case((failed, T.error_code)).label("code"),
        case((failed, T.error_message)).label("msg"),
    ]
    names = ["idle", "age", "late", "b", "cur", "amt", "lat", "op", "code", "msg"]
    stmt = select(*dims, *extra, func.count()).where(scope).group_by(*dims, *names)
    row: Any
    for row in conn.execute(stmt):
        flow, entity, systems, fsys, status, is_idle, age, is_late, b, cur, amt, lat, *rest = row
        op, code, msg, n = rest
        name = label(status, is_idle)
        out.mix[(flow or None, entity or None, systems or "", fsys or None, name)] += n
        out.trends[(b, name)] += n
        if name in ("failed", "stuck"):
            out.backlog[str(age)] += n
            if amt is not None:
                key = cur or NO_CURRENCY
                out.money[key] = out.money.get(key, Decimal(0)) + Decimal(amt) * n
        if is_late and flow and status != "succeeded":
            out.open_late[flow] += n
        if status == "succeeded":
            out.latency[(flow or "(none)", int(lat))] += n
        elif status == "failed":
            out.failures[(fsys or "", op or "", code or None, msg or None)] += n


def _risk(conn: Connection, edges: Edges, c: _Cols, src: Any, out: Partials) -> None:
    stuck = and_(src.status == "in_progress", c.last < edges.cutoff)
    _money(conn, edges, c, src, out, or_(src.status == "failed", stuck))
