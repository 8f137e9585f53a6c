"""What every HTTP connector (ERP, billing, tax) shares: auth, retries, error mapping.

A connector subclasses :class:`HttpConnector`, names its ``system``, and says how
its system writes errors (:meth:`HttpConnector.error_of`). ``call`` then:

- adds the auth headers (OAuth2 client credentials, API key, basic) and on a 401
  re-authenticates once before giving up with :class:`~services.errors.AuthError`;
- retries 429/502/503/504, connection errors and timeouts with capped exponential
  backoff, honouring ``Retry-After`` (seconds or an HTTP date), through
  ``tenacity`` with an injectable ``sleep`` so tests never sleep;
- never retries a POST or PATCH that carries no idempotency key once it may have
  reached the system (a refused connection was never sent, so it is retried);
- maps every failure to one :class:`~services.errors.ConnectorError` naming system,
  operation, code, message, HTTP status and whether it is retryable;
- keeps secrets out of messages (:meth:`HttpConnector.redact`) and logs only
  method, path, status and time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from services.errors import (
    RETRYABLE_STATUS,
    AuthError,
    BadResponse,
    ConnectorError,
    TimedOut,
    Unavailable,
    error_for_status,
)
from services.systems.auth import Auth, NoAuth

__all__ = ["CallStats", "HttpConnector", "RetryPolicy", "parse_retry_after"]

log = logging.getLogger("q2c.systems")

_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: ``attempts`` in all, waits of ``base * 2**n`` capped at ``cap``."""

    attempts: int = 4
    base_seconds: float = 0.5
    cap_seconds: float = 8.0
    max_retry_after: float = 60.0  # a longer Retry-After is not waited for: the error is raised

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))


