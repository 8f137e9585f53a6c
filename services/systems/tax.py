"""The tax engine connector, shaped like Avalara AvaTax REST v2 (API root ``/api/v2``).

Reads (ping, address resolution, tax codes, nexus, certificates, transactions)
and one write: :meth:`TaxConnector.calculate` (``POST /transactions/create``).

Idempotency: AvaTax has no idempotency header; a transaction's ``code`` is its
natural key. A committed document's code is reserved, so creating it again
answers ``DocumentCodeConflict``. ``calculate(..., idempotency_key=...)`` is
therefore safe to retry:

1. with a key, the POST may be retried after a timeout or a 5xx (the base class
   retries only POSTs that carry a key); the key is also sent as
   ``X-Q2C-Idempotency-Key``, which AvaTax ignores and the sandbox honours;
2. if the first attempt did reach AvaTax, the retry meets ``DocumentCodeConflict``:
   the connector then reads the transaction by code and, when it matches the
   request (customer, date, type, lines), returns it with ``replayed=True``
   instead of an error; otherwise the ConflictError stands.

A committed calculation needs a ``code`` for this reason. ``commit=False`` with
``type`` ``SalesOrder`` is a pure quote (``Temporary``, never stored).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from services.errors import ConflictError
from services.settings import Settings
from services.systems.auth import Auth, BasicAuth
from services.systems.registry import BuildEnv, http_client, register_connector, require
from services.systems.registry import retry_policy as _retry_policy
from services.systems.tax_models import TaxResult, money
from services.systems.tax_reads import TaxReads
from services.systems.tax_wire import API_ROOT, json_object, rejected

__all__ = ["TaxConnector", "build", "transaction_model"]

_OPTIONAL_FIELDS = ("code", "currencyCode", "addresses", "exemptionNo", "entityUseCode")
_LINE_FIELDS = ("taxCode", "quantity", "itemCode", "description")


class TaxConnector(TaxReads):
    """AvaTax REST v2 behind the console's connector contract: the reads and ``calculate``.

    Args:
        client: an ``httpx.Client`` whose base URL is the API root (``.../api/v2``).
        company_code: the default company (``Q2C_TAX_COMPANY_CODE``) when a call names none.
        auth, retry, sleep, now: as for :class:`~services.systems.http.HttpConnector`.

    Example:
        >>> tax = build_connector("tax", load_settings(), BuildEnv(sandbox=sandbox))
        >>> tax.calculate({"companyCode": "GB01", "code": "SO-1", ...}).total_tax
        Decimal('27823.80')
    """

    def create_model(self, request: Mapping[str, Any], *, commit: bool = False) -> dict[str, Any]:
        """The CreateTransactionModel sent for a ``tax.calculate`` request (no call made).

        Raises:
            RejectedError: no lines, an amount that is not a number, or no company code
                (in the request or ``Q2C_TAX_COMPANY_CODE``).
        """
        return transaction_model(request, commit=commit, default_company=self.company_code)

    def calculate(
        self,
        request: Mapping[str, Any],
        *,
        commit: bool = False,
        idempotency_key: str | None = None,
    ) -> TaxResult:
        """Calculate tax for a ``tax.calculate`` request (``POST /transactions/create``).

        Args:
            request: ``{"companyCode","type","code","customerCode","date","currencyCode",
                "lines":[{"number","amount","taxCode"}]}`` (``addresses`` optional).
            commit: False: a quote (a dry run for ``SalesOrder``); True: record and commit.
            idempotency_key: makes the call safe to retry (see the module docstring).

        Returns:
            The totals and lines; ``replayed`` True when an identical committed
            transaction with this code already existed.

        Example:
            >>> tax.calculate(request, commit=True, idempotency_key="o2c-1:tax.calculate")
        """
        model = self.create_model(request, commit=commit)
        if commit and not model.get("code"):
            raise rejected("calculate", "a committed transaction needs a code", target="code")
        try:
            raw = self._json(
                "calculate", "POST", "/transactions/create", json=model, key=idempotency_key
            )
        except ConflictError as exc:
            if idempotency_key is None or exc.code != "DocumentCodeConflict":
                raise
            existing = self.get_transaction(code=model["code"], company_code=model["companyCode"])
            if existing is None or not matches(existing, model):
                raise
            return existing.model_copy(update={"replayed": True})
        return TaxResult.from_avatax(json_object(raw, "calculate"))


def transaction_model(
    request: Mapping[str, Any], *, commit: bool, default_company: str | None
) -> dict[str, Any]:
    """The CreateTransactionModel for a ``tax.calculate`` request.

    Raises:
        RejectedError: no lines, an amount that is not a number, or no company code.

    Example:
        >>> transaction_model({"companyCode": "US01", "lines": [{"amount": "10"}]},
        ...                   commit=False, default_company=None)["lines"]
        [{'number': '1', 'amount': 10.0}]
    """
    company = request.get("companyCode") or default_company
    if not company:
        raise rejected("calculate", "the request has no companyCode and no default is set")
    lines = request.get("lines")
    if not isinstance(lines, list) or not lines:
        raise rejected("calculate", "the request has no lines", code="MissingLine")
    model: dict[str, Any] = {
        "type": request.get("type") or "SalesOrder",
        "companyCode": company,
        "date": request.get("date"),
        "customerCode": request.get("customerCode"),
        "commit": commit,
    }
    model.update({k: request[k] for k in _OPTIONAL_FIELDS if request.get(k) is not None})
    model["lines"] = [_line(i, line) for i, line in enumerate(lines, start=1)]
    return model


def _amount(value: Any, where: str) -> float:
    """A request amount (string or number) as the JSON number AvaTax expects."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        number = Decimal("NaN")
    if not number.is_finite():
        raise rejected("calculate", f"{where}: amount {value!r} is not a number")
    return float(number)


