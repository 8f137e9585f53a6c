"""Builders of valid contract events for tests; override any attribute or data field."""

from __future__ import annotations

import itertools
from typing import Any

_counter = itertools.count(1)


def make_event(
    *,
    id: str | None = None,
    source: str = "urn:q2c:erp",
    type: str = "succeeded",
    time: str = "2026-05-11T10:00:00Z",
    correlationid: str | None = "o2c-0001",
    system: str = "erp",
    operation: str = "salesorder.create",
    flow: str | None = "order_activation",
    attempt: int | None = None,
    keys: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    **data: Any,
) -> dict[str, Any]:
    """A valid step event; ``type`` may be the short ``started|succeeded|failed``."""
    full_type = type if type.startswith("com.") else f"com.q2c.step.{type}"
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": id or f"evt-{next(_counter):06d}",
        "source": source,
        "type": full_type,
        "time": time,
        "data": {"system": system, "operation": operation},
    }
    if correlationid is not None:
        event["correlationid"] = correlationid
    body = event["data"]
    if flow is not None:
        body["flow"] = flow
    if attempt is not None:
        body["attempt"] = attempt
    if keys is not None:
        body["keys"] = keys
    if error is None and full_type.endswith("failed"):
        error = {"code": "PERIOD_CLOSED", "message": "Posting period is closed", "http_status": 409}
    if error is not None:
        body["error"] = error
    body.update(data)
    for name in drop:
        event.pop(name, None)
    return event


def flow_events(
    correlationid: str,
    steps: list[tuple[str, str]],
    *,
    start_minute: int = 0,
    fail_last: bool = False,
    flow: str = "order_activation",
    keys: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One event per step, a minute apart; the last one failed when ``fail_last``."""
    out = []
    for i, (system, operation) in enumerate(steps):
        failed = fail_last and i == len(steps) - 1
        minute = start_minute + i
        out.append(
            make_event(
                id=f"{correlationid}-{i}",
                source=f"urn:q2c:{system}",
                type="failed" if failed else "succeeded",
                time=f"2026-05-11T{10 + minute // 60:02d}:{minute % 60:02d}:00Z",
                correlationid=correlationid,
                system=system,
                operation=operation,
                flow=flow,
                keys=dict(keys or {}),
            )
        )
    return out
