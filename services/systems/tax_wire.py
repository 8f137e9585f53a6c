"""AvaTax REST v2 on the wire: the error envelope and codes, paging, the HTTP base class.

:class:`AvaTaxHttp` is the base of the tax connector: it reads AvaTax's error
envelope, maps its codes, adds the ``X-Avalara-Client`` header, follows
``@nextLink`` and looks up company ids. The envelope is::

    {"error": {"code": "GetTaxError", "message": "...", "target": "...",
               "details": [{"code", "number", "message", "description", "faultCode",
                            "helpLink", "severity"}]}}
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from services.errors import (
    RETRYABLE_STATUS,
    AuthError,
    BadResponse,
    ConflictError,
    ConnectorError,
    ForbiddenError,
    RecordNotFound,
    RejectedError,
    SettingsError,
    Unavailable,
    error_for_status,
)
from services.systems.auth import Auth
from services.systems.http import HttpConnector, RetryPolicy

__all__ = [
    "API_ROOT",
    "ERROR_CLASSES",
    "AvaTaxHttp",
    "bad",
    "json_object",
    "next_path",
    "odata",
    "read_error",
    "rejected",
]

API_ROOT = "/api/v2"

# AvaTax error codes -> the console's error classes (the HTTP status decides the rest).
ERROR_CLASSES: dict[str, type[ConnectorError]] = {
    "AuthenticationException": AuthError,
    "AuthenticationIncomplete": AuthError,
    "BasicAuthIncorrect": AuthError,
    "InvalidAuthenticationType": AuthError,
    "BearerTokenInvalid": AuthError,
    "AuthorizationException": ForbiddenError,
    "PermissionRequired": ForbiddenError,
    "EntityNotFoundError": RecordNotFound,
    "DuplicateEntry": ConflictError,
    "DocumentCodeConflict": ConflictError,
    "DuplicateEntityProperty": ConflictError,
    "AddressUnknownStreet": RejectedError,
    "AddressNotGeocoded": RejectedError,
    "InvalidAddress": RejectedError,
    "MissingAddress": RejectedError,
    "GetTaxError": RejectedError,
    "MissingLine": RejectedError,
    "ValueRequiredError": RejectedError,
    "ModelStateInvalid": RejectedError,
    "JsonFormatError": RejectedError,
    "ServiceUnavailable": Unavailable,
}

_CLIENT_ID = "Q2C Console; 1.0; Python httpx; ; q2c"


def read_error(status: int, body: Any) -> tuple[str | None, str]:
    """``(error.code, error.message + the first detail's description when useful)``.

    Example:
        >>> read_error(400, {"error": {"code": "MissingLine", "message": "No lines"}})
        ('MissingLine', 'No lines')
    """
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        return None, f"HTTP {status}"
    code = str(err["code"]) if err.get("code") else None
    message = str(err.get("message") or f"HTTP {status}")
    details = err.get("details")
    first = details[0] if isinstance(details, list) and details else None
    description = str(first.get("description") or "") if isinstance(first, dict) else ""
    # "-0-, -1-" are AvaTax's unfilled placeholders: no help to anyone.
    if description and "-0-" not in description and description not in message:
        message = f"{message}: {description}"
    return code, message


def odata(value: str) -> str:
    """A quoted OData string literal (``'`` doubled)."""
    return "'" + value.replace("'", "''") + "'"


def bad(operation: str, message: str) -> BadResponse:
    """A BadResponse of the tax connector."""
    return BadResponse(system="tax", operation=operation, message=message)


def rejected(
    operation: str, message: str, *, code: str = "ValueRequiredError", target: str | None = None
) -> RejectedError:
    """A request refused before it is sent (so no HTTP status)."""
    where = f" ({target})" if target else ""
    return RejectedError(system="tax", operation=operation, code=code, message=message + where)


def next_path(link: str, base_url: httpx.URL, operation: str) -> str:
    """``@nextLink`` as a path under the API root; a link to another host is refused.

    AvaTax writes it host-relative (``/api/v2/companies/1/nexus?$skip=2``); the
    client's base URL already ends in the API root, so only what follows is kept.
    """
    target = httpx.URL(link)
    if target.is_absolute_url and (target.scheme, target.host, target.port) != (
        base_url.scheme,
        base_url.host,
        base_url.port,
    ):
        raise bad(operation, f"@nextLink points to another host ({target.host}); not followed")
    path = target.raw_path.decode("ascii")
    at = path.find(API_ROOT + "/")
    return path[at + len(API_ROOT) :] if at >= 0 else path


def json_object(raw: Any, operation: str) -> dict[str, Any]:
    """``raw`` when it is a JSON object, else BadResponse."""
    if not isinstance(raw, dict):
        raise bad(operation, "expected a JSON object")
    return raw


class AvaTaxHttp(HttpConnector):
    """What every AvaTax call shares (the base of :class:`~services.systems.tax.TaxConnector`).

    Args:
        client: an ``httpx.Client`` whose base URL is the API root (``.../api/v2``).
        company_code: the default company (``Q2C_TAX_COMPANY_CODE``) when a call names none.
        auth, retry, sleep, now: as for :class:`~services.systems.http.HttpConnector`.
    """

    system: ClassVar[str] = "tax"
    idempotency_header: ClassVar[str] = "X-Q2C-Idempotency-Key"
    page_size: int | None = None  # when set, lists are asked for with $top (paging)

    def __init__(
        self,
        client: httpx.Client,
        *,
        company_code: str | None = None,
        auth: Auth | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(client, auth=auth, retry=retry, sleep=sleep, now=now)
        self.company_code = company_code
        self._company_ids: dict[str, int] = {}

    # -- the connector contract -------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API root this connector talks to."""
        return str(self.client.base_url)

    def describe_auth(self) -> str:
        """The auth method and masked account id, never the license key."""
        return self.auth.describe()

    # -- AvaTax's error envelope --------------------------------------------------------

    def error_of(self, response: httpx.Response, body: Any) -> tuple[str | None, str] | None:
        """``(error.code, error.message + first detail's description)`` for a >= 400 answer."""
        if response.status_code < 400:
            return None
        return read_error(response.status_code, body)

    def classify(
        self, response: httpx.Response, code: str | None
    ) -> tuple[type[ConnectorError], bool]:
        """The class by AvaTax code first, then by HTTP status."""
        status = response.status_code
        cls = ERROR_CLASSES.get(code or "") or error_for_status(status)
        return cls, status in RETRYABLE_STATUS

    # -- internals --------------------------------------------------------------------

    def _json(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        key: str | None = None,
        read_only: bool = False,
    ) -> Any:
        """One call with the X-Avalara-Client header; the decoded JSON answer."""
        response = self.call(
            operation,
            method,
            path,
            json=json,
            params=params,
            headers={"X-Avalara-Client": _CLIENT_ID},
            idempotency_key=key,
            read_only=read_only,
        )
        return self.json_of(response, operation)

    def _pages(
        self, operation: str, path: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every ``value`` item of a FetchResult, following ``@nextLink``."""
        query: dict[str, Any] | None = dict(params or {})
        if self.page_size and query is not None:
            query["$top"] = self.page_size
        url, seen = path, set[str]()
        while True:
            body = self._json(operation, "GET", url, params=query)
            if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                raise bad(operation, "the answer is not an AvaTax list (@recordsetCount, value)")
            yield from (item for item in body["value"] if isinstance(item, dict))
            link = body.get("@nextLink")
            if not link:
                return
            url, query = next_path(str(link), self.client.base_url, operation), None
            if url in seen:
                raise bad(operation, f"@nextLink repeats itself ({url})")
            seen.add(url)

    def _company(self, company_code: str | None) -> str:
        """The company code to use: the argument or the configured default."""
        company = company_code or self.company_code
        if not company:
            raise SettingsError("Q2C_TAX_COMPANY_CODE is not set and no company code was given")
        return company

    def _company_id(self, company_code: str | None, operation: str) -> int:
        """The numeric id of a company (``GET /companies?$filter=companyCode eq ...``)."""
        company = self._company(company_code)
        if company not in self._company_ids:
            params = {"$filter": f"companyCode eq {odata(company)}"}
            for raw in self._pages(operation, "/companies", params):
                if str(raw.get("companyCode")) == company and raw.get("id") is not None:
                    self._company_ids[company] = int(raw["id"])
                    break
            else:
                raise RecordNotFound(
                    system=self.system,
                    operation=operation,
                    code="EntityNotFoundError",
                    message=f"no company with code {company!r}",
                )
        return self._company_ids[company]
