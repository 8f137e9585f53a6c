"""The console's exception tree.

Every error a person can see derives from ``Q2CError`` and carries a message that
says what went wrong and where, never a traceback and never a secret::

    Q2CError
     +-- SettingsError          a Q2C_* setting is missing or invalid
     +-- StoreError             the database cannot be reached or migrated
     +-- InputError             a file or argument cannot be read at all
     |    +-- ContractError     one event breaks the event contract (quarantined)
     +-- NotFoundError          nothing matches a key or id
"""

from __future__ import annotations

__all__ = [
    "ContractError",
    "InputError",
    "NotFoundError",
    "Q2CError",
    "SettingsError",
    "StoreError",
]


class Q2CError(Exception):
    """Base of every error the console reports to a person."""


class SettingsError(Q2CError):
    """A setting is missing or invalid; the message names the variable."""


class StoreError(Q2CError):
    """The database cannot be reached, opened or migrated."""


class InputError(Q2CError):
    """A file, stream or argument cannot be read at all."""


class ContractError(InputError):
    """One event breaks the event contract; ``reason`` is what a person reads."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotFoundError(Q2CError):
    """Nothing matches what was asked for."""
