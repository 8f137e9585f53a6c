"""The console's exception tree.

Every error a person can see derives from ``Q2CError`` and carries a message that
says what went wrong and where, never a traceback and never a secret::

    Q2CError
     +-- SettingsError          a Q2C_* setting is missing or invalid
     +-- StoreError             the database cannot be reached or migrated
     +-- InputError             a file or argument cannot be read at all
     |    +-- ContractError     one event breaks the event contract (quarantined)
     +-- NotFoundError          nothing matches a key or id
     +-- ConnectorError         a system (Salesforce, ERP, billing, tax) answered with
          |                     an error or could not be reached; says system,
          |                     operation, code, message, HTTP status, retryable
          +-- AuthError          401: credentials refused (after one re-authentication)
          +-- ForbiddenError     403: the integration user may not do this
          +-- RecordNotFound     404
          +-- ConflictError      409: duplicate, version or idempotency-key conflict
          +-- RejectedError      400/422: the system refused the request's content
          +-- RateLimited        429 (and Salesforce's REQUEST_LIMIT_EXCEEDED)
          +-- Unavailable        5xx, connection refused, DNS
          +-- TimedOut           no answer in time
          +-- BadResponse        an answer that is not the system's JSON (HTML, empty)
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BadResponse",
    "ConflictError",
    "ConnectorError",
    "ForbiddenError",
    "RETRYABLE_STATUS",
    "RateLimited",
    "RecordNotFound",
    "RejectedError",
    "TimedOut",
    "Unavailable",
    "error_for_status",
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


class ConnectorError(Q2CError):
    """A system answered with an error or could not be reached.

    ``str()`` is one line a person can act on, e.g.
    ``erp create_sales_order: HTTP 400 USER_ERROR: Invalid item PLAT-X (not retryable)``.
    Messages come from the system's answer with credentials redacted.
    """

    def __init__(
        self,
        *,
        system: str,
        operation: str,
        message: str,
        code: str | None = None,
        http_status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.system = system
        self.operation = operation
        self.code = code
        self.message = message
        self.http_status = http_status
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(str(self))

    def __str__(self) -> str:
        status = f"HTTP {self.http_status} " if self.http_status else ""
        code = f"{self.code}: " if self.code else ""
        again = "retryable" if self.retryable else "not retryable"
        return f"{self.system} {self.operation}: {status}{code}{self.message} ({again})"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": type(self).__name__,
            "system": self.system,
            "operation": self.operation,
            "code": self.code,
            "message": self.message,
            "http_status": self.http_status,
            "retryable": self.retryable,
        }


class AuthError(ConnectorError):
    """401: the credentials were refused, also after re-authenticating once."""


class ForbiddenError(ConnectorError):
    """403: authenticated, but not allowed."""


class RecordNotFound(ConnectorError):
    """404: no such record."""


class ConflictError(ConnectorError):
    """409: a duplicate, a version conflict, or an idempotency key reused with another body."""


class RejectedError(ConnectorError):
    """400/422: the system refused the content of the request."""


class RateLimited(ConnectorError):
    """429 or a system's own request-limit error: retry later (``retry_after`` seconds)."""


class Unavailable(ConnectorError):
    """The system is down or unreachable (5xx, connection refused)."""


class TimedOut(ConnectorError):
    """No answer within the timeout."""


class BadResponse(ConnectorError):
    """An answer that is not what the system's API returns (HTML, empty, not JSON)."""


_BY_STATUS: dict[int, type[ConnectorError]] = {
    400: RejectedError,
    401: AuthError,
    403: ForbiddenError,
    404: RecordNotFound,
    405: RejectedError,
    409: ConflictError,
    412: ConflictError,
    422: RejectedError,
    429: RateLimited,
    408: TimedOut,
    504: TimedOut,
}
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


def error_for_status(status: int) -> type[ConnectorError]:
    """The error class for an HTTP status (a table, not an if-chain)."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return Unavailable if status >= 500 else RejectedError
