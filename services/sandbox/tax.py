"""The sandbox tax engine, shaped like Avalara AvaTax REST v2 under ``/tax/api/v2``.

Serves from ``tax.json``: ``GET /utilities/ping``, ``POST /addresses/resolve``,
``GET /definitions/taxcodes``, ``GET /companies`` (``$filter=companyCode eq '..'``),
``GET /companies/{id}/nexus``, ``GET /companies/{id}/customers/{code}/certificates``,
``POST /transactions/create`` and ``GET /companies/{companyCode}/transactions/{code}``.
Lists are FetchResults (``@recordsetCount``, ``value``, ``@nextLink``; ``$top``/``$skip``).

Transactions: ``SalesOrder`` is a quote (``Temporary``, not stored); an invoice
is stored ``Saved`` or, with ``commit: true``, ``Committed``. A committed code is
reserved: the same request again answers the stored document (no second one),
another request with that code answers ``DocumentCodeConflict``. The core's
idempotency also applies, keyed by ``X-Q2C-Idempotency-Key`` (not an AvaTax header).
The ``tax_outage`` fault answers 503 ``ServiceUnavailable`` to everything.
"""

from __future__ import annotations

import base64
import json
from typing import Any, ClassVar
from urllib.parse import urlencode

import httpx

from services.sandbox.core import Sandbox, SandboxRequest, SystemApp, json_response, register_app
from services.sandbox.tax_engine import TaxFault, calculate, resolve_address

__all__ = ["TaxApp"]

_API = "/api/v2"
# The core's generic error codes, in AvaTax's words.
_CODES = {
    "SERVICE_UNAVAILABLE": ("ServiceUnavailable", "Service Unavailable", "HttpRequest"),
    "REQUEST_LIMIT_EXCEEDED": ("TooManyRequests", "Too many requests", "HttpRequest"),
    "INVALID_JSON": ("JsonFormatError", None, "IncorrectData"),
    "IDEMPOTENCY_KEY_REUSED": ("DuplicateEntry", None, "HttpRequestHeaders"),
    "NOT_FOUND": ("IncorrectPathError", None, "HttpRequest"),
    "METHOD_NOT_ALLOWED": ("IncorrectPathError", None, "HttpRequest"),
}
_NUMBERS = {
    "EntityNotFoundError": 4,
    "ValueRequiredError": 5,
    "AuthenticationException": 30,
    "JsonFormatError": 47,
    "IncorrectPathError": 139,
    "DuplicateEntry": 193,
    "GetTaxError": 300,
    "DocumentCodeConflict": 303,
    "MissingAddress": 304,
}


