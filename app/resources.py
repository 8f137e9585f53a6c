"""Cached resources: one ``Console`` per settings, shared by every session.

Pages call :func:`console_or_stop`; it shows a one-line error and stops the
page when the settings are invalid or the store cannot be reached.
"""

from __future__ import annotations

from typing import Any, NoReturn

import streamlit as st

from app.ui import md_escape
from services.connections import Systems, open_systems
from services.console import Console, open_console
from services.errors import Q2CError
from services.replay import Actions
from services.settings import Settings, get_settings
from services.validation.service import Validation

__all__ = [
    "actions_or_stop",
    "console_or_stop",
    "get_console",
    "settings_or_stop",
    "stop_with_error",
    "systems_or_stop",
    "clear_closed_won",
    "closed_won_orders",
    "validation_or_stop",
]


def _settings_key(settings: Settings) -> str:
    return settings.model_dump_json()


@st.cache_resource(show_spinner="Opening the trace store…", hash_funcs={Settings: _settings_key})
def _console_for(settings: Settings) -> Console:
    """Open (and migrate) the store; on the embedded default, load the sample data once."""
    console = open_console(settings)
    if settings.is_embedded and console.is_empty():
        console.load_sample_data()
    return console


def get_console() -> Console:
    """The process-wide console for the current settings (cached per settings value).

    Raises:
        SettingsError: a ``Q2C_*`` setting is invalid.
        StoreError: the database cannot be reached or migrated.
    """
    return _console_for(get_settings())


def stop_with_error(message: str) -> NoReturn:
    """Show one line of error and end this run of the page."""
    st.error(md_escape(message), icon=":material/error:")
    st.stop()


def settings_or_stop() -> Settings:
    """The settings, or a one-line error and a stopped page."""
    try:
        return get_settings()
    except Q2CError as exc:
        stop_with_error(str(exc))


def console_or_stop() -> Console:
    """The console, or a one-line error (never a traceback) and a stopped page."""
    try:
        return get_console()
    except Q2CError as exc:
        stop_with_error(str(exc))


@st.cache_resource(show_spinner="Starting the systems…", hash_funcs={Settings: _settings_key})
def _systems_for(settings: Settings) -> Systems:
    """The connectors (and, on the embedded default, the in-process sandbox) per settings."""
    return open_systems(settings)


def systems_or_stop() -> Systems:
    """The systems the console talks to, or a one-line error and a stopped page."""
    try:
        return _systems_for(get_settings())
    except Q2CError as exc:
        stop_with_error(str(exc))


def actions_or_stop() -> Actions:
    """Replay, resubmit and notes for the current console and systems."""
    return Actions(console_or_stop(), systems_or_stop())


@st.cache_resource(show_spinner=False, hash_funcs={Settings: _settings_key})
def _validation_for(settings: Settings) -> Validation:
    """One per settings, so the master-data look-up cache is shared by every session."""
    return Validation(_console_for(settings), _systems_for(settings))


def validation_or_stop() -> Validation:
    """Order validation for the current console and systems."""
    try:
        return _validation_for(get_settings())
    except Q2CError as exc:
        stop_with_error(str(exc))


@st.cache_data(ttl=60, show_spinner=False, hash_funcs={Settings: _settings_key})
def _closed_won(settings: Settings, limit: int) -> list[dict[str, Any]]:
    return _validation_for(settings).closed_won(limit=limit)


def closed_won_orders(limit: int = 50) -> list[dict[str, Any]]:
    """Closed-won orders not accepted yet, asked of Salesforce at most once a minute
    (the Validation page reruns on every click); ``clear_closed_won`` after an accept."""
    return _closed_won(get_settings(), limit)


def clear_closed_won() -> None:
    _closed_won.clear()
