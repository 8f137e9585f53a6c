"""Zuora's wire conventions for the billing connector: error envelopes and paging.

Zuora answers errors in two shapes, often with HTTP 200::

    {"success": false, "processId": "...", "reasons": [{"code": 53100020, "message": "..."}]}
    {"Success": false, "Errors": [{"Code": "INVALID_VALUE", "Message": "..."}]}   (older)

A numeric code's last two digits are its category (Zuora's documented scheme):
10 permission, 11 authentication, 20 invalid value, 30 missing value, 40 not found,
45 unsupported, 50 lock competition, 60 internal error, 70 request limit,
90 malformed, 99 integration error. :class:`ZuoraHttp` turns both shapes into
:class:`~services.errors.ConnectorError` subclasses through that table, after a few
message patterns that say more than the code (a version conflict, a lock).

Lists page with ``nextPage``: a URL to GET (``/v1`` lists) or a cursor to send back
as ``cursor=`` (object queries). :meth:`ZuoraHttp.pages` follows both, and refuses a
``nextPage`` pointing at another host, which would receive the bearer token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from services.errors import (
    RETRYABLE_STATUS,
    AuthError,
    BadResponse,
    ConflictError,
    ConnectorError,
    ForbiddenError,
    RateLimited,
    RecordNotFound,
    RejectedError,
    Unavailable,
    error_for_status,
)
from services.systems.http import HttpConnector

__all__ = ["MAX_PAGES", "ZuoraHttp", "reasons_of"]

MAX_PAGES = 500  # a list longer than this many pages is a paging loop, not data

# Category (last two digits of a numeric code) -> (class, retryable).
_BY_CATEGORY: dict[int, tuple[type[ConnectorError], bool]] = {
    10: (ForbiddenError, False),
    11: (AuthError, False),
    20: (RejectedError, False),
    30: (RejectedError, False),
    40: (RecordNotFound, False),
    45: (RejectedError, False),
    50: (ConflictError, True),
    60: (Unavailable, True),
    70: (RateLimited, True),
    90: (RejectedError, False),
    99: (Unavailable, False),
}

# Message patterns checked before the category: they say more than the code.
_BY_MESSAGE: tuple[tuple[re.Pattern[str], type[ConnectorError], bool], ...] = (
    (re.compile(r"version.*(conflict|stale|outdated)|amended after", re.I), ConflictError, False),
    (re.compile(r"lock competition|locked by another|concurrent", re.I), ConflictError, True),
    (re.compile(r"cannot find|not found|does not exist", re.I), RecordNotFound, False),
    (re.compile(r"request limit|too many requests|rate limit", re.I), RateLimited, True),
)


def reasons_of(body: Any) -> tuple[str | None, str] | None:
    """``(code, message)`` of a ``success: false`` answer in either shape, else None."""
    if not isinstance(body, dict):
        return None
    if body.get("success") is False:
        items = [(r.get("code"), r.get("message")) for r in _dicts(body.get("reasons"))]
    elif body.get("Success") is False:
        items = [(e.get("Code"), e.get("Message")) for e in _dicts(body.get("Errors"))]
    else:
        return None
    code = next((str(c) for c, _ in items if c not in (None, "")), None)
    message = "; ".join(str(m) for _, m in items if m) or "the request failed (no reason given)"
    return code, message


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a JSON list (nothing when not a list)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _category(code: str | None) -> int | None:
    """A numeric Zuora code's category (its last two digits)."""
    return int(code) % 100 if code and code.isdigit() and len(code) >= 3 else None


class ZuoraHttp(HttpConnector):
    """HttpConnector reading Zuora's envelopes; the base of :class:`BillingConnector`."""

    system = "billing"
    idempotency_header = "Idempotency-Key"

    def error_of(self, response: httpx.Response, body: Any) -> tuple[str | None, str] | None:
        """Any ``success: false`` (whatever the status), or a status >= 400."""
        found = reasons_of(body)
        if found is not None:
            return found
        if response.status_code < 400:
            return None
        if isinstance(body, dict):
            for key in ("message", "error_description", "error"):
                if isinstance(body.get(key), str) and body[key]:
                    return None, body[key]
        return None, f"HTTP {response.status_code}"

    def classify(
        self, response: httpx.Response, code: str | None
    ) -> tuple[type[ConnectorError], bool]:
        """By status when >= 400; for a ``success: false`` with 2xx, by message then code."""
        status = response.status_code
        if status >= 400:
            return error_for_status(status), status in RETRYABLE_STATUS
        try:
            found = reasons_of(response.json())
        except ValueError:
            found = None
        message = found[1] if found else ""
        for pattern, cls, retryable in _BY_MESSAGE:
            if pattern.search(message):
                return cls, retryable
        category = _category(code)
        if category in _BY_CATEGORY:
            return _BY_CATEGORY[category]
        return RejectedError, False

    # -- reading --------------------------------------------------------------------

    def get_json(
        self, operation: str, path: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """GET ``path`` and return the JSON object (BadResponse when it is not one)."""
        body = self.json_of(self.call(operation, "GET", path, params=params), operation)
        if not isinstance(body, dict):
            raise self._bad(operation, "expected a JSON object")
        return body

    def get_or_none(self, operation: str, path: str) -> dict[str, Any] | None:
        """Like :meth:`get_json`, but None when the record does not exist."""
        try:
            return self.get_json(operation, path)
        except RecordNotFound:
            return None

    def send_json(
        self, operation: str, method: str, path: str, body: Any, *, idempotency_key: str
    ) -> dict[str, Any]:
        """POST/PUT ``body`` with an idempotency key; the answer's JSON object."""
        response = self.call(operation, method, path, json=body, idempotency_key=idempotency_key)
        answer = self.json_of(response, operation)
        if not isinstance(answer, dict):
            raise self._bad(operation, "expected a JSON object")
        return answer

    def pages(
        self, operation: str, path: str, params: Mapping[str, Any], items_key: str
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paged list, following ``nextPage`` (a URL or a cursor)."""
        url, query = path, dict(params)
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            body = self.get_json(operation, url, query or None)
            items = body.get(items_key)
            if items is not None and not isinstance(items, list):
                raise self._bad(operation, f"{items_key!r} is not a list")
            yield from (item for item in items or [] if isinstance(item, dict))
            following = body.get("nextPage")
            if not following:
                return
            if not isinstance(following, str) or following in seen:
                raise self._bad(operation, "nextPage repeats or is not a string")
            seen.add(following)
            if following.startswith(("http://", "https://", "/")):
                url, query = self._same_host(operation, following), {}
            else:
                url, query = path, {**params, "cursor": following}
        raise self._bad(operation, f"more than {MAX_PAGES} pages")

    def _same_host(self, operation: str, url: str) -> str:
        """``url`` when it is relative or on the API's own host, else BadResponse."""
        if url.startswith("/"):
            return url
        target, base = httpx.URL(url), self.client.base_url
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise self._bad(operation, f"nextPage points at another host ({target.host})")
        return url

    def _bad(self, operation: str, message: str) -> BadResponse:
        """A BadResponse for this system."""
        return BadResponse(system=self.system, operation=operation, message=message)
