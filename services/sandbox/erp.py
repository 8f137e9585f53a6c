"""The simulated ERP: NetSuite's REST record API over ``sample_data/master/erp.json``.

Serves ``/services/rest/record/v1/{type}`` collections (``limit``/``offset``/``q``,
``hasMore`` and ``links``) and records (by id or ``eid:{externalId}``) for customer,
subsidiary, item, accountingPeriod, salesOrder, invoice and customerPayment; creates
sales orders, invoices and payments (``204`` + ``Location``), upserts customers
(``PUT /customer/eid:...``), and answers a token endpoint at
``/services/rest/auth/oauth2/v1/token``. It refuses what NetSuite refuses: unknown
references, an unknown or inactive item (and the ``unknown_item`` fault), a currency
the subsidiary does not allow, a posting in a closed period (and the
``closed_period`` fault), a duplicate externalId (``DUP_RCRD``).
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx

from services.sandbox.core import SandboxRequest, SystemApp, json_response, register_app

__all__ = ["ErpApp"]

ROOT = "/services/rest/record/v1"
COLLECTIONS = {
    "customer": "customers",
    "subsidiary": "subsidiaries",
    "item": "items",
    "accountingPeriod": "accountingPeriods",
    "salesOrder": "salesOrders",
    "invoice": "invoices",
    "customerPayment": "customerPayments",
}
# The field a reference's refName names, per collection.
_REF_NAME = {
    "customers": "entityId",
    "subsidiaries": "name",
    "items": "itemId",
    "accountingPeriods": "periodName",
    "salesOrders": "tranId",
    "invoices": "tranId",
}
_TERM = re.compile(
    r"\s*(?P<field>[\w.]+)\s+(?P<op>IS_NOT|IS|CONTAIN|START_WITH)\s+"
    r'(?:"(?P<quoted>[^"]*)"|(?P<bare>[^\s"]+))\s*(?:(?P<join>AND|OR)\b|\Z)',
    re.IGNORECASE,
)
_RFC = {400: "15.5.1", 401: "15.5.2", 403: "15.5.4", 404: "15.5.5", 405: "15.5.6", 409: "15.5.10"}


class Refusal(Exception):
    """A request NetSuite would refuse; turned into its error envelope."""

    def __init__(self, status: int, code: str, detail: str, path: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.path = status, code, detail, path


@register_app
class ErpApp(SystemApp):
    """NetSuite-shaped ERP with state: created orders, posted invoices and payments."""

    name: ClassVar[str] = "erp"
    idempotency_header: ClassVar[str | None] = "X-NetSuite-Idempotency-Key"

    def __init__(self, sandbox: Any, master: dict[str, Any]) -> None:
        super().__init__(sandbox, master)
        types = "|".join(COLLECTIONS)
        self.route("POST", r"/services/rest/auth/oauth2/v1/token", self._token)
        self.route("GET", rf"{ROOT}/(?P<type>{types})", self._guard(self._list))
        self.route("GET", rf"{ROOT}/(?P<type>{types})/(?P<id>[^/]+)", self._guard(self._get))
        self.route("PUT", rf"{ROOT}/customer/(?P<id>eid:[^/]+)", self._guard(self._upsert))
        self.route("POST", rf"{ROOT}/salesOrder", self._guard(self._create_order))
        self.route("POST", rf"{ROOT}/invoice", self._guard(self._create_invoice))
        self.route("POST", rf"{ROOT}/customerPayment", self._guard(self._create_payment))

    def error(self, status: int, code: str, message: str) -> httpx.Response:
        """NetSuite's error envelope (the core's 429 code becomes NetSuite's own)."""
        if code == "REQUEST_LIMIT_EXCEEDED":
            code = "CONCURRENCY_LIMIT_EXCEEDED"
        return self._envelope(Refusal(status, code, message))

    # -- reading --------------------------------------------------------------------------

    def _list(self, req: SandboxRequest) -> httpx.Response:
        """A collection page: ids and links only, as NetSuite answers."""
        rtype = req.group("type")
        try:
            limit = max(1, min(1000, int(req.query.get("limit", 1000))))
            offset = max(0, int(req.query.get("offset", 0)))
        except ValueError:
            raise Refusal(400, "INVALID_PARAMETER", "limit and offset must be numbers") from None
        rows = self._rows(rtype)
        if req.query.get("q"):
            matches = _parse_query(req.query["q"])
            rows = [r for r in rows if any(all(_holds(r, *t) for t in ands) for ands in matches)]
        page = rows[offset : offset + limit]
        href = self._href(rtype)
        links = [{"rel": "self", "href": f"{href}?limit={limit}&offset={offset}"}]
        more = offset + len(page) < len(rows)
        if more:
            links.append({"rel": "next", "href": f"{href}?limit={limit}&offset={offset + limit}"})
        return json_response(
            200,
            {
                "links": links,
                "count": len(page),
                "hasMore": more,
                "offset": offset,
                "totalResults": len(rows),
                "items": [{"id": r["id"], "links": self._links(rtype, r["id"])} for r in page],
            },
        )

    def _get(self, req: SandboxRequest) -> httpx.Response:
        """One record by internal id or ``eid:externalId``."""
        rtype, rid = req.group("type"), req.group("id")
        record = self._by_key(COLLECTIONS[rtype], rid)
        if record is None:
            raise Refusal(
                404,
                "NONEXISTENT_ID",
                "The record instance does not exist. Provide a valid record instance ID.",
            )
        return json_response(200, {"links": self._links(rtype, record["id"]), **record})

    # -- writing --------------------------------------------------------------------------

    def _upsert(self, req: SandboxRequest) -> httpx.Response:
        """``PUT /customer/eid:X``: update the customer with that externalId or create it."""
        body = _body(req)
        external_id = req.group("id")[4:]
        customer = self._by_key("customers", "eid:" + external_id)
        sub_ref = body.get("subsidiary") or (customer or {}).get("subsidiary")
        sub = self._resolve("subsidiaries", sub_ref, "subsidiary")
        currency = _ref_name(body.get("currency")) or sub["currency"]["refName"]
        self._check_currency(sub, currency)
        if customer is None:
            if not body.get("companyName"):
                raise Refusal(400, "USER_ERROR", "Please enter a value for companyName.")
            customer = {
                "id": self._next_id("customers"),
                "entityId": f"C-{self._next_number('customers', 'entityId', 'C-')}",
                "externalId": external_id,
                "creditHold": "OFF",
                "terms": {"refName": "Net 30"},
                "taxId": None,
            }
            self.data["customers"].append(customer)
            self.remember("customers", customer["id"])
        customer.update(
            {
                "companyName": body.get("companyName") or customer.get("companyName"),
                "subsidiary": {"id": sub["id"], "refName": sub["name"]},
                "currency": {"refName": currency},
            }
        )
        if body.get("taxId"):
            customer["taxId"] = body["taxId"]
        return self._created("customer", customer["id"])

    def _create_order(self, req: SandboxRequest) -> httpx.Response:
        """``POST /salesOrder`` (not a posting transaction: no period check)."""
        body = _body(req)
        self._check_unique("salesOrders", body)
        customer = self._resolve("customers", body.get("entity"), "entity")
        if customer.get("creditHold") == "ON":
            raise Refusal(400, "USER_ERROR", f"Customer {customer['entityId']} is on credit hold")
        sub = self._resolve(
            "subsidiaries", body.get("subsidiary") or customer["subsidiary"], "subsidiary"
        )
        currency = _ref_name(body.get("currency")) or sub["currency"]["refName"]
        self._check_currency(sub, currency)
        lines = (body.get("item") or {}).get("items") or []
        if not lines:
            raise Refusal(400, "USER_ERROR", "You must enter at least one line item.", "item")
        items: list[dict[str, Any]] = []
        for n, line in enumerate(lines):
            item = self._item(line.get("item"), f"item.items[{n}].item")
            qty, rate = line.get("quantity") or 1, float(line.get("rate") or 0)
            items.append(
                {
                    "item": _ref(item, "itemId"),
                    "quantity": qty,
                    "rate": rate,
                    "amount": float(qty) * rate,
                }
            )
        rid = self._next_id("salesOrders")
        self.data["salesOrders"].append(
            {
                "id": rid,
                "tranId": f"SO-{self._next_number('salesOrders', 'tranId', 'SO-')}",
                "externalId": body.get("externalId"),
                "entity": _ref(customer, "entityId"),
                "subsidiary": _ref(sub, "name"),
                "currency": {"refName": currency},
                "total": round(sum(i["amount"] for i in items), 2),
                "tranDate": body.get("tranDate") or self._today(),
                "status": "Pending Billing",
                "item": {"items": items},
            }
        )
        self.remember("salesOrders", rid)
        return self._created("salesOrder", rid)

    def _create_invoice(self, req: SandboxRequest) -> httpx.Response:
        """``POST /invoice``: from a sales order (its total) or standalone (control total)."""
        body = _body(req)
        self._check_unique("invoices", body)
        customer = self._resolve("customers", body.get("entity"), "entity")
        order = None
        if body.get("createdFrom"):
            order = self._resolve("salesOrders", body["createdFrom"], "createdFrom")
        tran_date = body.get("tranDate") or self._today()
        period = self._open_period(body.get("postingPeriod"), tran_date)
        total = float(order["total"] if order else body.get("custbody_q2c_expected_total") or 0)
        rid = self._next_id("invoices")
        self.data["invoices"].append(
            {
                "id": rid,
                "tranId": self._tran_id("invoices", body, "INV-"),
                "externalId": body.get("externalId"),
                "entity": _ref(customer, "entityId"),
                "subsidiary": {"refName": customer["subsidiary"].get("refName")},
                "currency": customer["currency"],
                "tranDate": tran_date,
                "postingPeriod": {"refName": period["periodName"]} if period else None,
                "createdFrom": {"refName": order["tranId"]} if order else None,
                "subtotal": total,
                "taxTotal": 0.0,
                "total": total,
                "amountRemaining": total,
                "status": "Open",
            }
        )
        if order is not None:
            order["status"] = "Billed"
        self.remember("invoices", rid)
        return self._created("invoice", rid)

    def _create_payment(self, req: SandboxRequest) -> httpx.Response:
        """``POST /customerPayment`` applied to open invoices."""
        body = _body(req)
        self._check_unique("customerPayments", body)
        customer = self._resolve(
            "customers", body.get("customer") or body.get("entity"), "customer"
        )
        sub = self._resolve("subsidiaries", customer["subsidiary"], "subsidiary")
        currency = _ref_name(body.get("currency")) or customer["currency"]["refName"]
        self._check_currency(sub, currency)
        tran_date = body.get("tranDate") or self._today()
        self._open_period(None, tran_date)
        applied: list[dict[str, Any]] = []
        for n, line in enumerate((body.get("apply") or {}).get("items") or []):
            invoice = self._resolve("invoices", line.get("doc"), f"apply.items[{n}].doc")
            amount = float(line.get("amount") or 0)
            invoice["amountRemaining"] = round(max(0.0, invoice["amountRemaining"] - amount), 2)
            invoice["status"] = "Paid In Full" if invoice["amountRemaining"] == 0 else "Open"
            applied.append({"doc": _ref(invoice, "tranId"), "amount": amount})
        rid = self._next_id("customerPayments")
        self.data["customerPayments"].append(
            {
                "id": rid,
                "tranId": self._tran_id("customerPayments", body, "P-"),
                "externalId": body.get("externalId"),
                "entity": _ref(customer, "entityId"),
                "subsidiary": {"refName": sub["name"]},
                "currency": {"refName": currency},
                "payment": float(body.get("payment") or sum(a["amount"] for a in applied)),
                "tranDate": tran_date,
                "apply": {"items": applied},
            }
        )
        self.remember("customerPayments", rid)
        return self._created("customerPayment", rid)

    def _token(self, req: SandboxRequest) -> httpx.Response:
        """Any client credentials get a bearer token (form or JSON body)."""
        form = parse_qs(req.raw.decode("utf-8", "replace")) if req.body is None else {}
        grant = (req.body or {}).get("grant_type") if isinstance(req.body, dict) else None
        grant = grant or (form.get("grant_type") or ["client_credentials"])[0]
        if grant != "client_credentials":
            return json_response(400, {"error": "unsupported_grant_type"})
        token = f"sandbox-erp-{len(self.sandbox.requests) + 1}"
        return json_response(
            200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
        )

    # -- helpers ------------------------------------------------------------------------

    def _guard(self, handler: Any) -> Any:
        """``handler`` with a Refusal turned into NetSuite's error envelope."""

        def guarded(req: SandboxRequest) -> httpx.Response:
            try:
                response: httpx.Response = handler(req)
            except Refusal as refusal:
                return self._envelope(refusal)
            return response

        return guarded

    def _envelope(self, refusal: Refusal) -> httpx.Response:
        """``{"type","title","status","o:errorDetails":[...]}``."""
        detail: dict[str, str] = {"detail": refusal.detail, "o:errorCode": refusal.code}
        if refusal.path:
            detail["o:errorPath"] = refusal.path
        section = _RFC.get(refusal.status)
        kind = (
            f"https://www.rfc-editor.org/rfc/rfc9110.html#section-{section}"
            if section
            else "https://www.rfc-editor.org/rfc/rfc9110.html"
        )
        try:
            title = HTTPStatus(refusal.status).phrase
        except ValueError:
            title = "Error"
        body = {"type": kind, "title": title, "status": refusal.status}
        return json_response(refusal.status, {**body, "o:errorDetails": [detail]})

    def _rows(self, rtype: str) -> list[dict[str, Any]]:
        """The records of a record type."""
        rows: list[dict[str, Any]] = self.data.setdefault(COLLECTIONS[rtype], [])
        return rows

    def _href(self, rtype: str, rid: str | None = None) -> str:
        """The absolute URL of a collection or record (in-process base URL)."""
        base = f"{self.sandbox.url(self.name)}{ROOT}/{rtype}"
        return f"{base}/{rid}" if rid else base

    def _links(self, rtype: str, rid: str) -> list[dict[str, str]]:
        """A record's ``links``."""
        return [{"rel": "self", "href": self._href(rtype, rid)}]

    def _created(self, rtype: str, rid: str) -> httpx.Response:
        """NetSuite's answer to a create: 204 with the new record's URL."""
        return json_response(204, None, {"Location": self._href(rtype, rid)})

    def _by_key(self, collection: str, key: str) -> dict[str, Any] | None:
        """A record by internal id or ``eid:externalId``."""
        field, value = ("externalId", key[4:]) if key.startswith("eid:") else ("id", key)
        rows = self.data.get(collection, [])
        return next((r for r in rows if str(r.get(field)) == value), None)

    def _resolve(self, collection: str, ref: Any, path: str) -> dict[str, Any]:
        """The record a reference names (``{"id"}``, ``{"externalId"}`` or ``{"refName"}``)."""
        if isinstance(ref, str | int):
            ref = {"id": str(ref), "refName": str(ref)}
        if isinstance(ref, dict):
            for row in self.data.get(collection, []):
                if ref.get("id") is not None and str(row.get("id")) == str(ref["id"]):
                    return row
                if ref.get("externalId") and row.get("externalId") == ref["externalId"]:
                    return row
                name_field = _REF_NAME.get(collection)
                if ref.get("refName") and name_field and row.get(name_field) == ref["refName"]:
                    return row
        what = path or collection
        raise Refusal(400, "INVALID_KEY_OR_REF", f"Invalid {what} reference key {ref!r}.", path)

    def _item(self, ref: Any, path: str) -> dict[str, Any]:
        """An active item the ERP knows (the ``unknown_item`` fault hides one)."""
        try:
            item = self._resolve("items", ref, path)
        except Refusal:
            item = None
        if item is None or item.get("itemId") == self.sandbox.faults.unknown_item:
            raise Refusal(400, "USER_ERROR", f"Invalid item reference {ref!r}.", path)
        if item.get("isInactive"):
            raise Refusal(400, "USER_ERROR", f"Item {item['itemId']} is inactive.", path)
        return item

    def _check_unique(self, collection: str, body: dict[str, Any]) -> None:
        """DUP_RCRD when a record with this externalId exists."""
        ext = body.get("externalId")
        if ext and self._by_key(collection, f"eid:{ext}") is not None:
            raise Refusal(
                409, "DUP_RCRD", f"A record with externalId {ext} already exists.", "externalId"
            )

    def _check_currency(self, sub: dict[str, Any], currency: str) -> None:
        """CURRENCY_MISMATCH when the subsidiary does not allow ``currency``."""
        allowed = sub.get("allowedCurrencies") or [sub["currency"]["refName"]]
        if currency not in allowed:
            raise Refusal(
                400,
                "CURRENCY_MISMATCH",
                f"Currency {currency} is not allowed for subsidiary {sub['name']} "
                f"(allowed: {', '.join(allowed)})",
                "currency",
            )

    def _open_period(self, ref: Any, tran_date: str) -> dict[str, Any] | None:
        """The posting period (named or holding ``tran_date``); PERIOD_CLOSED when closed."""
        if ref:
            period: dict[str, Any] | None = self._resolve("accountingPeriods", ref, "postingPeriod")
        else:
            period = next(
                (
                    p
                    for p in self.data["accountingPeriods"]
                    if not p.get("isQuarter")
                    and not p.get("isYear")
                    and p["startDate"] <= tran_date <= p["endDate"]
                ),
                None,
            )
        if period and (
            period.get("closed") or period["periodName"] == self.sandbox.faults.closed_period
        ):
            raise Refusal(409, "PERIOD_CLOSED", f"Posting period {period['periodName']} is closed")
        return period

    def _next_id(self, collection: str) -> str:
        """One more than the largest numeric internal id."""
        ids = [int(r["id"]) for r in self.data[collection] if str(r.get("id", "")).isdigit()]
        return str(max(ids, default=1000) + 1)

    def _next_number(self, collection: str, field: str, prefix: str) -> int:
        """One more than the largest ``PREFIX-n`` number in ``field``."""
        numbers = [
            int(v[len(prefix) :])
            for r in self.data[collection]
            if isinstance(v := r.get(field), str)
            and v.startswith(prefix)
            and v[len(prefix) :].isdigit()
        ]
        return max(numbers, default=100000) + 1

    def _tran_id(self, collection: str, body: dict[str, Any], prefix: str) -> str:
        """The externalId when it is already a document number, else the next number."""
        ext = str(body.get("externalId") or "")
        if ext.startswith(prefix):
            return ext
        return f"{prefix}{self._next_number(collection, 'tranId', prefix)}"

    def _today(self) -> str:
        """The sandbox's current date."""
        return self.sandbox.now().date().isoformat()


