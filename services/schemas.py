"""Pydantic models the services return (the ``...Out`` family)."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

import orjson
from pydantic import BaseModel, Field

__all__ = [
    "ErrorOut",
    "EventOut",
    "QuarantineOut",
    "SearchFilters",
    "SearchOut",
    "TraceOut",
    "TransactionSummary",
    "iso",
]


def iso(value: datetime | None) -> str | None:
    """A naive-UTC datetime as RFC 3339 with ``Z`` and milliseconds."""
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds") + "Z"


class ErrorOut(BaseModel):
    code: str | None = None
    message: str | None = None
    http_status: int | None = None
    retryable: bool | None = None


class EventOut(BaseModel):
    """One stored event; ``cli_dict`` is the shape of ``q2c trace --json``.

    The payload as received is kept as text and decoded on first use, so a
    lookup that returns many events does not pay for bodies nobody opens.
    """

    source: str
    id: str
    time: datetime
    system: str
    operation: str
    status: str
    attempt: int
    error: ErrorOut | None = None
    subject: str | None = None
    correlation_id: str | None = None
    flow: str | None = None
    keys: dict[str, str] = Field(default_factory=dict)
    latency_ms: float | None = None
    amount: str | None = None
    currency: str | None = None
    legal_entity: str | None = None
    raw_text: str = "{}"

    @cached_property
    def raw(self) -> dict[str, Any]:
        """The CloudEvent as received (decoded)."""
        value = orjson.loads(self.raw_text)
        return value if isinstance(value, dict) else {}

    @property
    def _data(self) -> dict[str, Any]:
        data = self.raw.get("data")
        return data if isinstance(data, dict) else {}

    @property
    def request(self) -> Any:
        """The body that was sent to the target (the source of a replay)."""
        return self._data.get("request")

    @property
    def response(self) -> Any:
        """The body the target answered with."""
        return self._data.get("response")

    @property
    def endpoint(self) -> dict[str, Any] | None:
        endpoint = self._data.get("endpoint")
        return endpoint if isinstance(endpoint, dict) else None

    @property
    def idempotency_key(self) -> str | None:
        key = self._data.get("idempotency_key")
        return key if isinstance(key, str) else None

    @property
    def traceparent(self) -> str | None:
        value = self.raw.get("traceparent")
        return value if isinstance(value, str) else None

    def cli_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "id": self.id,
            "time": iso(self.time),
            "system": self.system,
            "operation": self.operation,
            "status": self.status,
            "attempt": self.attempt,
            "error": self.error.model_dump() if self.error else None,
        }


class TransactionSummary(BaseModel):
    """One row of a search: what the Explorer table shows."""

    transaction_id: str
    correlation_id: str | None
    provisional: bool
    flow: str | None
    status: str
    first_time: datetime
    last_time: datetime
    event_count: int
    systems: list[str]
    failed_step: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    last_step: str | None = None
    subject: str | None = None
    amount: str | None = None
    currency: str | None = None
    legal_entity: str | None = None
    triage_state: str | None = None  # open (a failed one nobody triaged) ... ignored
    assignee: str | None = None
    category: str | None = None  # of the failed step (services.triage.classify)
    origin: str | None = None

    def cli_dict(self) -> dict[str, Any]:
        data = self.model_dump()
        data["first_time"] = iso(self.first_time)
        data["last_time"] = iso(self.last_time)
        return data


class TraceOut(TransactionSummary):
    """A whole transaction: summary, every key, every event in time order, related ones."""

    keys: dict[str, list[str]] = Field(default_factory=dict)
    events: list[EventOut] = Field(default_factory=list)
    related: list[str] = Field(default_factory=list)

    def cli_dict(self) -> dict[str, Any]:
        return {
            "transaction_id": self.transaction_id,
            "correlation_id": self.correlation_id,
            "flow": self.flow,
            "status": self.status,
            "keys": self.keys,
            "events": [e.cli_dict() for e in self.events],
            "related": self.related,
        }


class SearchFilters(BaseModel):
    """Filters of ``q2c search`` and the Explorer."""

    key: str | None = None
    status: list[str] = Field(default_factory=list)
    system: str | None = None
    flow: str | None = None
    error_code: str | None = None
    triage: list[str] = Field(default_factory=list)  # triage states; "open" as in TraceOut
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(default=100, ge=1, le=10_000)
    offset: int = Field(default=0, ge=0)


class SearchOut(BaseModel):
    total: int
    transactions: list[TransactionSummary]

    def cli_dict(self) -> dict[str, Any]:
        return {"total": self.total, "transactions": [t.cli_dict() for t in self.transactions]}


class QuarantineOut(BaseModel):
    kind: str
    where: str
    reason: str
    source: str | None
    event_id: str | None
    raw: str
    received_at: datetime
