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
the bucket start in place of the time. With ``rollups=False`` one plain query per
figure reads every row (``health_counts.reference``): the reference the roll-ups are tested against.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, false, func, or_
from sqlalchemy.sql.elements import ColumnElement

from services.health_counts import (
    count_combined,
    count_failures,
    count_latency,
    count_rows,
    count_trends,
    reference,
)
from services.health_sql import Cols, Edges, Partials, window_conds
from services.models import Transaction
from services.rollups import (
    GRAINS,
    RollupErrors,
    RollupLatency,
    RollupTx,
    bucket_end,
    bucket_start,
)

__all__ = ["layers", "undecided"]

T = Transaction


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
    window = window_conds(edges, first, last)
    return or_(*(and_(term, *window) for term in terms))


def layers(conn: Connection, edges: Edges, *, rollups: bool) -> Partials:
    """The counts of every layer of ``edges``' window, added up."""
    if not rollups:
        return reference(conn, edges)
    out = Partials()
    hourly = edges.unit == "hour"
    for src, status, grains, run in (
        (RollupTx, RollupTx.status, GRAINS, count_combined),
        (RollupTx, RollupTx.status, ("hour",) if hourly else ("day", "hour"), count_trends),
        (RollupLatency, "succeeded", GRAINS, count_latency),
        (RollupErrors, "failed", GRAINS, count_failures),
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
            run(conn, edges, Cols(src.first_start, src.last_start, func.sum(src.n), scope,
                                   parent is not None), src, out)  # fmt: skip
            parent = grain
    near = _near(edges, "hour", None, T.first_time, T.last_time, T.status)
    if near is not None:
        cut = undecided(edges, "hour", T.first_time, T.last_time, T.status)
        count_rows(conn, edges, and_(near, cut), out)
    return out
