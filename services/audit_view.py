"""The audit log for pages: list, verify and export through the Console, never its engine.

Pages (Trace's "Actions on record", the Audit page) call these plain functions
with the :class:`~services.console.Console` they already hold; the SQL stays in
:mod:`services.audit`.
"""

from __future__ import annotations

import io
from datetime import datetime

from pydantic import BaseModel, Field

from services import audit
from services.audit import AuditOut, VerifyResult
from services.console import Console

__all__ = [
    "AuditFilters",
    "export_log",
    "list_entries",
    "transaction_entries",
    "verify_log",
]


class AuditFilters(BaseModel):
    """What the Audit page filters on; empty fields do not filter."""

    actor: str | None = None
    action: str | None = None
    key: str | None = None  # a transaction id or any key a transaction carries
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(default=200, ge=1, le=10_000)


def list_entries(console: Console, filters: AuditFilters) -> list[AuditOut]:
    """Audit entries matching ``filters``, newest first, at most ``filters.limit``.

    A ``key`` that is not itself a transaction id on record is looked up like the
    Trace page does (order, invoice, correlation ID, ...), and the entries of every
    transaction carrying it are listed.

    Args:
        console: the console whose store holds the log.
        filters: actor, action, key, time window, limit.

    Returns:
        The entries, newest first.

    Example:
        >>> list_entries(console, AuditFilters(actor="ana", limit=50))
    """

    def fetch(transaction_id: str | None) -> list[AuditOut]:
        return audit.entries(
            console.engine,
            transaction_id=transaction_id,
            actor=filters.actor or None,
            action=filters.action or None,
            since=filters.since,
            until=filters.until,
            limit=filters.limit,
            newest_first=True,
        )

    key = (filters.key or "").strip()
    if not key:
        return fetch(None)
    found = fetch(key)
    if found:
        return found
    merged = [e for trace in console.find_traces(key) for e in fetch(trace.transaction_id)]
    merged.sort(key=lambda e: e.seq, reverse=True)
    return merged[: filters.limit]


def transaction_entries(console: Console, transaction_id: str) -> list[AuditOut]:
    """Every action on record for one transaction, oldest first (the Trace page's list)."""
    return audit.entries(console.engine, transaction_id=transaction_id)


def verify_log(console: Console) -> VerifyResult:
    """Check the hash chain: ``ok`` with entries and head, or each problem found."""
    return audit.verify(console.engine)


def export_log(console: Console, fmt: str = "jsonl") -> str:
    """The whole log, oldest first, as JSONL (verifiable offline) or CSV text.

    Raises:
        InputError: ``fmt`` is neither ``jsonl`` nor ``csv``.
    """
    out = io.StringIO()
    audit.export(console.engine, out, fmt=fmt)
    return out.getvalue()
