"""NetSuite's REST record API as the ERP connector speaks it.

- the error envelope (``o:errorDetails``) and what each ``o:errorCode`` means;
- :class:`NetSuiteRecordApi`: reading records and paged collections, creating a
  record (``204`` + ``Location``), resolving a reference to an internal id;
- the request bodies: the connector (:mod:`services.systems.erp`) resolves
  references (customer entityId, subsidiary, item code) to internal ids, then the
  ``*_body`` functions turn the middleware's request dicts into NetSuite record JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import httpx

from services.errors import (
    AuthError,
    BadResponse,
    ConflictError,
    ConnectorError,
    ForbiddenError,
    RateLimited,
    RecordNotFound,
    RejectedError,
)
from services.systems.http import HttpConnector

__all__ = [
    "API_ROOT",
    "PAGE_SIZE",
    "NetSuiteRecordApi",
    "TOKEN_PATH",
    "Record",
    "classify_code",
    "customer_body",
    "error_detail",
    "id_from_location",
    "invoice_body",
    "money",
    "normalise_name",
    "payment_body",
    "q_is",
    "sales_order_body",
]

Record = dict[str, Any]

API_ROOT = "/services/rest/record/v1"
TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
PAGE_SIZE = 1000  # NetSuite's largest page

# NetSuite's o:errorCode -> (error class, retryable). Codes not listed fall back to the
# HTTP status table in services.errors.
_BY_CODE: dict[str, tuple[type[ConnectorError], bool]] = {
    "USER_ERROR": (RejectedError, False),
    "INVALID_ITEM": (RejectedError, False),
    "CURRENCY_MISMATCH": (RejectedError, False),
    "PERIOD_CLOSED": (RejectedError, False),
    "INVALID_PARAMETER": (RejectedError, False),
    "DUP_RCRD": (ConflictError, False),
    "DUP_ENTITY": (ConflictError, False),
    "IDEMPOTENCY_KEY_REUSED": (ConflictError, False),
    "CONCURRENCY_LIMIT_EXCEEDED": (RateLimited, True),
    "REQUEST_LIMIT_EXCEEDED": (RateLimited, True),
    "INVALID_LOGIN": (AuthError, False),
    "INVALID_LOGIN_ATTEMPT": (AuthError, False),
    "INSUFFICIENT_PERMISSION": (ForbiddenError, False),
}
# A bad reference is "not found" when it is the record asked for (404), and a refused
# request when it sits inside a body (400).
_REFERENCE_CODES = frozenset({"INVALID_KEY_OR_REF", "NONEXISTENT_ID", "RCRD_DSNT_EXIST"})

_LEGAL_SUFFIXES = frozenset(
    "inc incorporated llc ltd limited corp corporation co company plc gmbh ag sa sas bv "
    "nv ulc pty pte kk oy ab as srl spa".split()
)


def error_detail(body: Any) -> tuple[str | None, str] | None:
    """``(o:errorCode, detail)`` of the first error detail in a NetSuite error body."""
    if not isinstance(body, dict):
        return None
    details = body.get("o:errorDetails")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        first = details[0]
        code = first.get("o:errorCode")
        detail = str(first.get("detail") or body.get("title") or "error")
        path = first.get("o:errorPath")
        if path:
            detail = f"{detail} (at {path})"
        return (str(code) if code else None), detail
    if body.get("title"):
        return None, str(body["title"])
    return None


def classify_code(status: int, code: str | None) -> tuple[type[ConnectorError], bool] | None:
    """The error class and retryability NetSuite's ``code`` implies, or None."""
    if code in _REFERENCE_CODES:
        return (RecordNotFound if status == 404 else RejectedError), False
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code]
    return None


def q_is(field: str, value: str) -> str:
    """A NetSuite ``q=`` condition ``field IS "value"`` (double quotes dropped from value)."""
    return f'{field} IS "{str(value).replace(chr(34), "")}"'


def id_from_location(location: str | None) -> str | None:
    """The record id at the end of a ``Location`` header (``.../salesOrder/51002``)."""
    if not location:
        return None
    tail = location.rstrip("/").rsplit("/", 1)[-1]
    return tail or None


