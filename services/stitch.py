"""Stitching and status: pure functions of a set of events (no database here).

The result depends only on the set, never on arrival order, which is what lets
ingestion recompute a component of linked events whenever one of it arrives.

Rules (event contract, "Stitching rules" and "Transaction status"):

1. Events with the same correlation ID form one anchored transaction.
2. An event without one joins the anchored transaction that carries one of its
   transaction-scoped keys; keys of joined events count too (transitive). When
   several could take it, the nearest by number of links wins, then the smallest
   correlation ID, so the choice is deterministic.
3. Events that reach no anchor form provisional transactions, one per connected
   group; they are folded in as soon as a linking event arrives.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from services.catalog import Catalog

__all__ = [
    "EventRow",
    "TransactionRecord",
    "anchored_id",
    "assign",
    "display_status",
    "provisional_id",
    "summarize",
]

_RANK = {"started": 0, "failed": 1, "succeeded": 1}


@dataclass(slots=True)
class EventRow:
    """What stitching and status need to know about one stored event."""

    source: str
    id: str
    time: datetime
    system: str
    operation: str
    status: str
    attempt: int
    keys: dict[str, str]
    correlation_id: str | None = None
    flow: str | None = None
    subject: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    amount: str | None = None
    currency: str | None = None
    legal_entity: str | None = None
    pk: int | None = None
    ident: tuple[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.ident = (self.source, self.id)


@dataclass(slots=True)
class TransactionRecord:
    """A stitched transaction as stored in ``transactions`` and ``transaction_keys``."""

    transaction_id: str
    correlation_id: str | None
    flow: str | None
    status: str
    first_time: datetime
    last_time: datetime
    event_count: int
    systems: list[str]
    failed_system: str | None = None
    failed_operation: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    last_step: str | None = None
    subject: str | None = None
    amount: str | None = None
    currency: str | None = None
    legal_entity: str | None = None
    keys: dict[str, set[str]] = field(default_factory=dict)


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


@lru_cache(maxsize=65_536)
def anchored_id(correlation_id: str) -> str:
    """The stable transaction id of a correlation ID."""
    return "tx-" + _digest("c\x00" + correlation_id)


def provisional_id(events: Iterable[EventRow]) -> str:
    """A provisional transaction's id: derived from its smallest event identity."""
    first = min(e.ident for e in events)
    return "tx-" + _digest("p\x00" + first[0] + "\x00" + first[1])