@dataclass(slots=True)
class CallStats:
    """What the Connections page shows about a connector's recent calls."""

    last_ok_at: datetime | None = None
    last_latency_ms: float | None = None
    last_error: str | None = None
    calls: int = 0
    retries: int = 0


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Returns None when absent or unreadable (the caller falls back to backoff).
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(slots=True)
class _Request:
    operation: str
    method: str
    url: str
    json: Any = None
    params: Mapping[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    read_only: bool = False


class HttpConnector:
    """Base of the ERP, billing and tax connectors.

    Args:
        client: the ``httpx.Client`` to send with (its ``base_url`` is the system's
            API root; tests pass ``transport=httpx.MockTransport(handler)``).
        auth: how to authenticate (see :mod:`services.systems.auth`).
        retry: the retry policy.
        sleep: how to wait between attempts (tests pass a fake clock's sleep).
        now: the current time, for ``Retry-After`` dates.
    """

    system: ClassVar[str] = "system"
    idempotency_header: ClassVar[str] = "Idempotency-Key"

    def __init__(
        self,
        client: httpx.Client,
        *,
        auth: Auth | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.auth = auth or NoAuth()
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.now = now
        self.stats = CallStats()

    # -- what a subclass says about its system ------------------------------------

    def error_of(self, response: httpx.Response, body: Any) -> tuple[str | None, str] | None:
        """``(code, message)`` when ``response`` is an error, else None.

        The default: any status >= 400 is an error; subclasses read their
        system's envelope (and may treat some 200 answers as errors).
        """
        if response.status_code < 400:
            return None
        return None, f"HTTP {response.status_code}"

    def classify(
        self, response: httpx.Response, code: str | None
    ) -> tuple[type[ConnectorError], bool]:
        """The error class and whether it may be retried, from status and code."""
        status = response.status_code
        return error_for_status(status), status in RETRYABLE_STATUS

    # -- calling ------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with every secret of the auth replaced by ``***``."""
        for secret in self.auth.secrets():
            if secret:
                text = text.replace(secret, "***")
        return text

    def call(
        self,
        operation: str,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        read_only: bool = False,
    ) -> httpx.Response:
        """Send one request with auth and retries; return the successful response.

        ``read_only`` marks a POST that changes nothing (a search, an address
        resolution): it is retried like a GET, without an idempotency key.

        Raises:
            ConnectorError: (a subclass of it) when the system refuses or cannot be
                reached after the retries the policy allows.
        """
        req = _Request(operation, method.upper(), url, json, params, dict(headers or {}))
        req.read_only = read_only
        if idempotency_key:
            req.idempotency_key = idempotency_key
            req.headers[self.idempotency_header] = idempotency_key
        attempts = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            retry=retry_if_exception(lambda exc: self._may_retry(req, exc)),
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=self._count_retry,
            reraise=True,
        )
        try:
            response: httpx.Response = attempts(self._send_authenticated, req)
        except ConnectorError as exc:
            self.stats.last_error = str(exc)
            raise
        return response

    def json_of(self, response: httpx.Response, operation: str) -> Any:
        """The decoded JSON body of a successful answer, or :class:`BadResponse`."""
        body = _decode(response)
        if body is _NOT_JSON:
            raise BadResponse(
                system=self.system,
                operation=operation,
                code=None,
                message=f"the answer is not JSON ({_what_it_is(response)})",
                http_status=response.status_code,
            )
        return body

    # -- internals ----------------------------------------------------------------

    def _may_retry(self, req: _Request, exc: BaseException) -> bool:
        if not isinstance(exc, ConnectorError) or not exc.retryable:
            return False
        if exc.retry_after is not None and exc.retry_after > self.retry.max_retry_after:
            return False  # the system asks for longer than we wait: report it now
        if getattr(exc, "_not_sent", False):
            return True
        return req.method in _IDEMPOTENT_METHODS or req.read_only or req.idempotency_key is not None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            return float(after)
        return self.retry.backoff(state.attempt_number)

    def _count_retry(self, state: RetryCallState) -> None:
        self.stats.retries += 1

    def _send_authenticated(self, req: _Request) -> httpx.Response:
        response = self._send(req)
        if response.status_code == 401 and self.auth.can_refresh:
            self.auth.invalidate()
            response = self._send(req)
        return self._check(req, response)

    def _send(self, req: _Request) -> httpx.Response:
        headers = {"Accept": "application/json", **req.headers}
        headers.update(self.auth.headers(self.client, self.system))
        started = time.perf_counter()
        self.stats.calls += 1
        try:
            response = self.client.request(
                req.method, req.url, json=req.json, params=req.params, headers=headers
            )
        except httpx.TimeoutException as exc:
            err: ConnectorError = TimedOut(
                system=self.system,
                operation=req.operation,
                message=f"no answer in time ({type(exc).__name__})",
                retryable=True,
            )
            # A connect timeout never reached the system; a read timeout may have.
            err._not_sent = isinstance(exc, httpx.ConnectTimeout)  # type: ignore[attr-defined]
            raise err from None
        except httpx.TransportError as exc:
            err = Unavailable(
                system=self.system,
                operation=req.operation,
                message=f"cannot connect: {self.redact(str(exc)) or type(exc).__name__}",
                retryable=True,
            )
            err._not_sent = isinstance(exc, httpx.ConnectError)  # type: ignore[attr-defined]
            raise err from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.info(
            "%s %s %s -> %s in %.0f ms",
            self.system,
            req.method,
            response.request.url.path,
            response.status_code,
            elapsed_ms,
        )
        if response.status_code < 400:
            self.stats.last_latency_ms = elapsed_ms
        return response

    def _check(self, req: _Request, response: httpx.Response) -> httpx.Response:
        body = _decode(response)
        found = self.error_of(response, None if body is _NOT_JSON else body)
        if found is None:
            if response.status_code >= 400:  # pragma: no cover - error_of said fine
                found = (None, f"HTTP {response.status_code}")
            else:
                self.stats.last_ok_at = self.now()
                self.stats.last_error = None
                return response
        code, message = found
        if body is _NOT_JSON and response.content:
            message = f"{message} ({_what_it_is(response)})"
        cls, retryable = self.classify(response, code)
        if cls is AuthError:
            message += " (after re-authenticating once)" if self.auth.can_refresh else ""
        raise cls(
            system=self.system,
            operation=req.operation,
            code=code,
            message=self.redact(message),
            http_status=response.status_code,
            retryable=retryable,
            retry_after=parse_retry_after(response.headers.get("Retry-After"), now=self.now()),
        )


_NOT_JSON: Any = object()


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return _NOT_JSON
    try:
        return response.json()
    except ValueError:
        return _NOT_JSON


def _what_it_is(response: httpx.Response) -> str:
    kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
    if not response.content:
        return "an empty body"
    if "html" in kind or response.content.lstrip()[:1] == b"<":
        return f"an HTML page, {len(response.content)} bytes"
    return f"{kind}, {len(response.content)} bytes"
