"""Reading times people type: RFC 3339, plain dates, or relative (``15m``, ``24h``, ``7d``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from services.errors import InputError

__all__ = ["parse_when", "check_window"]

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(text: str, *, name: str, now: datetime | None = None) -> datetime:
    """Parse ``text`` into naive UTC; ``name`` says which option in the error.

    Example:
        >>> parse_when("2026-05-11", name="--since")
        datetime.datetime(2026, 5, 11, 0, 0)
    """
    value = text.strip()
    rel = _RELATIVE.match(value.lower())
    if rel:
        base = now or datetime.now(UTC).replace(tzinfo=None)
        return base - timedelta(**{_UNITS[rel.group(2)]: int(rel.group(1))})
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise InputError(
            f"{name}: cannot read {value[:40]!r} as a time; use 2026-05-11, "
            "2026-05-11T10:15:00Z or a relative 15m / 24h / 7d"
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def check_window(
    since: datetime | None,
    until: datetime | None,
    *,
    names: tuple[str, str] = ("--since", "--until"),
) -> None:
    """Refuse a window that ends before it starts; ``names`` are the fields' labels."""
    if since is not None and until is not None and since > until:
        raise InputError(
            f"{names[0]} ({since.isoformat()}Z) is after {names[1]} ({until.isoformat()}Z): "
            "the window is empty"
        )