def normalise_name(name: str) -> str:
    """A company name reduced for duplicate checks: lower case, no punctuation or suffix."""
    words = re.sub(r"[^\w\s]", " ", name.lower().replace("&", " and ")).split()
    while words and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def money(value: Any) -> float:
    """A JSON number for an amount given as a number or a decimal string ("24000.00")."""
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        raise ValueError(f"not an amount: {value!r}") from None


def _currency(code: Any) -> dict[str, str] | None:
    return {"refName": str(code)} if code else None


def _drop_none(record: Record) -> Record:
    return {k: v for k, v in record.items() if v is not None}


def customer_body(request: Record, *, subsidiary_id: str | None) -> Record:
    """customer.upsert request -> NetSuite customer body (the externalId is in the path)."""
    return _drop_none(
        {
            "companyName": request.get("companyName"),
            "subsidiary": {"id": subsidiary_id} if subsidiary_id else None,
            "currency": _currency(request.get("currency")),
            "taxId": request.get("taxId"),
        }
    )


def sales_order_body(
    request: Record, *, entity_id: str, subsidiary_id: str | None, item_ids: dict[str, str]
) -> Record:
    """salesorder.create request -> NetSuite salesOrder body (references by internal id)."""
    lines = [
        {
            "item": {"id": item_ids[str(line["item"])]},
            "quantity": line.get("qty", line.get("quantity", 1)),
            "rate": money(line.get("rate", 0)),
        }
        for line in request.get("lines") or []
    ]
    return _drop_none(
        {
            "externalId": request.get("externalId"),
            "entity": {"id": entity_id},
            "subsidiary": {"id": subsidiary_id} if subsidiary_id else None,
            "currency": _currency(request.get("currency")),
            "tranDate": request.get("tranDate"),
            "item": {"items": lines},
        }
    )


def invoice_body(
    request: Record, *, entity_id: str, order_id: str | None, period_id: str | None
) -> Record:
    """invoice.post request -> NetSuite invoice body.

    The middleware's control total travels in the custom body field
    ``custbody_q2c_expected_total`` (lines come from the sales order it is created from).
    """
    total = request.get("total")
    return _drop_none(
        {
            "externalId": request.get("externalId"),
            "entity": {"id": entity_id},
            "createdFrom": {"id": order_id} if order_id else None,
            "tranDate": request.get("tranDate"),
            "postingPeriod": {"id": period_id} if period_id else None,
            "custbody_q2c_expected_total": money(total) if total is not None else None,
        }
    )


def payment_body(request: Record, *, entity_id: str, doc_ids: dict[str, str]) -> Record:
    """payment.post request -> NetSuite customerPayment body with its apply sublist."""
    applied = [
        {"doc": {"id": doc_ids[str(a["doc"])]}, "apply": True, "amount": money(a["amount"])}
        for a in request.get("apply") or []
    ]
    payment = request.get("payment")
    return _drop_none(
        {
            "externalId": request.get("externalId"),
            "customer": {"id": entity_id},
            "payment": money(payment) if payment is not None else None,
            "currency": _currency(request.get("currency")),
            "tranDate": request.get("tranDate"),
            "apply": {"items": applied},
        }
    )


