"""How every Salesforce call is made: login, one re-authentication, retries, errors.

:class:`SalesforceClient` holds a ``simple_salesforce.Salesforce`` built from a
session id and instance URL (so it never logs in on its own), and runs each
operation through :meth:`SalesforceClient.run`, which:

- logs in with the configured credentials on first use;
- on 401 (``INVALID_SESSION_ID``) logs in again once and repeats the call; a second
  401 is an :class:`~services.errors.AuthError`;
- retries retryable failures (``REQUEST_LIMIT_EXCEEDED``, 5xx, connection errors,
  timeouts) with the capped backoff of a :class:`RetryPolicy`, through tenacity with
  an injectable ``sleep``; reads and same-field PATCHes are idempotent, so all may be
  retried;
- maps failures through :func:`~services.systems.salesforce_adapter.translate`,
  with secrets redacted; logs only method, path, status and time.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, ClassVar, Self, TypeVar
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from services.errors import AuthError, ConnectorError, RejectedError
from services.systems.http import CallStats, RetryPolicy
from services.systems.salesforce_adapter import translate
from services.systems.salesforce_auth import SalesforceCredentials, SessionId

__all__ = ["FIELD_SHAPE", "ID_SHAPE", "SalesforceClient"]

log = logging.getLogger("q2c.systems")
T = TypeVar("T")

ID_SHAPE = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?\Z")
FIELD_SHAPE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}\Z")
_FAILURES = (SalesforceError, requests.RequestException, ValueError, KeyError, TypeError)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ConnectorError) and exc.retryable


class SalesforceClient:
    """The call machinery the Salesforce connector's operations run on.

    Args:
        credentials: how to log in (:mod:`services.systems.salesforce_auth`).
        session: the ``requests.Session`` to send with (mounted adapters decide where
            requests go); a response hook is added to it for stats and logging.
        api_version: the REST API version, e.g. ``"61.0"``.
        retry: the retry policy.
        sleep: how to wait between attempts (tests pass a fake that records waits).
        now: the current time.
        status_field, detail_field: the Opportunity fields integration status goes to.
        sandbox_url: where the sandbox answers, when this talks to the sandbox.
    """

    system: ClassVar[str] = "salesforce"

    def __init__(
        self,
        credentials: SalesforceCredentials,
        *,
        session: requests.Session | None = None,
        api_version: str = "61.0",
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        status_field: str = "Integration_Status__c",
        detail_field: str = "Integration_Detail__c",
        sandbox_url: str | None = None,
    ) -> None:
        self.credentials = credentials
        self.status_field, self.detail_field = status_field, detail_field
        self.sandbox_url = sandbox_url
        self.session = session or requests.Session()
        self.session.hooks["response"].append(self._observe)
        self.api_version = api_version
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.now = now
        self.stats = CallStats()
        self._sf: Salesforce | None = None
        self._session_ids: list[str] = []
        self._lock = threading.RLock()
        self._local = threading.local()

    @classmethod
    def from_session(cls, instance_url: str, session_id: str | SecretStr, **options: Any) -> Self:
        """A connector on an existing session: no login (tests, short scripts).

        Args:
            instance_url: e.g. ``https://acme.my.salesforce.com``.
            session_id: the session id (access token).
            **options: the other constructor arguments (``session``, ``sleep`` ...).

        Example:
            >>> SalesforceConnector.from_session(url, token, session=requests.Session())
        """
        secret = session_id if isinstance(session_id, SecretStr) else SecretStr(session_id)
        return cls(SessionId(instance_url=instance_url, session_id=secret), **options)

    # -- the connector contract ---------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.sandbox_url or self.instance_url

    def describe_auth(self) -> str:
        if self.sandbox_url:
            return "none (sandbox; a fixed session id)"
        return self.credentials.describe()

    def ping(self) -> None:
        """Read the org's limits (the cheapest authenticated call); ConnectorError if refused."""
        self.run("ping", lambda sf: sf.limits())

    @property
    def instance_url(self) -> str:
        """The instance answering (known after login; the login host before)."""
        if self._sf is not None:
            return f"https://{self._sf.sf_instance}"
        return self.credentials.instance_hint

    def redact(self, text: str) -> str:
        """``text`` with every secret and session id replaced by ``***``."""
        for secret in [*self.credentials.secrets(), *self._session_ids]:
            if secret:
                text = text.replace(secret, "***")
        return text

    # -- checks made before anything is sent --------------------------------------------

    def check_id(self, operation: str, value: object) -> str:
        """``value`` if it has a Salesforce id's shape, else RejectedError (nothing sent)."""
        if isinstance(value, str) and ID_SHAPE.match(value):
            return value
        raise RejectedError(
            system=self.system,
            operation=operation,
            code="INVALID_ID",
            message=f"{str(value)[:40]!r} is not a Salesforce id (15 or 18 letters and "
            "digits); nothing was sent",
        )

    def check_fields(self, operation: str, names: Iterable[object]) -> list[str]:
        """The field API names, each checked (they go into SOQL unquoted)."""
        checked = []
        for name in names:
            if not isinstance(name, str) or not FIELD_SHAPE.match(name):
                raise RejectedError(
                    system=self.system,
                    operation=operation,
                    code="INVALID_FIELD_NAME",
                    message=f"{str(name)[:40]!r} is not a Salesforce field API name; "
                    "nothing was sent",
                )
            checked.append(name)
        return checked

    # -- calling ------------------------------------------------------------------------

    def run(self, operation: str, call: Callable[[Salesforce], T]) -> T:
        """Run ``call`` with the logged-in client, re-authentication and retries.

        Raises:
            ConnectorError: (a subclass) after the retries the policy allows.
        """
        attempts = Retrying(
            stop=stop_after_attempt(self.retry.attempts),
            retry=retry_if_exception(_retryable),
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=self._count_retry,
            reraise=True,
        )
        try:
            result: T = attempts(self._attempt, operation, call)
        except ConnectorError as exc:
            self.stats.last_error = str(exc)
            raise
        self.stats.last_ok_at = self.now()
        self.stats.last_error = None
        return result

    def _attempt(self, operation: str, call: Callable[[Salesforce], T]) -> T:
        """One try; a refused session is renewed once when the credentials allow."""
        try:
            return self._invoke(operation, call, self._client(operation))
        except AuthError as exc:
            if exc.http_status != 401 or not self.credentials.can_refresh:
                raise
        log.info("%s %s: session refused, logging in again", self.system, operation)
        client = self._client(operation, fresh=True)
        return self._invoke(operation, call, client, reauthenticated=True)

    def _invoke(
        self,
        operation: str,
        call: Callable[[Salesforce], T],
        client: Salesforce,
        *,
        reauthenticated: bool = False,
    ) -> T:
        """Call once; every failure becomes a ConnectorError."""
        self._local.response = None
        try:
            return call(client)
        except _FAILURES as exc:
            raise self._translate(exc, operation, reauthenticated) from None

    def _client(self, operation: str, *, fresh: bool = False) -> Salesforce:
        """The logged-in client (logging in when there is none, or ``fresh``)."""
        with self._lock:
            if self._sf is None or fresh:
                try:
                    session_id, instance_url = self.credentials.login(
                        self.session, self.api_version
                    )
                except _FAILURES as exc:
                    raise self._translate(exc, operation, False) from None
                self._session_ids = [*self._session_ids[-1:], session_id]
                self._sf = Salesforce(
                    session_id=session_id,
                    instance_url=instance_url,
                    version=self.api_version,
                    session=self.session,
                    object_pairs_hook=dict,
                )
            return self._sf

    def _translate(self, exc: BaseException, operation: str, again: bool) -> ConnectorError:
        """``exc`` as a ConnectorError, using the last answer seen on this thread."""
        response = getattr(self._local, "response", None)
        if isinstance(exc, requests.RequestException) and not isinstance(exc, ValueError):
            self.stats.calls += 1  # a request that got no answer
        return translate(
            exc,
            operation=operation,
            response=response,
            redact=self.redact,
            now=self.now(),
            reauthenticated=again,
        )

    def _observe(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        """Response hook: remember the answer, count it, log method, path, status, time."""
        self._local.response = response
        self.stats.calls += 1
        elapsed_ms = response.elapsed.total_seconds() * 1000 if response.elapsed else 0.0
        method = response.request.method if response.request is not None else "?"
        log.info(
            "%s %s %s -> %s in %.0f ms",
            self.system,
            method,
            urlsplit(response.url or "").path,
            response.status_code,
            elapsed_ms,
        )
        if response.status_code < 400:
            self.stats.last_latency_ms = elapsed_ms
        return response

    def _wait(self, state: RetryCallState) -> float:
        """``Retry-After`` when the answer said (capped), else the policy's backoff."""
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            return min(float(after), self.retry.max_retry_after)
        return self.retry.backoff(state.attempt_number)

    def _count_retry(self, state: RetryCallState) -> None:
        self.stats.retries += 1
