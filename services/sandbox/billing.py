"""The billing sandbox: a Zuora-shaped REST API over ``billing.json``.

Routes (under ``/billing``): ``POST /oauth/token``; ``GET /v1/accounts/{key}``;
``GET /object-query/accounts?filter[]=crmid.EQ:<id>`` (cursor paging);
``GET /v1/catalog/products`` (``page``/``pageSize``, ``nextPage``) and
``/v1/catalog/products/{id or sku}``; ``GET|PUT /v1/subscriptions/{key}``,
``POST /v1/subscriptions``, ``PUT /v1/subscriptions/{key}/renew``,
``GET /v1/subscriptions/accounts/{key}``; ``GET /v1/invoices/{key}``,
``GET /v1/transactions/invoices/accounts/{key}``,
``POST /v1/accounts/{key}/billing-documents/generate``; ``GET /v1/payments/{key}``,
``GET /v1/transactions/payments/accounts/{key}``, ``POST /v1/payments``;
``GET /v1/usage/accounts/{key}``.

Business errors answer HTTP 200 with ``{"success": false, "reasons": [...]}`` as
Zuora does; unknown records 404, a bearer token the sandbox did not issue 401
(no ``Authorization`` at all is let through, for the in-process console).
"""

from __future__ import annotations

import base64
import copy
import uuid
from typing import Any
from urllib.parse import parse_qs

import httpx

from services.sandbox.billing_state import NOT_FOUND, BillingState, Refusal
from services.sandbox.core import Sandbox, SandboxRequest, SystemApp, json_response, register_app

__all__ = ["BillingApp"]

# The core's error names -> Zuora-like numeric codes (last two digits: category).
_CODES = {
    "NOT_FOUND": NOT_FOUND,
    "METHOD_NOT_ALLOWED": 50000045,
    "IDEMPOTENCY_KEY_REUSED": 53000090,
    "INVALID_JSON": 50000090,
    "REQUEST_LIMIT_EXCEEDED": 50000070,
    "SERVICE_UNAVAILABLE": 50000060,
    "UNAUTHORIZED": 90000011,
}
_QUERY_FIELDS = {"crmid": "crmId", "accountnumber": "accountNumber", "status": "status",
                 "currency": "currency", "name": "name"}  # fmt: skip
_KEY = r"(?P<key>[^/]+)"