def _body(req: SandboxRequest) -> dict[str, Any]:
    """The JSON object a write needs."""
    if not isinstance(req.body, dict):
        raise Refusal(400, "INVALID_PARAMETER", "The request body must be a JSON object.")
    return req.body


def _ref(record: dict[str, Any], name_field: str) -> dict[str, Any]:
    """A NetSuite reference to ``record``: ``{"id", "refName"}``."""
    return {"id": record["id"], "refName": record.get(name_field)}


def _ref_name(ref: Any) -> str | None:
    """A currency given as ``{"refName": "USD"}`` or ``"USD"``."""
    if isinstance(ref, dict):
        return ref.get("refName") or ref.get("id")
    return str(ref) if ref else None


def _parse_query(q: str) -> list[list[tuple[str, str, str]]]:
    """``q=`` as OR-groups of AND-ed ``(field, operator, value)`` terms."""
    groups: list[list[tuple[str, str, str]]] = [[]]
    pos = 0
    while pos < len(q):
        m = _TERM.match(q, pos)
        if m is None or m.end() == pos:
            raise Refusal(400, "INVALID_PARAMETER", f"Invalid search query: {q}", "q")
        value = m.group("quoted") if m.group("quoted") is not None else m.group("bare")
        groups[-1].append((m.group("field"), m.group("op").upper(), value))
        if (m.group("join") or "").upper() == "OR":
            groups.append([])
        pos = m.end()
    return [g for g in groups if g]


def _holds(record: dict[str, Any], field: str, op: str, value: str) -> bool:
    """Whether one query term holds for ``record`` (case-insensitive, refs by id or name)."""
    current: Any = record
    for part in field.split("."):
        current = current.get(part) if isinstance(current, dict) else None
    if isinstance(current, dict):
        candidates = [str(current.get("id", "")), str(current.get("refName", ""))]
    else:
        candidates = ["" if current is None else str(current).lower()]
    candidates = [c.lower() for c in candidates]
    wanted = value.lower()
    if op == "IS":
        return wanted in candidates
    if op == "IS_NOT":
        return wanted not in candidates
    if op == "CONTAIN":
        return any(wanted in c for c in candidates)
    return any(c.startswith(wanted) for c in candidates)
