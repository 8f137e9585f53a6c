"""The seams between simple-salesforce (``requests``) and the rest of the console.

- :class:`HttpxAdapter`: a ``requests`` transport adapter that answers through an
  httpx ``send`` function: the in-process sandbox, a served sandbox over plain
  http, or a test transport. simple-salesforce insists on ``https://{instance}``,
  so the adapter is mounted on the fake instance and rewrites each URL under a
  target (``http://127.0.0.1:PORT/salesforce``).
- :func:`sandbox_session`: a ``requests.Session`` with that adapter mounted.
- :class:`TimeoutAdapter`: requests has no session timeout and simple-salesforce
  passes none, so the live session gets a default one.
- :func:`translate`: simple-salesforce's exceptions and ``requests`` failures as
  :class:`~services.errors.ConnectorError` subclasses (a table, not an if-chain).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from services.errors import (
    RETRYABLE_STATUS,
    BadResponse,
    ConflictError,
    ConnectorError,
    RateLimited,
    SettingsError,
    TimedOut,
    Unavailable,
    error_for_status,
)
from services.sandbox.core import Sandbox
from services.settings import Settings
from services.systems.http import parse_retry_after
from services.systems.registry import BuildEnv

__all__ = [
    "SANDBOX_INSTANCE",
    "HttpxAdapter",
    "TimeoutAdapter",
    "describe_body",
    "sandbox_session",
    "translate",
]

SYSTEM = "salesforce"
SANDBOX_INSTANCE = "https://sandbox.q2c.invalid"  # simple-salesforce insists on https
_DROP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})

_Timeout = float | tuple[float | None, float | None] | None

# Salesforce error codes that say more than the status does.
_BY_CODE: dict[str, tuple[type[ConnectorError], bool]] = {
    "REQUEST_LIMIT_EXCEEDED": (RateLimited, True),  # sent as 403
    "UNABLE_TO_LOCK_ROW": (ConflictError, True),  # another transaction holds the row
    "SERVER_UNAVAILABLE": (Unavailable, True),
}
_BY_STATUS: dict[int, tuple[type[ConnectorError], bool]] = {
    300: (ConflictError, False),  # more than one record for an external id
}
# Statuses whose class holds even when the body is not Salesforce's JSON.
_STATUS_SPEAKS = frozenset({401, 403, 429})


class TimeoutAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` that applies ``timeout`` seconds when the caller gave none."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: _Timeout = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send with the default timeout."""
        return super().send(
            request, stream, timeout or self.timeout, verify, cert, dict(proxies or {})
        )