class NetSuiteRecordApi(HttpConnector):
    """The record API's plumbing: error envelope, collections, reads and creates."""

    system: ClassVar[str] = "erp"
    idempotency_header: ClassVar[str] = "X-NetSuite-Idempotency-Key"

    @property
    def base_url(self) -> str:
        """The API root this connector talks to."""
        return str(self.client.base_url)

    def describe_auth(self) -> str:
        """Method and masked identity, never the secret."""
        return self.auth.describe()

    # -- the ERP's error envelope ---------------------------------------------------

    def error_of(self, response: httpx.Response, body: Any) -> tuple[str | None, str] | None:
        """``(o:errorCode, detail)`` of a NetSuite error answer; None for success."""
        if response.status_code < 400:
            return None
        return error_detail(body) or (None, response.reason_phrase or "no error details")

    def classify(
        self, response: httpx.Response, code: str | None
    ) -> tuple[type[ConnectorError], bool]:
        """NetSuite's codes first (DUP_RCRD, PERIOD_CLOSED ...), then the HTTP status."""
        return classify_code(response.status_code, code) or super().classify(response, code)

    # -- reading and creating records ---------------------------------------------------

    def _get(self, op: str, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``path`` and decode the JSON answer."""
        return self.json_of(self.call(op, "GET", path, params=params), op)

    def _record(self, op: str, rtype: str, rid: str) -> Record:
        """One record by internal id (or ``eid:...``)."""
        body = self._get(op, f"/{rtype}/{rid}")
        if not isinstance(body, dict):
            raise BadResponse(system=self.system, operation=op, message="record is not an object")
        return body

    def _pages(self, op: str, rtype: str, q: str | None, limit: int) -> Iterator[Record]:
        """Every ``items`` entry of a collection, following offset/hasMore."""
        offset = 0
        while True:
            params: dict[str, Any] = {"limit": limit, "offset": offset}
            if q:
                params["q"] = q
            page = self._get(op, f"/{rtype}", params=params)
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise BadResponse(
                    system=self.system, operation=op, message="collection without items"
                )
            yield from items
            if not page.get("hasMore") or not items:
                return
            offset = int(page.get("offset", offset)) + len(items)

    def _ids(self, op: str, rtype: str, q: str | None = None, limit: int = PAGE_SIZE) -> list[str]:
        """The ids a collection query lists (all pages)."""
        return [str(item["id"]) for item in self._pages(op, rtype, q, limit)]

    def _all(self, op: str, rtype: str) -> list[Record]:
        """Every record of a type (collections list ids only, so each record is read;
        a few at a time, as one round trip each would add up)."""
        ids = self._ids(op, rtype)
        if len(ids) <= 1:
            return [self._record(op, rtype, rid) for rid in ids]
        with ThreadPoolExecutor(max_workers=min(8, len(ids)), thread_name_prefix="q2c-erp") as pool:
            return list(pool.map(lambda rid: self._record(op, rtype, rid), ids))

    def _first(self, op: str, rtype: str, q: str) -> Record | None:
        """The first record matching ``q``, or None."""
        first = next(self._pages(op, rtype, q, limit=1), None)
        if first is None:
            return None
        try:
            return self._record(op, rtype, str(first["id"]))
        except RecordNotFound:
            return None

    def _find_tran(
        self, op: str, rtype: str, external_id: str | None, tran_id: str | None
    ) -> Record | None:
        """A transaction by externalId or tranId."""
        if external_id:
            return self._first(op, rtype, q_is("externalId", external_id))
        if tran_id:
            return self._first(op, rtype, q_is("tranId", tran_id))
        raise ValueError(f"{op} needs external_id or tran_id")

    def _required_id(self, op: str, rtype: str, field: str, value: Any) -> str:
        """The internal id of the record whose ``field`` is ``value``, or RejectedError."""
        first = (
            next(self._pages(op, rtype, q_is(field, str(value)), limit=1), None) if value else None
        )
        if first is None:
            raise self._refused(op, "INVALID_KEY_OR_REF", f"no ERP {rtype} with {field} {value!r}")
        return str(first["id"])

    def _create(self, op: str, rtype: str, body: Record, key: str) -> Record:
        """POST a new record, read it back, return ``{id, tranId}``."""
        response = self.call(op, "POST", f"/{rtype}", json=body, idempotency_key=key)
        rid = id_from_location(response.headers.get("Location"))
        if rid is None:
            raise BadResponse(
                system=self.system,
                operation=op,
                message=f"created, but the answer (HTTP {response.status_code}) has no Location",
                http_status=response.status_code,
            )
        record = self._record(op, rtype, rid)
        return {"id": str(record.get("id", rid)), "tranId": record.get("tranId")}

    def _refused(self, op: str, code: str, message: str) -> RejectedError:
        """A refusal found before sending (an unknown reference)."""
        return RejectedError(system=self.system, operation=op, code=code, message=message)
