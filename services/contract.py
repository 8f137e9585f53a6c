"""The trace event contract, version 1 (``shared/design/event-contract.md``).

:func:`parse_event` turns one decoded JSON value into a :class:`StepEvent` or
raises :class:`~services.errors.ContractError` with a reason a person can act on.
It is hand-written rather than a pydantic model because it runs once per event on
the ingest hot path; the checks mirror the contract's tables one for one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from services.catalog import Catalog, load_catalog
from services.errors import ContractError

__all__ = ["EVENT_TYPES", "StepEvent", "parse_event", "parse_time"]

EVENT_TYPES = {
    "com.q2c.step.started": "started",
    "com.q2c.step.succeeded": "succeeded",
    "com.q2c.step.failed": "failed",
}
_SYSTEM = re.compile(r"^[a-z][a-z0-9_\-]*$")
_OPERATION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_KEY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_TIME_SHAPE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+\-]\d{2}:\d{2})$"
)
_REQUIRED = ("specversion", "id", "source", "type")
_SPACE = re.compile(r"\s")
_PLAIN_DECIMAL = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$")
_SEEN_SYSTEMS: set[str | None] = set()  # valid names recur: skip their regex next time
_SEEN_OPERATIONS: set[str | None] = set()


@dataclass(slots=True)
class StepEvent:
    """One attempt of one operation in one system, as the contract defines it."""

    source: str
    id: str
    type: str
    status: str  # started | succeeded | failed
    time: datetime  # UTC, naive (stored as UTC everywhere)
    system: str
    operation: str
    attempt: int
    keys: dict[str, str]
    correlation_id: str | None = None
    subject: str | None = None
    traceparent: str | None = None
    flow: str | None = None
    idempotency_key: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    http_status: int | None = None
    retryable: bool | None = None
    latency_ms: float | None = None
    amount: str | None = None
    currency: str | None = None
    legal_entity: str | None = None

    @property
    def step(self) -> tuple[str, str]:
        return (self.system, self.operation)


def parse_time(value: Any, *, field: str = "time") -> datetime:
    """Parse an RFC 3339 timestamp with offset into naive UTC."""
    if not isinstance(value, str) or not value:
        raise ContractError(f"'{field}' must be an RFC 3339 timestamp string with offset")
    if not _TIME_SHAPE.match(value):
        raise ContractError(
            f"'{field}' {value[:40]!r} is not RFC 3339 with an offset "
            "(e.g. 2026-05-11T10:15:03.120Z)"
        )
    try:
        if value[-1] in "Zz":  # the common case: already UTC
            return datetime.fromisoformat(value[:-1].replace("t", "T"))
        parsed = datetime.fromisoformat(value.replace("t", "T"))
    except ValueError:
        raise ContractError(f"'{field}' {value[:40]!r} is not a valid date and time") from None
    return parsed.astimezone(UTC).replace(tzinfo=None)


def _text(obj: dict[str, Any], name: str, where: str, *, required: bool = False) -> str | None:
    value = obj.get(name)
    if type(value) is str and value and not value.isspace():  # the usual case, checked first
        return value
    if value is None:
        if required:
            raise ContractError(f"missing required '{where}{name}'")
        return None
    raise ContractError(f"'{where}{name}' must be a non-empty string")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else "null"
    )


def _error(data: dict[str, Any], failed: bool) -> tuple[str | None, str | None, int | None, Any]:
    err = data.get("error")
    if err is None:
        if failed:
            raise ContractError("a com.q2c.step.failed event needs data.error {code, message}")
        return None, None, None, None
    if not isinstance(err, dict):
        raise ContractError(f"data.error must be an object, got {_kind(err)}")
    code = _text(err, "code", "data.error.", required=failed)
    message = _text(err, "message", "data.error.", required=failed)
    status = err.get("http_status")
    if status is not None and (type(status) is not int or not 100 <= status <= 599):
        raise ContractError("data.error.http_status must be an integer HTTP status (100-599)")
    retryable = err.get("retryable")
    if retryable is not None and not isinstance(retryable, bool):
        raise ContractError("data.error.retryable must be true or false")
    return code, message, status, retryable


def _amount(data: dict[str, Any]) -> tuple[str | None, str | None]:
    amount, currency = data.get("amount"), data.get("currency")
    text: str | None = None
    if type(amount) is str and _PLAIN_DECIMAL.match(amount):  # "24000.00": already canonical
        text = amount
    elif amount is not None:
        if isinstance(amount, bool) or not isinstance(amount, str | int | float):
            raise ContractError("data.amount must be a decimal string or a number")
        try:
            dec = Decimal(str(amount))
        except InvalidOperation:
            raise ContractError(f"data.amount {str(amount)[:40]!r} is not a decimal") from None
        if not dec.is_finite():
            raise ContractError("data.amount must be a finite decimal")
        text = str(dec)
    if currency is not None and (not isinstance(currency, str) or not _CURRENCY.match(currency)):
        raise ContractError(f"data.currency {str(currency)[:20]!r} is not an ISO 4217 code")
    return text, currency


def _keys(data: dict[str, Any]) -> dict[str, str]:
    keys = data.get("keys")
    if keys is None:
        return {}
    if not isinstance(keys, dict):
        raise ContractError(f"data.keys must be an object of strings, got {_kind(keys)}")
    for name, value in keys.items():
        if not _KEY_NAME.match(name):
            raise ContractError(f"data.keys name {name[:40]!r} must be a lowercase identifier")
        if not isinstance(value, str):
            raise ContractError(f"data.keys.{name} must be a string, got {_kind(value)}")
        if not value.strip():
            raise ContractError(f"data.keys.{name} must not be empty")
    return keys


def parse_event(obj: Any, *, catalog: Catalog | None = None) -> StepEvent:
    """Check one decoded event against the contract.

    Args:
        obj: the decoded JSON value of one event.
        catalog: the flow catalog whose key scopes apply (the default when None).

    Returns:
        The event as a ``StepEvent`` (time in UTC).

    Raises:
        ContractError: the first rule the event breaks, in words a person can act on.

    Example:
        >>> ev = parse_event({"specversion": "1.0", "id": "e1", "source": "urn:q2c:erp",
        ...     "type": "com.q2c.step.succeeded", "time": "2026-05-11T10:15:03Z",
        ...     "correlationid": "o2c-1", "data": {"system": "erp", "operation": "invoice.post"}})
        >>> ev.status, ev.attempt
        ('succeeded', 1)
    """
    if not isinstance(obj, dict):
        raise ContractError(f"an event must be a JSON object, got {_kind(obj)}")
    missing = [name for name in _REQUIRED if name not in obj]
    if missing:
        raise ContractError("missing required attribute " + ", ".join(f"'{m}'" for m in missing))
    if obj["specversion"] != "1.0":
        raise ContractError(f'specversion must be "1.0", got {str(obj["specversion"])[:20]!r}')
    event_id = _text(obj, "id", "", required=True)
    source = _text(obj, "source", "", required=True)
    assert event_id is not None and source is not None
    if _SPACE.search(source):
        raise ContractError("'source' must be a URI-reference without spaces")
    status = EVENT_TYPES.get(obj["type"]) if isinstance(obj["type"], str) else None
    if status is None:
        raise ContractError(
            f"unknown type {str(obj['type'])[:60]!r}: expected one of " + ", ".join(EVENT_TYPES)
        )
    if "time" not in obj:
        raise ContractError("missing required attribute 'time'")
    when = parse_time(obj["time"])
    dct = obj.get("datacontenttype")
    if dct is not None and (not isinstance(dct, str) or not dct.startswith("application/json")):
        raise ContractError("datacontenttype must be application/json when present")
    correlation_id = _text(obj, "correlationid", "")
    subject = obj.get("subject")
    traceparent = obj.get("traceparent")

    data = obj.get("data")
    if not isinstance(data, dict):
        raise ContractError(
            "missing required 'data' object"
            if data is None
            else f"data must be a JSON object, got {_kind(data)}"
        )
    system = _text(data, "system", "data.", required=True)
    if system not in _SEEN_SYSTEMS and not _SYSTEM.match(system or ""):
        raise ContractError(f"data.system {system!r} must be a lowercase identifier, e.g. erp")
    operation = _text(data, "operation", "data.", required=True)
    if operation not in _SEEN_OPERATIONS and not _OPERATION.match(operation or ""):
        raise ContractError(
            f"data.operation {operation!r} must be a dotted lowercase name, e.g. invoice.post"
        )
    flow = _text(data, "flow", "data.")
    attempt = data.get("attempt", 1)
    if type(attempt) is not int or attempt < 1:
        raise ContractError(f"data.attempt must be an integer >= 1, got {str(attempt)[:20]}")
    keys = _keys(data)
    scopes = catalog or load_catalog()
    if correlation_id is None and not any(k in scopes.transaction_keys for k in keys):
        raise ContractError(
            "needs a correlationid or a transaction-scoped key in data.keys ("
            + ", ".join(sorted(scopes.transaction_keys))
            + ")"
        )
    code, message, http_status, retryable = _error(data, status == "failed")
    latency = data.get("latency_ms")
    if latency is not None and (
        isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0
    ):
        raise ContractError("data.latency_ms must be a number >= 0")
    endpoint = data.get("endpoint")
    if endpoint is not None and not isinstance(endpoint, dict):
        raise ContractError(f"data.endpoint must be an object, got {_kind(endpoint)}")
    amount, currency = _amount(data)
    legal_entity = _text(data, "legal_entity", "data.")
    if len(_SEEN_OPERATIONS) < 10_000:
        _SEEN_SYSTEMS.add(system)
        _SEEN_OPERATIONS.add(operation)
    idem = _text(data, "idempotency_key", "data.")
    return StepEvent(
        source=source,
        id=event_id,
        type=obj["type"],
        status=status,
        time=when,
        system=system or "",
        operation=operation or "",
        attempt=attempt,
        keys=keys,
        correlation_id=correlation_id,
        subject=subject if isinstance(subject, str) else None,
        traceparent=traceparent if isinstance(traceparent, str) else None,
        flow=flow,
        idempotency_key=idem,
        error_code=code,
        error_message=message,
        http_status=http_status,
        retryable=retryable,
        latency_ms=float(latency) if latency is not None else None,
        amount=amount,
        currency=currency,
        legal_entity=legal_entity,
    )
