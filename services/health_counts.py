"""The counting queries of the health figures, one per figure family and layer kind.

``count_main`` and friends are the plain formulation (one query per figure) that
``compute_health(rollups=False)`` runs over every row: the reference. The roll-up
layers use ``count_combined`` (mix, backlog, open SLA breaches and money in one
pass); the rows layer uses ``count_rows`` (everything in one ``GROUP BY``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, case, func, select, true
from sqlalchemy.exc import OperationalError
from sqlalchemy.sql.elements import ColumnElement

from services.health_sql import (
    Cols,
    Edges,
    Partials,
    age_case,
    at_risk,
    bucket_text,
    label,
    late_after,
    latency_sql,
    window,
)
from services.models import Transaction

__all__ = [
    "count_combined",
    "count_failures",
    "count_latency",
    "count_main",
    "count_rows",
    "count_trends",
    "plain_money",
    "reference",
]

T = Transaction


def reference(conn: Connection, edges: Edges) -> Partials:
    """Every figure from every row of the window, one plain query per figure."""
    out = Partials()
    plain = Cols(T.first_time, T.last_time, func.count(), true())
    count_main(conn, edges, plain, T, out)
    count_trends(conn, edges, plain, T, out)
    count_latency(conn, edges, plain, T, out)
    count_failures(conn, edges, plain, T, out)
    return out


def count_main(conn: Connection, edges: Edges, c: Cols, src: Any, out: Partials) -> None:
    """Status mix, backlog, open SLA breaches and trends of one layer."""
    w = window(edges, c)
    idle = (c.last < edges.cutoff).label("idle")
    risk = at_risk(edges, src.status, c.last)
    rows = conn.execute(
        select(
            src.flow, src.legal_entity, src.systems, src.failed_system, src.status, idle, c.weight
        )
        .where(*w)
        .group_by(src.flow, src.legal_entity, src.systems, src.failed_system, src.status, idle)
    )
    for *dims, status, is_idle, n in rows:
        out.add_mix(tuple(dims), label(status, is_idle), int(n))
    age = age_case(edges, c.last)
    for name, n in conn.execute(select(age, c.weight).where(*w, risk).group_by("age")):
        out.backlog[str(name)] += int(n)
    late = and_(src.status.in_(("failed", "in_progress")), late_after(edges, src.flow, c.first))
    for flow, n in conn.execute(select(src.flow, c.weight).where(*w, late).group_by(src.flow)):
        if flow:
            out.open_late[flow] += int(n)
    count_money(conn, edges, c, src, out)


def count_combined(conn: Connection, edges: Edges, c: Cols, src: Any, out: Partials) -> None:
    """What ``count_main`` counts, on roll-up rows, with every label a column of one
    ``GROUP BY`` (money apart: it sums other columns)."""
    idle = (c.last < edges.cutoff).label("idle")
    late = late_after(edges, src.flow, c.first).label("late")
    dims = [src.flow, src.legal_entity, src.systems, src.failed_system, src.status]
    stmt = (
        select(*dims, idle, age_case(edges, c.last), late, c.weight)
        .where(*window(edges, c))
        .group_by(*dims, "idle", "age", "late")
    )
    row: Any
    for row in conn.execute(stmt):
        flow, entity, systems, failed_system, status, is_idle, age, is_late, n = row
        name = label(status, is_idle)
        out.add_mix((flow, entity, systems, failed_system), name, int(n))
        if name in ("failed", "stuck"):
            out.backlog[str(age)] += int(n)
        if is_late and flow and status != "succeeded":
            out.open_late[flow] += int(n)
    count_money(conn, edges, c, src, out)


def count_trends(conn: Connection, edges: Edges, c: Cols, src: Any, out: Partials) -> None:
    """Transactions per hour or day of their last event, by status (stuck apart)."""
    idle = (c.last < edges.cutoff).label("idle")
    fmt = "%Y-%m-%d %H" if edges.unit == "hour" else "%Y-%m-%d"
    bucket = bucket_text(conn, edges.unit) if src is T else c.last
    for b, status, is_idle, n in conn.execute(
        select(bucket.label("b"), src.status, idle, c.weight)
        .where(*window(edges, c))
        .group_by("b", src.status, "idle")
    ):
        text = b if isinstance(b, str) and src is T else b.strftime(fmt)
        out.trends[(text, label(status, is_idle))] += int(n)


def count_money(conn: Connection, edges: Edges, c: Cols, src: Any, out: Partials) -> None:
    """Money at risk per currency: amounts summed from rows, units + millionths from
    roll-ups (``money_odd`` when a roll-up holds an amount it cannot sum exactly)."""
    risk = at_risk(edges, src.status, c.last)
    if src is T:
        _row_money(conn, [*window(edges, c), risk], out)
        return
    stmt = (
        select(src.currency, func.sum(src.with_amount), func.sum(src.amount_units),
               func.sum(src.amount_micros), func.sum(src.odd_amounts))
        .where(*window(edges, c), risk)
        .group_by(src.currency)
    )  # fmt: skip
    try:
        rows = conn.execute(stmt).all()
    except OperationalError:  # SQLite's integer sum overflowed: sum the rows instead
        out.money_odd = True
        return
    for currency, with_amount, units, micros, odd in rows:
        out.money_odd |= bool(odd)
        if with_amount:
            out.add_money(currency, Decimal(int(units)) + Decimal(int(micros)) / 1_000_000)


def _row_money(conn: Connection, where: list[Any], out: Partials) -> None:
    rows = conn.execute(
        select(T.currency, T.amount, func.count())
        .where(*where, T.amount.is_not(None))
        .group_by(T.currency, T.amount)
    )
    for currency, amount, n in rows:
        out.add_money(currency, Decimal(amount or 0) * n)  # NULL amounts are filtered out


def plain_money(conn: Connection, edges: Edges) -> dict[str, Decimal]:
    """Money at risk of the whole window summed from the rows (when a roll-up cannot)."""
    out = Partials()
    c = Cols(T.first_time, T.last_time, func.count(), true())
    count_money(conn, edges, c, T, out)
    return out.money


def count_latency(conn: Connection, edges: Edges, c: Cols, src: Any, out: Partials) -> None:
    seconds = (latency_sql(conn) if src is T else src.seconds).label("s")
    where = [*window(edges, c)] + ([T.status == "succeeded"] if src is T else [])
    for flow, s, n in conn.execute(
        select(src.flow, seconds, c.weight).where(*where).group_by(src.flow, "s")
    ):
        out.latency[(flow or "(none)", int(s))] += int(n)


def count_failures(conn: Connection, edges: Edges, c: Cols, src: Any, out: Partials) -> None:
    where = [*window(edges, c)] + ([T.status == "failed"] if src is T else [])
    message = src.error_message if src is T else func.min(src.error_message)
    group = [src.failed_system, src.failed_operation, src.error_code,
             src.error_message if src is T else src.message_key]  # fmt: skip
    stmt = select(src.failed_system, src.failed_operation, src.error_code, message, c.weight)
    for system, operation, code, text, n in conn.execute(stmt.where(*where).group_by(*group)):
        out.failures[(system or "", operation or "", code or None, text or None)] += int(n)


def count_rows(conn: Connection, edges: Edges, scope: ColumnElement[bool], out: Partials) -> None:
    """The rows layer in one pass: every figure a column of one ``GROUP BY``.

    Columns only some rows need are NULL on the others (the amount unless failed or
    stuck, the latency unless succeeded, the error unless failed), so they group
    only the rows that need them.
    """
    idle = (T.last_time < edges.cutoff).label("idle")
    failed = T.status == "failed"
    risk = at_risk(edges, T.status, T.last_time)
    dims = [T.flow, T.legal_entity, T.systems, T.failed_system, T.status]
    extra = [
        idle,
        age_case(edges, T.last_time),
        late_after(edges, T.flow, T.first_time).label("late"),
        bucket_text(conn, edges.unit).label("b"),
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
        out.add_mix((flow, entity, systems, fsys), name, n)
        out.trends[(b, name)] += n
        if name in ("failed", "stuck"):
            out.backlog[str(age)] += n
            if amt is not None:
                out.add_money(cur, Decimal(amt) * n)
        if is_late and flow and status != "succeeded":
            out.open_late[flow] += n
        if status == "succeeded":
            out.latency[(flow or "(none)", int(lat))] += n
        elif status == "failed":
            out.failures[(fsys or "", op or "", code or None, msg or None)] += n