class HttpxAdapter(BaseAdapter):
    """Answers ``requests`` through ``send(httpx.Request) -> httpx.Response``.

    Args:
        send: e.g. ``sandbox.handle`` or ``httpx.Client(...).send``.
        target: the base URL each request's path and query are placed under.

    Example:
        >>> session.mount("https://sandbox.q2c.invalid/", HttpxAdapter(sandbox.handle,
        ...     target="http://sandbox.q2c.invalid/salesforce"))
    """

    def __init__(self, send: Callable[[httpx.Request], httpx.Response], *, target: str) -> None:
        super().__init__()
        self._send = send
        self.target = target.rstrip("/")

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: _Timeout = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Answer one prepared request (``requests``' adapter interface)."""
        parts = urlsplit(request.url or "")
        url = self.target + parts.path + (f"?{parts.query}" if parts.query else "")
        raw = request.body
        body = (
            raw.encode("utf-8") if isinstance(raw, str) else raw if isinstance(raw, bytes) else b""
        )
        headers = [
            (k, v if isinstance(v, str) else v.decode("latin-1"))
            for k, v in request.headers.items()
            if k.lower() not in _DROP_HEADERS
        ]
        started = time.perf_counter()
        try:
            outgoing = httpx.Request(request.method or "GET", url, headers=headers, content=body)
            answer = self._send(outgoing)
            content = answer.read()
        except httpx.ConnectTimeout as exc:
            raise requests.ConnectTimeout(str(exc), request=request) from None
        except httpx.TimeoutException as exc:
            raise requests.ReadTimeout(str(exc), request=request) from None
        except httpx.TransportError as exc:
            raise requests.ConnectionError(str(exc), request=request) from None
        response = requests.Response()
        response.status_code = answer.status_code
        response.reason = answer.reason_phrase
        response.headers = CaseInsensitiveDict(
            {k: v for k, v in answer.headers.items() if k.lower() != "content-encoding"}
        )
        response._content = content
        response.encoding = answer.charset_encoding or "utf-8"
        response.url = request.url or url
        response.request = request
        response.elapsed = timedelta(seconds=time.perf_counter() - started)
        return response

    def close(self) -> None:
        """Nothing to release: the send function owns its connections."""


def sandbox_session(settings: Settings, env: BuildEnv) -> tuple[requests.Session, str]:
    """A session whose requests to :data:`SANDBOX_INSTANCE` reach the sandbox, and its URL.

    The sandbox is, in this order: ``env.transport`` (tests), the served sandbox at
    ``Q2C_SANDBOX_URL``, or the in-process ``env.sandbox``.

    Raises:
        SettingsError: sandbox mode without any sandbox to talk to.
    """
    timeout = httpx.Timeout(settings.http_timeout_seconds)
    send: Callable[[httpx.Request], httpx.Response]
    if env.transport is not None:
        send = httpx.Client(transport=env.transport, timeout=timeout).send
        target = f"{Sandbox.BASE_URL}/{SYSTEM}"
    elif settings.sandbox_url:
        send = httpx.Client(timeout=timeout).send
        target = settings.sandbox_url.rstrip("/") + f"/{SYSTEM}"
    elif env.sandbox is not None:
        send, target = env.sandbox.handle, env.sandbox.url(SYSTEM)
    else:
        raise SettingsError(
            "Q2C_SYSTEMS is sandbox but no sandbox is running: set Q2C_SANDBOX_URL to a "
            "`q2c sandbox serve` address, or build connectors with the in-process sandbox"
        )
    session = requests.Session()
    session.mount(SANDBOX_INSTANCE + "/", HttpxAdapter(send, target=target))
    return session, target


def describe_body(response: Any) -> str:
    """What a non-JSON answer is, for a message: empty, an HTML page, or its type."""
    if response is None:
        return "no answer"
    content = response.content or b""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
    if not content.strip():
        return "an empty body"
    if "html" in kind or content.lstrip()[:1] == b"<":
        return f"an HTML page, {len(content)} bytes"
    return f"{kind}, {len(content)} bytes"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _shown(redact: Callable[[str], str], text: str, limit: int = 500) -> str:
    """``text`` redacted first, then clipped to ``limit`` characters for a message."""
    line = redact(text)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _read_errors(content: Any) -> tuple[str | None, str] | None:
    """``(errorCode, message)`` from Salesforce's error list (or an OAuth error object)."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        message = _one_line(str(first.get("message") or "no message"))
        fields = first.get("fields") or []
        if fields:
            message += f" (fields: {', '.join(map(str, fields))})"
        if len(content) > 1:
            message += f" (and {len(content) - 1} more errors)"
        code = first.get("errorCode")
        return (str(code) if code else None), message
    if isinstance(content, dict) and ("error" in content or "message" in content):
        code = content.get("error") or content.get("errorCode")
        message = content.get("error_description") or content.get("message") or "no message"
        return (str(code) if code else None), _one_line(str(message))
    return None


def translate(
    exc: BaseException,
    *,
    operation: str,
    response: Any,
    redact: Callable[[str], str],
    now: datetime,
    reauthenticated: bool = False,
) -> ConnectorError:
    """The :class:`ConnectorError` for a failure of one simple-salesforce call.

    Args:
        exc: what simple-salesforce or requests raised.
        operation: the connector operation (``get_opportunity``).
        response: the last HTTP answer seen (for headers and the body's kind), or None.
        redact: removes secrets from a message.
        now: the current time, for ``Retry-After`` dates.
        reauthenticated: a 401 came after logging in again.
    """
    if isinstance(exc, requests.Timeout):
        return TimedOut(
            system=SYSTEM,
            operation=operation,
            message=f"no answer in time ({type(exc).__name__})",
            retryable=True,
        )
    if isinstance(exc, SalesforceAuthenticationFailed):
        return error_for_status(401)(
            system=SYSTEM,
            operation=operation,
            code=str(exc.code) if exc.code is not None else None,
            message=_shown(redact, f"login refused: {_one_line(exc.auth_message) or 'no reason'}"),
            http_status=None,
        )
    if isinstance(exc, SalesforceError):
        return _from_answer(exc, operation, response, redact, now, reauthenticated)
    if isinstance(exc, requests.JSONDecodeError | ValueError | KeyError | TypeError):
        status = getattr(response, "status_code", None)
        return BadResponse(
            system=SYSTEM,
            operation=operation,
            message=f"the answer is not Salesforce's JSON ({describe_body(response)})",
            http_status=status,
        )
    reason = _shown(redact, _one_line(str(exc))) or type(exc).__name__
    return Unavailable(
        system=SYSTEM, operation=operation, message=f"cannot connect: {reason}", retryable=True
    )


def _from_answer(
    exc: SalesforceError,
    operation: str,
    response: Any,
    redact: Callable[[str], str],
    now: datetime,
    reauthenticated: bool,
) -> ConnectorError:
    """An error answer (status >= 300) as the matching ConnectorError."""
    status = int(exc.status)
    found = _read_errors(exc.content)
    if found is None:
        code, message = None, f"the answer is {describe_body(response)}, not Salesforce's JSON"
    else:
        code, message = found
    if code in _BY_CODE:
        cls, retryable = _BY_CODE[code]
    elif status in _BY_STATUS:
        cls, retryable = _BY_STATUS[status]
    else:
        cls, retryable = error_for_status(status), status >= 500 or status in RETRYABLE_STATUS
    if found is None and status < 500 and status not in _STATUS_SPEAKS:
        cls, retryable = BadResponse, False
    if status == 401 and reauthenticated:
        message += " (after re-authenticating once)"
    headers = getattr(response, "headers", None) or {}
    return cls(
        system=SYSTEM,
        operation=operation,
        code=code,
        message=_shown(redact, message),
        http_status=status,
        retryable=retryable,
        retry_after=parse_retry_after(headers.get("Retry-After"), now=now),
    )
