"""The simulated Salesforce REST API, from ``sample_data/master/salesforce.json``.

Serves, under ``/salesforce``:

- ``GET /services/data/vXX.X/query?q=SOQL`` (see :mod:`services.sandbox.soql`), paged
  by :attr:`SalesforceApp.page_size` with ``nextRecordsUrl``
  ``/services/data/vXX.X/query/01g...-200``, and ``GET .../query/{locator}``;
- ``GET .../sobjects/{Object}/{Id}`` (``?fields=A,B``) and ``PATCH`` of the same
  (204, the fields are stored; an unknown field is ``INVALID_FIELD``);
- ``GET .../limits``.

Errors are Salesforce's JSON list ``[{"message", "errorCode", "fields"}]``; a request
without a bearer token gets 401 ``INVALID_SESSION_ID``; the core's ``rate_limit``
fault answers 403 ``REQUEST_LIMIT_EXCEEDED``, as Salesforce does.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import httpx

from services.sandbox.core import Sandbox, SandboxRequest, SystemApp, json_response, register_app
from services.sandbox.soql import SoqlError, evaluate, parse

__all__ = ["SalesforceApp"]

_API = r"/services/data/v(?P<v>\d+\.\d+)"
_RECORD = _API + r"/sobjects/(?P<sobject>\w+)/(?P<id>\w+)"

# Fields the writebacks set that the master records do not carry yet.
_EXTRA_FIELDS: dict[str, tuple[str, ...]] = {
    "Opportunity": (
        "Integration_Status__c",
        "Integration_Detail__c",
        "ERP_Order_Number__c",
        "Subscription_Number__c",
        "Invoice_Number__c",
    ),
    "Account": ("ParentId", "Last_Payment_Number__c", "Last_Payment_Date__c"),
}
_NOT_UPDATABLE = frozenset({"id", "attributes", "createddate", "lastmodifieddate"})
_DAILY_API_REQUESTS = 100_000


@register_app
class SalesforceApp(SystemApp):
    """Salesforce's REST API over the master records (one collection per sObject)."""

    name = "salesforce"
    idempotency_header = None
    page_size: ClassVar[int] = 200

    def __init__(self, sandbox: Sandbox, master: dict[str, Any]) -> None:
        super().__init__(sandbox, master)
        self.columns: dict[str, list[str]] = {}
        self._index: dict[str, tuple[str, dict[str, Any]]] = {}
        for sobject, result in self.data.items():
            records: list[dict[str, Any]] = result.get("records", [])
            names = dict.fromkeys(k for r in records for k in r if k != "attributes")
            names.update(dict.fromkeys(_EXTRA_FIELDS.get(sobject, ())))
            self.columns[sobject] = list(names)
            for record in records:
                self._index[str(record["Id"])[:15]] = (sobject, record)
        self._cursors: dict[str, list[dict[str, Any]]] = {}
        self._cursor_ids = itertools.count(1)
        self.route("GET", _API + r"/query", self._query)
        self.route("GET", _API + r"/query/(?P<locator>01g\w+)-(?P<offset>\d+)", self._query_more)
        self.route("GET", _RECORD, self._get)
        self.route("PATCH", _RECORD, self._patch)
        self.route("GET", _API + r"/limits", self._limits)

    # -- shape -------------------------------------------------------------------------

    def error(self, status: int, code: str, message: str) -> httpx.Response:
        """Salesforce's error list; the core's 429 becomes 403 REQUEST_LIMIT_EXCEEDED."""
        if status == 429:
            status, code, message = 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."
        return _errors(status, code, message)

    def records(self) -> dict[str, Any]:
        """A count per sObject and the ids of records changed here (none are created)."""
        counts = {name: len(r.get("records", [])) for name, r in self.data.items()}
        return {"counts": counts, "created": {}, "updated": self.created}

    def dispatch(self, req: SandboxRequest) -> httpx.Response:
        """Refuse a request without a bearer token, as Salesforce does."""
        auth = req.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return _errors(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return super().dispatch(req)

    # -- handlers ------------------------------------------------------------------------

    def _query(self, req: SandboxRequest) -> httpx.Response:
        soql = req.query.get("q", "")
        try:
            query = parse(soql)
            sobject = self._sobject_named(query.sobject)
            if sobject is None:
                raise SoqlError("INVALID_TYPE", f"sObject type '{query.sobject}' is not supported.")
            rows = evaluate(query, self.data[sobject]["records"], self.columns[sobject])
        except SoqlError as exc:
            return _errors(400, exc.code, exc.message)
        locator = f"01g{next(self._cursor_ids):015d}"
        self._cursors[locator] = rows
        return self._page(req.group("v"), locator, 0)

    def _query_more(self, req: SandboxRequest) -> httpx.Response:
        locator = req.group("locator")
        if locator not in self._cursors:
            return _errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(req.group("v"), locator, int(req.group("offset")))

    def _page(self, version: str, locator: str, offset: int) -> httpx.Response:
        rows = self._cursors[locator]
        end = offset + self.page_size
        body: dict[str, Any] = {
            "totalSize": len(rows),
            "done": end >= len(rows),
            "records": rows[offset:end],
        }
        if end < len(rows):
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        else:
            self._cursors.pop(locator, None)
        return json_response(200, body)

    def _get(self, req: SandboxRequest) -> httpx.Response:
        found = self._record(req)
        if isinstance(found, httpx.Response):
            return found
        sobject, record = found
        wanted = [f for f in req.query.get("fields", "").split(",") if f.strip()]
        canonical = {c.lower(): c for c in self.columns[sobject]}
        unknown = [f for f in wanted if f.strip().lower() not in canonical]
        if unknown:
            return _errors(
                400, "INVALID_FIELD", f"No such column '{unknown[0]}' on entity '{sobject}'"
            )
        names = [canonical[f.strip().lower()] for f in wanted] or self.columns[sobject]
        body = {"attributes": record["attributes"], "Id": record["Id"]}
        body.update({name: record.get(name) for name in names})
        return json_response(200, body)

    def _patch(self, req: SandboxRequest) -> httpx.Response:
        found = self._record(req)
        if isinstance(found, httpx.Response):
            return found
        sobject, record = found
        if not isinstance(req.body, dict) or not req.body:
            return _errors(400, "JSON_PARSER_ERROR", "send a JSON object of fields to update")
        canonical = {c.lower(): c for c in self.columns[sobject]}
        for name in req.body:
            if name.lower() in _NOT_UPDATABLE:
                return _errors(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {name}.",
                    [name],
                )
            if name.lower() not in canonical:
                return _errors(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name}' on sobject of type {sobject}",
                    [name],
                )
        for name, value in req.body.items():
            record[canonical[name.lower()]] = value
        if record["Id"] not in self.created.get(sobject, []):
            self.remember(sobject, record["Id"])
        return json_response(204)

    def _limits(self, req: SandboxRequest) -> httpx.Response:
        used = sum(1 for _ in self.sandbox.requests_to(self.name))
        return json_response(
            200,
            {
                "DailyApiRequests": {
                    "Max": _DAILY_API_REQUESTS,
                    "Remaining": max(0, _DAILY_API_REQUESTS - used),
                },
                "DataStorageMB": {"Max": 5120, "Remaining": 5000},
            },
        )

    # -- helpers ---------------------------------------------------------------------

    def _sobject_named(self, name: str) -> str | None:
        """The sObject's canonical name, case-insensitively."""
        return next((s for s in self.data if s.lower() == name.lower()), None)

    def _record(self, req: SandboxRequest) -> tuple[str, dict[str, Any]] | httpx.Response:
        """The addressed record, or Salesforce's 404."""
        sobject = self._sobject_named(req.group("sobject"))
        record_id = req.group("id")
        found = self._index.get(record_id[:15]) if len(record_id) in (15, 18) else None
        if sobject is None or found is None or found[0] != sobject:
            return _errors(404, "NOT_FOUND", "The requested resource does not exist")
        return found


def _errors(
    status: int, code: str, message: str, fields: list[str] | None = None
) -> httpx.Response:
    """Salesforce's error body: a JSON list of ``{message, errorCode, fields}``."""
    return json_response(status, [{"message": message, "errorCode": code, "fields": fields or []}])