@register_app
class TaxApp(SystemApp):
    """AvaTax REST v2, simulated from the tax master data."""

    name: ClassVar[str] = "tax"
    idempotency_header: ClassVar[str | None] = "X-Q2C-Idempotency-Key"

    def __init__(self, sandbox: Sandbox, master: dict[str, Any]) -> None:
        super().__init__(sandbox, master)
        # (companyCode, code) -> {"request": canonical body without commit, "doc": TransactionModel}
        self.transactions: dict[tuple[str, str], dict[str, Any]] = {}
        self._next_id = 9_000_001
        for method, path, handler in (
            ("GET", r"/utilities/ping", self.ping),
            ("POST", r"/addresses/resolve", self.resolve),
            ("GET", r"/definitions/taxcodes", self.tax_codes),
            ("GET", r"/companies", self.companies),
            ("GET", r"/companies/(?P<id>\d+)/nexus", self.nexus),
            (
                "GET",
                r"/companies/(?P<id>\d+)/customers/(?P<customer>[^/]+)/certificates",
                self.certs,
            ),
            ("POST", r"/transactions/create", self.create),
            ("GET", r"/companies/(?P<company>[^/]+)/transactions/(?P<code>[^/]+)", self.get_doc),
        ):
            self.route(method, _API + path, handler)

    # -- shape -------------------------------------------------------------------------

    def error(
        self, status: int, code: str, message: str, target: str = "IncorrectData"
    ) -> httpx.Response:
        """AvaTax's error envelope, with one detail (core codes translated)."""
        if code in _CODES:
            code, fixed, target = _CODES[code]
            message = fixed or message
        detail: dict[str, Any] = {
            "code": code,
            "message": message,
            "description": message,
            "faultCode": "Server" if status >= 500 else "Client",
            "helpLink": f"https://developer.avalara.com/avatax/errors/{code}",
            "severity": "Error",
        }
        if code in _NUMBERS:
            detail["number"] = _NUMBERS[code]
        body = {"error": {"code": code, "message": message, "target": target, "details": [detail]}}
        return json_response(status, body)

    def records(self) -> dict[str, Any]:
        """Master counts plus the transactions stored here."""
        out = super().records()
        out["counts"]["transactions"] = len(self.transactions)
        return out

    def _fault(self, fault: TaxFault) -> httpx.Response:
        return self.error(fault.status, fault.code, fault.message, fault.target)

    def _fetch(self, req: SandboxRequest, items: list[dict[str, Any]]) -> httpx.Response:
        """A FetchResult page of ``items`` after ``$filter``, ``$skip`` and ``$top``."""
        try:
            items = _filtered(items, req.query.get("$filter"))
            top = int(req.query.get("$top") or 1000)
            skip = int(req.query.get("$skip") or 0)
            if top < 1 or skip < 0:
                raise ValueError
        except ValueError:
            return self.error(400, "InvalidQueryValue", "Invalid $filter, $top or $skip")
        body: dict[str, Any] = {"@recordsetCount": len(items), "value": items[skip : skip + top]}
        if skip + top < len(items):
            query = {k: v for k, v in req.query.items() if k not in ("$top", "$skip")}
            query.update({"$top": str(top), "$skip": str(skip + top)})
            body["@nextLink"] = f"{_API}{req.path[len(_API) :]}?{urlencode(query)}"
        return json_response(200, body)

    def _company(self, key: str, field: str = "id") -> dict[str, Any] | None:
        return next((c for c in self.data["companies"] if str(c[field]) == key), None)

    # -- handlers ------------------------------------------------------------------------

    def ping(self, req: SandboxRequest) -> httpx.Response:
        """Who is calling: authenticated unless a Basic header carries no password."""
        user, authenticated = _basic_user(req.headers.get("Authorization"))
        return json_response(
            200,
            {
                "version": "24.6.0",
                "authenticated": authenticated,
                "authenticationType": "UsernamePassword" if user else "None",
                "authenticatedUserName": user or "sandbox",
                "authenticatedAccountId": int(user) if user and user.isdigit() else 0,
            },
        )

    def resolve(self, req: SandboxRequest) -> httpx.Response:
        try:
            return json_response(200, resolve_address(self.data, req.body))
        except TaxFault as fault:
            return self._fault(fault)

    def tax_codes(self, req: SandboxRequest) -> httpx.Response:
        return self._fetch(req, [{**c, "companyId": 0} for c in self.data["taxCodes"]])

    def companies(self, req: SandboxRequest) -> httpx.Response:
        items = [
            {
                "id": c["id"],
                "companyCode": c["companyCode"],
                "name": c["name"],
                "defaultCountry": c["defaultCountry"],
                "baseCurrencyCode": c["baseCurrency"],
                "isActive": True,
                "isDefault": c["companyCode"] == "US01",
            }
            for c in self.data["companies"]
        ]
        return self._fetch(req, items)

    def nexus(self, req: SandboxRequest) -> httpx.Response:
        company = self._company(req.group("id"))
        if company is None:
            return self.error(404, "EntityNotFoundError", f"Company {req.group('id')} not found")
        items = [
            {
                "id": company["id"] * 100 + i,
                "companyId": company["id"],
                "endDate": "9999-12-31",
                "jurisCode": n["region"],
                "jurisName": n["region"],
                "hasLocalNexus": False,
                **n,
            }
            for i, n in enumerate(company["nexus"], start=1)
        ]
        return self._fetch(req, items)

    def certs(self, req: SandboxRequest) -> httpx.Response:
        company, customer = self._company(req.group("id")), req.group("customer")
        if company is None:
            return self.error(404, "EntityNotFoundError", f"Company {req.group('id')} not found")
        known = {a["customerCode"] for a in self.data["addresses"]}
        certs = [c for c in self.data["exemptionCertificates"] if c["customerCode"] == customer]
        if customer not in known and not certs:
            return self.error(404, "EntityNotFoundError", f"Customer {customer} not found")
        items = [
            {
                "companyId": company["id"],
                "filename": f"certificate-{c['id']}.pdf",
                "documentExists": True,
                "verified": True,
                "exemptPercentage": 100.0,
                **{k: v for k, v in c.items() if k != "customerCode"},
            }
            for c in certs
        ]
        return self._fetch(req, items)

    def create(self, req: SandboxRequest) -> httpx.Response:
        body = req.body if isinstance(req.body, dict) else None
        try:
            doc = calculate(self.data, req.body, doc_id=self._next_id)
        except TaxFault as fault:
            return self._fault(fault)
        assert body is not None  # calculate refused anything else
        if doc["type"] in ("SalesOrder", "ReturnOrder"):
            doc["status"] = "Temporary"  # a quote: never stored
            return json_response(201, doc)
        key = (str(body["companyCode"]), doc["code"])
        content = json.dumps({k: v for k, v in body.items() if k != "commit"}, sort_keys=True)
        stored = self.transactions.get(key)
        if stored is not None and stored["doc"]["status"] == "Committed":
            if stored["request"] == content:
                return json_response(200, stored["doc"])
            return self.error(
                400,
                "DocumentCodeConflict",
                f"Transaction {doc['code']} is committed; its code cannot be reused",
                "code",
            )
        self._next_id += 1
        doc["status"] = "Committed" if body.get("commit") is True else "Saved"
        if stored is not None:
            doc["id"], doc["version"] = stored["doc"]["id"], stored["doc"]["version"] + 1
        else:
            self.remember("transactions", doc["code"])
        self.transactions[key] = {"request": content, "doc": doc}
        return json_response(201, doc)

    def get_doc(self, req: SandboxRequest) -> httpx.Response:
        stored = self.transactions.get((req.group("company"), req.group("code")))
        if stored is None:
            return self.error(
                404,
                "EntityNotFoundError",
                f"Transaction {req.group('code')} not found in company {req.group('company')}",
                "Transaction",
            )
        return json_response(200, stored["doc"])


def _filtered(items: list[dict[str, Any]], expression: str | None) -> list[dict[str, Any]]:
    """Items matching an OData ``field eq 'value'`` filter (case-insensitive)."""
    if not expression:
        return items
    field, sep, rest = expression.strip().partition(" eq ")
    value = rest.strip()
    if not sep or len(value) < 2 or value[0] != "'" or value[-1] != "'":
        raise ValueError(expression)
    wanted = value[1:-1].replace("''", "'").lower()
    return [i for i in items if str(i.get(field.strip(), "")).lower() == wanted]


def _basic_user(header: str | None) -> tuple[str | None, bool]:
    """The Basic auth user and whether a password came with it (no header: trusted)."""
    if not header:
        return None, True
    scheme, _, token = header.partition(" ")
    try:
        user, _, password = base64.b64decode(token).decode().partition(":")
    except ValueError:
        return None, False
    return user, scheme.lower() == "basic" and bool(password)
