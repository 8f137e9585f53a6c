"""One received item -> an accepted ``Parsed`` or a ``Rejected`` with its reason.

A pure function with no database, kept apart from the writer so what is
accepted or quarantined, and why, is decided in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.catalog import Catalog
from services.contract import parse_event
from services.errors import ContractError
from services.reader import UNDECODED, Item
from services.store import Parsed, raw_digest

__all__ = ["Rejected", "check_item"]


@dataclass(slots=True)
class Rejected:
    """A received item that breaks the contract: quarantined with ``reason``."""

    where: str
    reason: str
    raw: str
    source: str | None = None
    event_id: str | None = None


def _ident(value: Any) -> tuple[str | None, str | None]:
    if not isinstance(value, dict):
        return None, None
    source, event_id = value.get("source"), value.get("id")
    return (
        source if isinstance(source, str) else None,
        event_id if isinstance(event_id, str) else None,
    )


def check_item(item: Item, *, catalog: Catalog, max_event_bytes: int) -> Parsed | Rejected:
    """Decide what happens to one received item.

    Args:
        item: what the reader produced (decoded value or decode error).
        catalog: key scopes for the contract check.
        max_event_bytes: larger items are rejected (``Q2C_MAX_EVENT_BYTES``).
    """
    if item.error is not None or item.value is UNDECODED:
        return Rejected(item.where, item.error or "not valid JSON", item.raw)
    if len(item.raw) > max_event_bytes:
        size_mb = len(item.raw) / 1_048_576
        limit = max_event_bytes / 1_048_576
        return Rejected(
            item.where,
            f"event is {size_mb:.1f} MB, over the {limit:.1f} MB limit (Q2C_MAX_EVENT_BYTES)",
            item.raw,
            *_ident(item.value),
        )
    try:
        event = parse_event(item.value, catalog=catalog)
    except ContractError as exc:
        return Rejected(item.where, exc.reason, item.raw, *_ident(item.value))
    return Parsed(item.where, item.raw, event, raw_digest(item.raw))
