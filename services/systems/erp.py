"""The ERP connector: NetSuite's REST record API (``/services/rest/record/v1``).

Reads customers, subsidiaries, items, accounting periods, sales orders, invoices and
payments; writes the middleware's replayable ERP steps (customer.upsert,
salesorder.create, invoice.post, payment.post) with an idempotency key. Records are
returned as NetSuite JSON dicts. Collections are followed page by page
(``limit``/``offset`` until ``hasMore`` is false); a create answers ``204`` with a
``Location`` header naming the new record.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from services.settings import Settings
from services.systems.auth import Auth, NoAuth, OAuth2ClientCredentials
from services.systems.erp_records import (
    API_ROOT,
    TOKEN_PATH,
    NetSuiteRecordApi,
    Record,
    customer_body,
    id_from_location,
    invoice_body,
    normalise_name,
    payment_body,
    q_is,
    sales_order_body,
)
from services.systems.registry import (
    BuildEnv,
    http_client,
    register_connector,
    require,
    retry_policy,
)

__all__ = ["ErpConnector", "build"]


class ErpConnector(NetSuiteRecordApi):
    """NetSuite-shaped ERP: the system of record for customers and financial postings.

    Example:
        >>> erp = build_connector("erp", load_settings(), BuildEnv(sandbox=sandbox))
        >>> erp.find_sales_order(tran_id="SO-100002")["status"]
        'Billed'
    """

    system: ClassVar[str] = "erp"
    idempotency_header: ClassVar[str] = "X-NetSuite-Idempotency-Key"
    # NetSuite splits items by type (nonInventorySaleItem, serviceSaleItem ...); one
    # record type is read here, overridable for an account that needs another.
    item_record: ClassVar[str] = "item"

    def ping(self) -> None:
        """The cheapest authenticated read (one subsidiary); raises ConnectorError."""
        self._get("ping", "/subsidiary", params={"limit": 1})

    # -- customers --------------------------------------------------------------------

    def get_customer(self, customer_id: str) -> Record:
        """The customer with internal id ``customer_id`` (RecordNotFound when absent)."""
        return self._record("get_customer", "customer", customer_id)

    def find_customer(
        self, *, external_id: str | None = None, entity_id: str | None = None
    ) -> Record | None:
        """The customer with this externalId (Salesforce account id) or entityId, or None.

        Example:
            >>> erp.find_customer(external_id="0015g00000L84wjAAB")["creditHold"]
            'OFF'
        """
        if external_id:
            return self._first("find_customer", "customer", q_is("externalId", external_id))
        if entity_id:
            return self._first("find_customer", "customer", q_is("entityId", entity_id))
        raise ValueError("find_customer needs external_id or entity_id")

    def find_customers(
        self, *, tax_id: str | None = None, name: str | None = None, country: str | None = None
    ) -> list[Record]:
        """Probable duplicates: the same taxId, or the same normalised company name
        (within ``country``, the subsidiary's country, when given).

        Example:
            >>> [c["entityId"] for c in erp.find_customers(name="Quill Mobility Corp")]
            ['C-1014']
        """
        op = "find_customers"
        found: dict[str, Record] = {}
        if tax_id:
            for rid in self._ids(op, "customer", q_is("taxId", tax_id)):
                found[rid] = self._record(op, "customer", rid)
        wanted = normalise_name(name or "")
        if wanted:
            countries = {s["id"]: s.get("country") for s in self.list_subsidiaries()}
            query = f'companyName CONTAIN "{wanted.split()[0]}"'
            for rid in self._ids(op, "customer", query):
                record = found.get(rid) or self._record(op, "customer", rid)
                if normalise_name(str(record.get("companyName") or "")) != wanted:
                    continue
                sub = str((record.get("subsidiary") or {}).get("id") or "")
                if country and countries.get(sub) != country:
                    continue
                found[rid] = record
        return [found[k] for k in sorted(found)]

    def upsert_customer(self, request: Record, *, idempotency_key: str) -> Record:
        """customer.upsert: ``PUT /customer/eid:{externalId}``; returns ``{id, entityId}``."""
        op = "upsert_customer"
        external_id = str(request.get("externalId") or "")
        if not external_id:
            raise self._refused(op, "USER_ERROR", "customer.upsert needs an externalId")
        sub = request.get("subsidiary")
        sub_ref = (sub.get("id") or sub.get("name")) if isinstance(sub, dict) else sub
        body = customer_body(request, subsidiary_id=self._subsidiary_id(op, sub_ref))
        path = f"/customer/eid:{external_id}"
        response = self.call(op, "PUT", path, json=body, idempotency_key=idempotency_key)
        rid = id_from_location(response.headers.get("Location"))
        record = self._record(op, "customer", rid or f"eid:{external_id}")
        return {"id": str(record.get("id")), "entityId": record.get("entityId")}

    # -- reference data -----------------------------------------------------------------

    def list_subsidiaries(self) -> list[Record]:
        """Every subsidiary (legal entity) with its currency and allowed currencies."""
        return self._all("list_subsidiaries", "subsidiary")

    def get_subsidiary(self, name_or_id: str) -> Record | None:
        """The subsidiary with this internal id or name (``US01``), or None."""
        key = str(name_or_id).strip().lower()
        for sub in self.list_subsidiaries():
            if key in (str(sub.get("id")).lower(), str(sub.get("name", "")).lower()):
                return sub
        return None

    def list_items(self) -> list[Record]:
        """Every item (isInactive, revRecRule and taxCode included)."""
        return self._all("list_items", self.item_record)

    def get_item(self, item_code: str) -> Record | None:
        """The item whose itemId is ``item_code`` (``PLAT-ANNUAL``), or None."""
        return self._first("get_item", self.item_record, q_is("itemId", item_code))

    def list_periods(self) -> list[Record]:
        """Every accounting period with its dates and ``closed`` flag."""
        return self._all("list_periods", "accountingPeriod")

    def period_for(self, day: date | str) -> Record | None:
        """The month period holding ``day`` (look at its ``closed`` flag), or None."""
        iso = day.isoformat() if isinstance(day, date) else str(day)[:10]
        for period in self.list_periods():
            if period.get("isQuarter") or period.get("isYear"):
                continue
            if str(period.get("startDate")) <= iso <= str(period.get("endDate")):
                return period
        return None

    # -- sales orders, invoices, payments ---------------------------------------------

    def find_sales_order(
        self, *, external_id: str | None = None, tran_id: str | None = None
    ) -> Record | None:
        """The sales order with this externalId (opportunity id) or tranId (SO-...), or None."""
        return self._find_tran("find_sales_order", "salesOrder", external_id, tran_id)

    def create_sales_order(self, request: Record, *, idempotency_key: str) -> Record:
        """salesorder.create: resolve customer, subsidiary and items, POST, read back.

        Args:
            request: ``{"externalId","customer","subsidiary","currency","tranDate",
                "lines":[{"item","qty","rate"}]}`` (customer is the entityId, C-...).
            idempotency_key: sent as ``X-NetSuite-Idempotency-Key``; a retry or replay
                with the same key gets the first answer, never a second order.

        Returns:
            ``{"id", "tranId"}`` of the created order.

        Example:
            >>> erp.create_sales_order(request, idempotency_key="o2c-a84a5e:salesorder.create")
            {'id': '51778', 'tranId': 'SO-100778'}
        """
        op = "create_sales_order"
        entity = self._required_id(op, "customer", "entityId", request.get("customer"))
        item_ids: dict[str, str] = {}
        for line in request.get("lines") or []:
            code = str(line.get("item"))
            if code not in item_ids:
                item = self.get_item(code)
                if item is None:
                    raise self._refused(op, "USER_ERROR", f"Invalid item reference {code!r}")
                item_ids[code] = str(item["id"])
        body = sales_order_body(
            request,
            entity_id=entity,
            subsidiary_id=self._subsidiary_id(op, request.get("subsidiary")),
            item_ids=item_ids,
        )
        return self._create(op, "salesOrder", body, idempotency_key)

    def find_invoice(
        self, *, tran_id: str | None = None, external_id: str | None = None
    ) -> Record | None:
        """The invoice with this tranId or externalId (INV-...), or None."""
        return self._find_tran("find_invoice", "invoice", external_id, tran_id)

    def post_invoice(self, request: Record, *, idempotency_key: str) -> Record:
        """invoice.post; a posting period that is closed is refused (PERIOD_CLOSED).

        Args:
            request: ``{"externalId","customer","createdFrom","tranDate","postingPeriod",
                "total"}`` (createdFrom: the SO tranId or null).
            idempotency_key: the step's idempotency key.

        Returns:
            ``{"id", "tranId"}`` of the posted invoice.

        Example:
            >>> erp.post_invoice(request, idempotency_key="o2c-a84a5e:invoice.post")["tranId"]
            'INV-201023'
        """
        op = "post_invoice"
        entity = self._required_id(op, "customer", "entityId", request.get("customer"))
        order = request.get("createdFrom")
        order_id = self._required_id(op, "salesOrder", "tranId", order) if order else None
        period = request.get("postingPeriod")
        period_id = (
            self._required_id(op, "accountingPeriod", "periodName", period) if period else None
        )
        body = invoice_body(request, entity_id=entity, order_id=order_id, period_id=period_id)
        return self._create(op, "invoice", body, idempotency_key)

    def find_payment(
        self, *, external_id: str | None = None, tran_id: str | None = None
    ) -> Record | None:
        """The customer payment with this externalId or tranId (P-...), or None."""
        return self._find_tran("find_payment", "customerPayment", external_id, tran_id)

    def post_payment(self, request: Record, *, idempotency_key: str) -> Record:
        """payment.post: a customerPayment applied to invoices; returns ``{id, tranId}``.

        Example:
            >>> erp.post_payment(request, idempotency_key="o2c-d74c89:payment.post")["id"]
            '72109'
        """
        op = "post_payment"
        entity = self._required_id(op, "customer", "entityId", request.get("customer"))
        docs = {
            str(a["doc"]): self._required_id(op, "invoice", "tranId", a["doc"])
            for a in request.get("apply") or []
        }
        body = payment_body(request, entity_id=entity, doc_ids=docs)
        return self._create(op, "customerPayment", body, idempotency_key)

    # -- internals ----------------------------------------------------------------------

    def _subsidiary_id(self, op: str, name_or_id: Any) -> str | None:
        """The internal id of a subsidiary named or numbered ``name_or_id`` (None: not given)."""
        if not name_or_id:
            return None
        sub = self.get_subsidiary(str(name_or_id))
        if sub is None:
            raise self._refused(op, "INVALID_KEY_OR_REF", f"no ERP subsidiary {name_or_id!r}")
        return str(sub["id"])


@register_connector("erp")
def build(settings: Settings, env: BuildEnv) -> ErpConnector:
    """The ERP connector for the configured mode (live: OAuth2 client credentials).

    Raises:
        SettingsError: live mode without ``Q2C_ERP_BASE_URL``, ``Q2C_ERP_CLIENT_ID``
            or ``Q2C_ERP_CLIENT_SECRET`` (named; the secret is never shown).

    Example:
        >>> erp = build(load_settings(sandbox_url=server.url), BuildEnv())
    """
    auth: Auth = NoAuth()
    live_url: str | None = None
    if settings.systems == "live":
        why = "the ERP connector needs it in live mode"
        live_url = str(require(settings, "erp_base_url", why)).rstrip("/")
        client_id = str(require(settings, "erp_client_id", why))
        secret = require(settings, "erp_client_secret", why)
        auth = OAuth2ClientCredentials(
            settings.erp_token_url or live_url + TOKEN_PATH,
            client_id,
            secret,
            setting="Q2C_ERP_",
        )
    client = http_client(settings, "erp", env, api_root=API_ROOT, live_base_url=live_url)
    return ErpConnector(
        client, auth=auth, retry=retry_policy(settings), sleep=env.sleep, now=env.now
    )
