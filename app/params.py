"""Deep links: keep a page's widgets and its URL query parameters in step.

The URL wins when it changes (a link was opened); the widgets win when the user
edits them (the URL is rewritten so it can be shared). Navigating away and back
through the sidebar clears the URL, so the last applied values are restored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import streamlit as st

from services.timeparse import check_window, parse_when

__all__ = ["Binding", "parse_window", "pull", "push", "split_list", "join_list"]


def _text(value: str) -> Any:
    return value


def _dump_text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def split_list(value: str) -> list[str]:
    """``failed,stuck`` -> ``["failed", "stuck"]``."""
    return [part.strip() for part in value.split(",") if part.strip()]


def join_list(value: Any) -> str | None:
    return ",".join(value) if value else None


@dataclass(frozen=True)
class Binding:
    """One query parameter bound to one widget's session-state key."""

    param: str
    key: str
    default: Any = ""
    parse: Callable[[str], Any] = _text
    dump: Callable[[Any], str | None] = field(default=_dump_text)


def _url_values(bindings: Sequence[Binding]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for b in bindings:
        values = [v for v in st.query_params.get_all(b.param) if v.strip()]
        out[b.param] = ",".join(values) if values else None
    return out


def pull(bindings: Sequence[Binding], applied_key: str) -> None:
    """Before the widgets are drawn: copy the URL into widget state when it is new."""
    url = _url_values(bindings)
    applied: dict[str, str | None] | None = st.session_state.get(applied_key)
    if applied is not None and not any(url.values()):
        url = applied  # back from another page: the sidebar link carried no parameters
    changed = url != applied
    for b in bindings:
        if changed or b.key not in st.session_state:
            raw = url.get(b.param)
            st.session_state[b.key] = b.default if raw is None else b.parse(raw)


def push(bindings: Sequence[Binding], applied_key: str) -> None:
    """After the widgets are drawn: write their values back into the URL."""
    applied: dict[str, str | None] = {}
    for b in bindings:
        value = b.dump(st.session_state.get(b.key, b.default))
        applied[b.param] = value
        current = st.query_params.get_all(b.param)
        if value is None:
            if current:
                del st.query_params[b.param]
        elif current != [value]:
            st.query_params[b.param] = value
    st.session_state[applied_key] = applied


def parse_window(
    since_text: str, until_text: str, *, now: datetime | None = None
) -> tuple[datetime | None, datetime | None]:
    """The time window typed into ``Since`` / ``Until`` (naive UTC, either may be open).

    Raises:
        InputError: a time cannot be read, or the window ends before it starts.
    """
    since = parse_when(since_text, name="Since", now=now) if since_text.strip() else None
    until = parse_when(until_text, name="Until", now=now) if until_text.strip() else None
    check_window(since, until, names=("Since", "Until"))
    return since, until