def assign(events: Sequence[EventRow], catalog: Catalog) -> dict[tuple[str, str], str]:
    """Map each event identity to its transaction id (a pure function of the set).

    Args:
        events: a closed component: every event linked by correlation ID or a
            transaction-scoped key to any event in it must be present.
        catalog: decides which keys are transaction-scoped.

    Returns:
        ``{(source, id): transaction_id}`` for every event.
    """
    tx_keys = catalog.transaction_keys
    result: dict[tuple[str, str], str] = {}
    label: dict[tuple[str, str], tuple[int, str]] = {}  # key value -> (distance, cid)
    loose: list[EventRow] = []
    for ev in events:
        if ev.correlation_id is not None:
            result[ev.ident] = anchored_id(ev.correlation_id)
            for name, value in ev.keys.items():
                if name in tx_keys:
                    kv = (name, value)
                    cand = (0, ev.correlation_id)
                    if kv not in label or cand < label[kv]:
                        label[kv] = cand
        else:
            loose.append(ev)
    if not loose:
        return result

    by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, ev in enumerate(loose):
        for name, value in ev.keys.items():
            if name in tx_keys:
                by_key[(name, value)].append(i)

    # Dijkstra over event <-> key links; labels compare as (distance, cid).
    best: dict[int, tuple[int, str]] = {}
    heap: list[tuple[int, str, int]] = []
    for kv, (dist, cid) in label.items():
        for i in by_key.get(kv, ()):
            cand = (dist + 1, cid)
            if i not in best or cand < best[i]:
                best[i] = cand
                heapq.heappush(heap, (cand[0], cand[1], i))
    done: set[int] = set()
    while heap:
        dist, cid, i = heapq.heappop(heap)
        if i in done or best.get(i) != (dist, cid):
            continue
        done.add(i)
        for name, value in loose[i].keys.items():
            if name not in tx_keys:
                continue
            for j in by_key[(name, value)]:
                cand = (dist + 1, cid)
                if j not in done and (j not in best or cand < best[j]):
                    best[j] = cand
                    heapq.heappush(heap, (cand[0], cand[1], j))
    for i in done:
        result[loose[i].ident] = anchored_id(best[i][1])

    # Whatever reached no anchor: provisional transactions, one per connected group.
    parent = list(range(len(loose)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for members in by_key.values():
        rest = [m for m in members if m not in done]
        for other in rest[1:]:
            parent[find(other)] = find(rest[0])
    groups: dict[int, list[EventRow]] = defaultdict(list)
    for i, ev in enumerate(loose):
        if i not in done:
            groups[find(i)].append(ev)
    for members_ in groups.values():
        pid = provisional_id(members_)
        for ev in members_:
            result[ev.ident] = pid
    return result


def _order(ev: EventRow) -> tuple[datetime, int, int, str, str]:
    return (ev.time, ev.attempt, _RANK.get(ev.status, 0), ev.source, ev.id)


def _failed_ops(
    events: Sequence[EventRow], *, want_all_ok: bool
) -> tuple[dict[tuple[str, str], EventRow], bool]:
    """Operations whose latest attempt failed with no later success; whether every
    operation's latest attempt succeeded (only computed when ``want_all_ok``)."""
    by_op: dict[tuple[str, str], list[EventRow]] = {}
    for ev in events:
        op = (ev.system, ev.operation)
        group = by_op.get(op)
        if group is None:
            by_op[op] = [ev]
        else:
            group.append(ev)
    failed: dict[tuple[str, str], EventRow] = {}
    all_ok = True
    for op, evs in by_op.items():
        latest: EventRow | None = None
        for e in evs:
            if e.status != "started" and (
                latest is None
                or (e.attempt, e.time, e.ident) > (latest.attempt, latest.time, latest.ident)
            ):
                latest = e
        if latest is not None and latest.status == "failed":
            if not any(e.status == "succeeded" and e.time > latest.time for e in evs):
                failed[op] = latest
        if want_all_ok and all_ok:
            last = max(evs, key=lambda e: (e.attempt, e.time, _RANK.get(e.status, 0), e.ident))
            all_ok = last.status == "succeeded"
    return failed, all_ok


def summarize(
    transaction_id: str, events: Sequence[EventRow], catalog: Catalog
) -> TransactionRecord:
    """Status, keys and headline facts of one transaction's events."""
    ordered = sorted(events, key=_order)
    cids = {e.correlation_id for e in ordered if e.correlation_id is not None}
    flows = Counter(e.flow for e in ordered if e.flow)
    flow = min(flows, key=lambda f: (-flows[f], f)) if flows else None

    terminal = catalog.terminal(flow)
    failed, all_ok = _failed_ops(ordered, want_all_ok=terminal is None)
    if failed:
        status = "failed"
    elif terminal is not None:
        goal = (terminal.system, terminal.operation)
        done = any(e.status == "succeeded" and (e.system, e.operation) == goal for e in ordered)
        status = "succeeded" if done else "in_progress"
    else:
        status = "succeeded" if all_ok else "in_progress"

    rec = TransactionRecord(
        transaction_id=transaction_id,
        correlation_id=min(cids) if cids else None,
        flow=flow,
        status=status,
        first_time=ordered[0].time,
        last_time=ordered[-1].time,
        event_count=len(ordered),
        systems=sorted({e.system for e in ordered}),
        last_step=f"{ordered[-1].system} {ordered[-1].operation}",
    )
    if failed:

        def position(item: tuple[tuple[str, str], EventRow]) -> tuple[int, datetime]:
            idx = catalog.step_index(flow, *item[0])
            return (idx if idx is not None else 10_000, item[1].time)

        (fsys, fop), fev = min(failed.items(), key=position)
        rec.failed_system, rec.failed_operation = fsys, fop
        rec.error_code, rec.error_message = fev.error_code, fev.error_message
    for ev in ordered:
        if rec.subject is None and ev.subject:
            rec.subject = ev.subject
        if rec.amount is None and ev.amount is not None:
            rec.amount, rec.currency = ev.amount, ev.currency
        if rec.legal_entity is None and ev.legal_entity:
            rec.legal_entity = ev.legal_entity
        for name, value in ev.keys.items():
            rec.keys.setdefault(name, set()).add(value)
    return rec


def display_status(
    status: str, last_time: datetime, *, now: datetime, stuck_after: timedelta
) -> str:
    """``stuck`` for an in-progress transaction idle longer than the threshold."""
    if status == "in_progress" and now - last_time > stuck_after:
        return "stuck"
    return status
