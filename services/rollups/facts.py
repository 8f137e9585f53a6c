"""What one transaction adds to the health roll-ups: buckets, latency, money.

Pure functions, shared by ingest (which adds a transaction's new row and takes
away its old one) and by ``rebuild``; the health queries bucket the rows they
read themselves with the SQL twins of these rules (``services.health_layers``).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

__all__ = [
    "GRAINS",
    "Deltas",
    "Facts",
    "bucket_end",
    "bucket_start",
    "latency_bucket",
    "message_key",
    "split_amount",
]

GRAINS = ("month", "day", "hour")  # coarse to fine; each bucket lies inside one of the coarser
MICROS = 1_000_000
AMOUNT_LIMIT = Decimal(10) ** 12  # an amount at or above a trillion is summed from the rows


class Facts(NamedTuple):
    """The columns of one ``transactions`` row the roll-ups need."""

    first_time: datetime
    last_time: datetime
    flow: str | None
    legal_entity: str | None
    systems: str | None
    failed_system: str | None
    failed_operation: str | None
    status: str
    currency: str | None
    amount: str | None
    error_code: str | None
    error_message: str | None


def bucket_start(t: datetime, grain: str) -> datetime:
    """The start of the month, day or hour holding ``t``."""
    if grain == "hour":
        return t.replace(minute=0, second=0, microsecond=0)
    if grain == "day":
        return t.replace(hour=0, minute=0, second=0, microsecond=0)
    return t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def bucket_end(start: datetime, grain: str) -> datetime:
    """The start of the next bucket after the one starting at ``start``."""
    if grain == "hour":
        return start + timedelta(hours=1)
    if grain == "day":
        return start + timedelta(days=1)
    return (start + timedelta(days=32)).replace(day=1)


def latency_bucket(first: datetime, last: datetime) -> int:
    """End-to-end latency in seconds, rounded up to its bucket.

    Whole seconds (rounded up) below a minute, 5 s steps below ten minutes, whole
    minutes above. Every bucket edge from a minute on is a whole minute, so "longer
    than an SLA of N minutes" is exact on the bucket.

    Example:
        >>> latency_bucket(datetime(2026, 1, 1), datetime(2026, 1, 1, 0, 1, 1))
        65
    """
    d = last - first
    us = (d.days * 86400 + d.seconds) * MICROS + d.microseconds
    s = max(0, -(-us // MICROS))
    if s < 60:
        return s
    if s < 600:
        return -(-s // 5) * 5
    return -(-s // 60) * 60


def split_amount(amount: str | None) -> tuple[int, int, int, int]:
    """``(with_amount, units, micros, odd)`` of one amount, exact.

    Example:
        >>> split_amount("-10.25")
        (1, -11, 750000, 0)
    """
    if amount is None:
        return 0, 0, 0, 0
    try:
        scaled = Decimal(amount) * MICROS
    except InvalidOperation:
        return 1, 0, 0, 1
    if (
        not scaled.is_finite()
        or scaled != scaled.to_integral_value()
        or abs(scaled) >= (AMOUNT_LIMIT * MICROS)
    ):
        return 1, 0, 0, 1
    units, micros = divmod(int(scaled), MICROS)
    return 1, units, micros, 0


def message_key(message: str | None) -> str:
    return hashlib.sha1((message or "").encode("utf-8", "surrogatepass")).hexdigest()


def _coarser(hour: datetime) -> tuple[tuple[str, datetime], ...]:
    return tuple((grain, bucket_start(hour, grain)) for grain in GRAINS)


class Deltas:
    """Changes to the roll-up rows, keyed like their primary keys.

    ``add`` sums per hour (one key per transaction); ``rows`` spreads each hour's
    sums to its day and month, so the per-transaction work does not grow with the
    number of grains.
    """

    def __init__(self) -> None:
        self.tx: defaultdict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        self.latency: Counter[tuple] = Counter()
        self.errors: Counter[tuple] = Counter()

    def add(self, f: Facts, sign: int) -> None:
        """Add (``sign`` 1) or take away (-1) one transaction."""
        with_amount, units, micros, odd = split_amount(f.amount)
        last, first = bucket_start(f.last_time, "hour"), bucket_start(f.first_time, "hour")
        key = (last, first, f.flow or "", f.legal_entity or "", f.systems or "",
               f.failed_system or "", f.status, f.currency or "")  # fmt: skip
        acc = self.tx[key]
        acc[0] += sign
        acc[1] += sign * with_amount
        acc[2] += sign * units
        acc[3] += sign * micros
        acc[4] += sign * odd
        if f.status == "succeeded":
            seconds = latency_bucket(f.first_time, f.last_time)
            self.latency[(last, first, f.flow or "", seconds)] += sign
        elif f.status == "failed":
            ekey = (last, first, f.failed_system or "", f.failed_operation or "",
                    f.error_code or "", f.error_message or "")  # fmt: skip
            self.errors[ekey] += sign

    def rows(self) -> tuple[list[tuple], list[tuple], list[tuple]]:
        """The non-zero changes of every grain as parameter tuples, in key order."""
        tx: defaultdict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        for (last, first, *dims), sums in self.tx.items():
            if any(sums):
                for (grain, lb), (_, fb) in zip(_coarser(last), _coarser(first), strict=True):
                    acc = tx[(grain, lb, fb, *dims)]
                    for i, v in enumerate(sums):
                        acc[i] += v
        lat: Counter[tuple] = Counter()
        for (last, first, *dims), n in self.latency.items():
            if n:
                for (grain, lb), (_, fb) in zip(_coarser(last), _coarser(first), strict=True):
                    lat[(grain, lb, fb, *dims)] += n
        err: Counter[tuple] = Counter()
        for (last, first, fsys, op, code, message), n in self.errors.items():
            if n:
                for (grain, lb), (_, fb) in zip(_coarser(last), _coarser(first), strict=True):
                    err[(grain, lb, fb, fsys, op, code, message_key(message), message)] += n
        return (
            [(*k, *v) for k, v in sorted(tx.items()) if any(v)],
            [(*k, n) for k, n in sorted(lat.items()) if n],
            [(*k, n) for k, n in sorted(err.items()) if n],
        )