def _line(index: int, line: Any) -> dict[str, Any]:
    """One request line as a LineItemModel."""
    if not isinstance(line, Mapping):
        raise rejected("calculate", f"line {index} is not an object")
    out: dict[str, Any] = {
        "number": str(line.get("number") or index),
        "amount": _amount(line.get("amount"), f"line {index}"),
    }
    out.update({k: line[k] for k in _LINE_FIELDS if line.get(k) is not None})
    return out


def matches(existing: TaxResult, model: Mapping[str, Any]) -> bool:
    """True when a stored transaction is the one ``model`` asks for (customer, date, lines)."""
    wanted = {
        (str(x["number"]), money(x["amount"]), x.get("taxCode") or "") for x in model["lines"]
    }
    stored = {(x.number, x.amount, x.tax_code or "") for x in existing.lines}
    return (
        existing.customer_code == (model.get("customerCode") or "")
        and str(existing.doc_date or "") == str(model.get("date") or "")[:10]
        and existing.type in ("", model.get("type"))
        and wanted == stored
    )


@register_connector("tax")
def build(settings: Settings, env: BuildEnv) -> TaxConnector:
    """The tax connector for the configured mode (sandbox or live AvaTax).

    Raises:
        SettingsError: live mode without ``Q2C_TAX_BASE_URL``, ``Q2C_TAX_ACCOUNT_ID`` or
            ``Q2C_TAX_LICENSE_KEY`` (the key itself is never shown).

    Example:
        >>> tax = build(load_settings(sandbox_url=server.url), BuildEnv())
    """
    auth: Auth | None = None
    base_url: str | None = None
    if settings.systems == "live":
        base_url = require(
            settings, "tax_base_url", "the AvaTax host, e.g. https://rest.avatax.com"
        )
        account = require(settings, "tax_account_id", "the AvaTax account id (basic auth user)")
        key = require(settings, "tax_license_key", "the AvaTax license key (basic auth password)")
        auth = BasicAuth(str(account), key, setting="Q2C_TAX_LICENSE_KEY")
    client = http_client(settings, "tax", env, api_root=API_ROOT, live_base_url=base_url)
    return TaxConnector(
        client,
        company_code=settings.tax_company_code,
        auth=auth,
        retry=_retry_policy(settings),
        sleep=env.sleep,
        now=env.now,
    )