@register_app
class BillingApp(SystemApp):
    """Zuora-like billing: catalog, accounts, subscriptions, invoices, payments, usage."""

    name = "billing"
    idempotency_header = "Idempotency-Key"

    def __init__(self, sandbox: Sandbox, master: dict[str, Any]) -> None:
        super().__init__(sandbox, master)
        self.state = BillingState(self.data, lambda: self.sandbox.faults.unknown_item)
        self.tokens: set[str] = set()
        for method, pattern, handler in (
            ("POST", r"/oauth/token", self._token),
            ("GET", rf"/v1/accounts/{_KEY}", self._account),
            ("POST", rf"/v1/accounts/{_KEY}/billing-documents/generate", self._generate),
            ("GET", r"/object-query/accounts", self._query_accounts),
            ("GET", r"/v1/catalog/products", self._products),
            ("GET", rf"/v1/catalog/products/{_KEY}", self._product),
            ("GET", rf"/v1/subscriptions/accounts/{_KEY}", self._subscriptions),
            ("POST", r"/v1/subscriptions", self._create),
            ("GET", rf"/v1/subscriptions/{_KEY}", self._subscription),
            ("PUT", rf"/v1/subscriptions/{_KEY}", self._amend),
            ("PUT", rf"/v1/subscriptions/{_KEY}/renew", self._renew),
            ("GET", rf"/v1/invoices/{_KEY}", self._invoice),
            ("GET", rf"/v1/transactions/invoices/accounts/{_KEY}", self._invoices),
            ("GET", rf"/v1/payments/{_KEY}", self._payment),
            ("GET", rf"/v1/transactions/payments/accounts/{_KEY}", self._payments),
            ("POST", r"/v1/payments", self._pay),
            ("GET", rf"/v1/usage/accounts/{_KEY}", self._usage),
        ):
            self.route(method, pattern, handler)

    # -- the system's error shape, auth and refusals ---------------------------------

    def error(self, status: int, code: str, message: str) -> httpx.Response:
        """Zuora's envelope: ``success: false`` with numeric-coded reasons."""
        return _envelope(status, _CODES.get(code, 50000090), message)

    def dispatch(self, req: SandboxRequest) -> httpx.Response:
        """Check the bearer token (when one is sent), route, and answer refusals."""
        auth = req.headers.get("Authorization", "")
        if req.path != "/oauth/token" and auth and auth.removeprefix("Bearer ") not in self.tokens:
            return self.error(401, "UNAUTHORIZED", "Authentication error")
        if req.method in ("POST", "PUT") and req.path != "/oauth/token":
            if not isinstance(req.body, dict):
                return self.error(400, "INVALID_JSON", "the request body must be a JSON object")
        try:
            return super().dispatch(req)
        except Refusal as exc:
            return _envelope(exc.status, exc.code, exc.message)
        except (ArithmeticError, AttributeError, KeyError, TypeError, ValueError) as exc:
            return _envelope(400, 50000090, f"Malformed request: {type(exc).__name__}: {exc}")

    def _token(self, req: SandboxRequest) -> httpx.Response:
        """OAuth2 client credentials: any non-empty id and secret get a bearer token."""
        if isinstance(req.body, dict):
            form = req.body
        else:
            form = {k: v[-1] for k, v in parse_qs(req.raw.decode(errors="replace")).items()}
        if form.get("grant_type") != "client_credentials":
            return json_response(400, {"error": "unsupported_grant_type"})
        if not form.get("client_id") or not form.get("client_secret"):
            return json_response(401, {"error": "invalid_client"})
        token = "sbx-" + uuid.uuid4().hex
        self.tokens.add(token)
        return json_response(
            200, {"access_token": token, "token_type": "bearer", "expires_in": 3599, "scope": "all"}
        )

    # -- reads ------------------------------------------------------------------------

    def _found(self, index: dict[str, dict[str, Any]], key: str) -> dict[str, Any]:
        """The record or a 404 refusal in Zuora's words."""
        record = index.get(key)
        if record is None:
            raise Refusal(f"Cannot find entity by key: '{key}'.", NOT_FOUND, 404)
        return record

    def _account(self, req: SandboxRequest) -> httpx.Response:
        """GET /v1/accounts/{key}: basicInfo, billingAndPayment, billToContact, metrics."""
        account = self._found(self.state.accounts, req.group("key"))
        row = self._account_row(account)
        return json_response(
            200,
            {
                "success": True,
                "basicInfo": {
                    k: row[k] for k in ("id", "name", "accountNumber", "status", "crmId")
                },
                "billingAndPayment": {
                    k: row[k] for k in ("billCycleDay", "currency", "paymentTerm")
                },
                "billToContact": account.get("billToContact"),
                "metrics": {"balance": row["balance"], "currency": row["currency"]},
            },
        )

    def _account_row(self, account: dict[str, Any]) -> dict[str, Any]:
        """An account as a flat object-query row, with its open balance."""
        row = {k: v for k, v in account.items() if k != "billToContact"}
        invoices = self.state.of_account("invoices", account["accountNumber"])
        row["balance"] = round(sum(float(i.get("balance") or 0) for i in invoices), 2)
        return row

    def _query_accounts(self, req: SandboxRequest) -> httpx.Response:
        """GET /object-query/accounts: flat rows, one ``filter[]`` (EQ), cursor paging."""
        rows = [self._account_row(a) for a in self.data["accounts"]]
        wanted = req.query.get("filter[]")
        if wanted:
            field, _, rest = wanted.partition(".")
            op, _, value = rest.partition(":")
            if field.lower() not in _QUERY_FIELDS or op.upper() != "EQ":
                raise Refusal(f"unsupported filter {wanted!r}", 50000090, 400)
            rows = [r for r in rows if str(r.get(_QUERY_FIELDS[field.lower()])) == value]
        size = _int(req.query.get("pageSize"), 10, 99)
        start = int(base64.urlsafe_b64decode(req.query.get("cursor") or "MA==").decode() or 0)
        body: dict[str, Any] = {"data": rows[start : start + size]}
        if start + size < len(rows):
            body["nextPage"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return json_response(200, body)

    def _products(self, req: SandboxRequest) -> httpx.Response:
        """GET /v1/catalog/products: the catalog, paged with ``nextPage``."""
        rows = [p for p in self.data["products"] if self.state.product(p["id"])]
        return _page(req, rows, "products")

    def _product(self, req: SandboxRequest) -> httpx.Response:
        """GET /v1/catalog/products/{id or sku}."""
        product = self.state.product(req.group("key"))
        if product is None:
            raise Refusal(f"Cannot find entity by key: '{req.group('key')}'.", NOT_FOUND, 404)
        return _ok(**copy.deepcopy(product))

    def _subscription(self, req: SandboxRequest) -> httpx.Response:
        """GET /v1/subscriptions/{number or id}."""
        sub = self._found(self.state.subs, req.group("key"))
        return _ok(**self._render(sub))

    def _subscriptions(self, req: SandboxRequest) -> httpx.Response:
        """GET /v1/subscriptions/accounts/{key}: the account's subscriptions, paged."""
        account = self._found(self.state.accounts, req.group("key"))
        subs = self.state.subscriptions_of(account["accountNumber"])
        return _page(req, [self._render(s) for s in subs], "subscriptions")

    def _render(self, sub: dict[str, Any]) -> dict[str, Any]:
        """A subscription as Zuora returns it: rate plans with their charges."""
        plans: list[dict[str, Any]] = []
        for line in sub.get("ratePlans", []):
            product, plan = self.state.plans.get(line.get("productRatePlanId"), ({}, {}))
            charge = (plan.get("productRatePlanCharges") or [{}])[0]
            plans.append(
                {
                    "id": uuid.uuid5(uuid.NAMESPACE_OID, sub["id"] + str(len(plans))).hex,
                    "productId": product.get("id"),
                    "productName": product.get("name"),
                    "productSku": line.get("productSku"),
                    "productRatePlanId": line.get("productRatePlanId"),
                    "ratePlanName": plan.get("name"),
                    "ratePlanCharges": [
                        {
                            "productRatePlanChargeId": charge.get("id"),
                            "name": charge.get("name"),
                            "type": charge.get("type"),
                            "billingPeriod": charge.get("billingPeriod"),
                            "uom": charge.get("uom"),
                            "quantity": line.get("quantity"),
                        }
                    ],
                }
            )
        return {**{k: v for k, v in sub.items() if k != "ratePlans"}, "ratePlans": plans}

    def _invoice(self, req: SandboxRequest) -> httpx.Response:
        """GET /v1/invoices/{number or id}."""
        invoice = self._found(self.state.invoices, req.group("key"))
        return _ok(**invoice)

    def _invoices(self, req: SandboxRequest) -> httpx.Response:
        """GET /v1/transactions/invoices/accounts/{key}: the account's invoices, paged."""
        account = self._found(self.state.accounts, req.group("key"))
        rows = self.state.of_account("invoices", account["accountNumber"])
        return _page(req, rows, "invoices")

    def _payment(self, req: SandboxRequest) -> httpx.Response:
        """GET /v1/payments/{number or id}."""
        payment = self._found(self.state.payments, req.group("key"))
        return _ok(**payment)

    def _payments(self, req: SandboxRequest) -> httpx.Response:
        """GET /v1/transactions/payments/accounts/{key}: the account's payments, paged."""
        account = self._found(self.state.accounts, req.group("key"))
        return _page(req, self.state.of_account("payments", account["accountNumber"]), "payments")

    def _usage(self, req: SandboxRequest) -> httpx.Response:
        """GET /v1/usage/accounts/{key}: the account's monthly usage records, paged."""
        account = self._found(self.state.accounts, req.group("key"))
        return _page(req, self.state.usage(account["accountNumber"]), "usage")

    # -- writes -----------------------------------------------------------------------

    def _create(self, req: SandboxRequest) -> httpx.Response:
        """POST /v1/subscriptions: a new subscription, version 1."""
        sub, tcv = self.state.create_subscription(req.body)
        self.remember("subscriptions", sub["subscriptionNumber"])
        mrr = float(round(tcv / max(1, sub["currentTerm"]), 2))
        return _ok(subscriptionId=sub["id"], subscriptionNumber=sub["subscriptionNumber"],
                   contractedMrr=mrr, totalContractedValue=float(tcv))  # fmt: skip

    def _amend(self, req: SandboxRequest) -> httpx.Response:
        """PUT /v1/subscriptions/{key}: add rate plans (a new version)."""
        sub = self._found(self.state.subs, req.group("key"))
        delta = self.state.amend(sub, req.body)
        self.remember("amendments", f"{sub['subscriptionNumber']} v{sub['version']}")
        return _ok(subscriptionId=sub["id"], subscriptionNumber=sub["subscriptionNumber"],
                   totalDeltaTcv=float(delta))  # fmt: skip

    def _renew(self, req: SandboxRequest) -> httpx.Response:
        """PUT /v1/subscriptions/{key}/renew: the next term (a new version)."""
        sub = self._found(self.state.subs, req.group("key"))
        delta = self.state.renew(sub)
        self.remember("renewals", f"{sub['subscriptionNumber']} v{sub['version']}")
        return _ok(subscriptionId=sub["id"], termStartDate=sub["termStartDate"],
                   termEndDate=sub["termEndDate"], totalDeltaTcv=float(delta))  # fmt: skip

    def _generate(self, req: SandboxRequest) -> httpx.Response:
        """POST /v1/accounts/{key}/billing-documents/generate: one posted invoice."""
        account = self._found(self.state.accounts, req.group("key"))
        invoice = self.state.generate_invoice(account, req.body)
        self.remember("invoices", invoice["invoiceNumber"])
        return _ok(invoices=[{"id": invoice["id"]}], creditMemos=[])

    def _pay(self, req: SandboxRequest) -> httpx.Response:
        """POST /v1/payments: a processed payment applied to invoices."""
        payment = self.state.apply_payment(req.body)
        self.remember("payments", payment["number"])
        return _ok(**payment)


def _ok(**fields: Any) -> httpx.Response:
    """A Zuora success: HTTP 200 with ``success: true``."""
    return json_response(200, {**fields, "success": True})


def _envelope(status: int, code: int, message: str) -> httpx.Response:
    """``{"success": false, "processId", "reasons": [{"code", "message"}]}``."""
    reason = {"code": code, "message": message}
    body = {"success": False, "processId": uuid.uuid4().hex[:16], "reasons": [reason]}
    return json_response(status, body)


def _int(value: str | None, default: int, maximum: int) -> int:
    """A page size from the query: 1..maximum, else a 400 refusal."""
    try:
        number = int(value) if value is not None else default
    except ValueError:
        number = 0
    if not 1 <= number <= maximum:
        raise Refusal(f"pageSize must be between 1 and {maximum}", 50000090, 400)
    return number


def _page(req: SandboxRequest, rows: list[dict[str, Any]], key: str) -> httpx.Response:
    """One page of a /v1 list with ``nextPage`` (a path under the API root) when more."""
    size = _int(req.query.get("pageSize"), 20, 40)
    page = _int(req.query.get("page"), 1, 10**6)
    body: dict[str, Any] = {key: rows[(page - 1) * size : page * size], "success": True}
    if page * size < len(rows):
        body["nextPage"] = f"{req.path}?page={page + 1}&pageSize={size}"
    return json_response(200, body)
