"""The Salesforce connector: simple-salesforce behind the console's connector contract.

:class:`SalesforceConnector` reads opportunities (with account, line items,
products and price book entries), account hierarchies and closed-won
opportunities with SOQL, and writes integration status and the middleware's
writebacks with PATCH. Every id is checked against Salesforce's id shape before
anything is sent, and every other value placed in SOQL is escaped with
simple-salesforce's ``format_soql``, so SOQL injection cannot happen.

:func:`build` (``@register_connector("salesforce")``) makes it from settings: the
live org with ``Q2C_SALESFORCE_AUTH`` credentials, or the sandbox (in-process, at
``Q2C_SANDBOX_URL``, or a test transport) through a ``requests`` adapter.

Example:
    >>> sf = build_connector("salesforce", load_settings(), BuildEnv(sandbox=sandbox))
    >>> sf.get_opportunity("0065g00000ZPDfnAAH").line_items[0]["ProductCode"]
    'PLAT-ANNUAL'
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import requests
from pydantic import SecretStr
from simple_salesforce import Salesforce, SFType
from simple_salesforce.format import format_soql

from services.errors import RecordNotFound, RejectedError, SettingsError
from services.settings import Settings
from services.systems.registry import BuildEnv, register_connector, retry_policy
from services.systems.salesforce_adapter import (
    SANDBOX_INSTANCE,
    TimeoutAdapter,
    sandbox_session,
)
from services.systems.salesforce_auth import (
    SalesforceCredentials,
    SessionId,
    credentials_from_settings,
)
from services.systems.salesforce_client import FIELD_SHAPE, SalesforceClient
from services.systems.salesforce_models import (
    ACCOUNT_FIELDS,
    LINE_ITEM_FIELDS,
    OPPORTUNITY_FIELDS,
    PRICEBOOK_ENTRY_FIELDS,
    PRODUCT_FIELDS,
    AccountHierarchy,
    OpportunityDetail,
    Record,
)

__all__ = ["AccountHierarchy", "OpportunityDetail", "SalesforceConnector", "build"]

SANDBOX_SESSION_ID = "00D000000000SBX!sandbox-session"
_MAX_PARENTS = 10  # Salesforce account hierarchies are shallow; this stops a cycle too
_IN_CHUNK = 200


class SalesforceConnector(SalesforceClient):
    """Salesforce's operations for the console (arguments: :class:`SalesforceClient`).

    Example:
        >>> sf = SalesforceConnector.from_session(instance_url, session_id)
        >>> sf.write_status("0065g00000ZPDfnAAH", "Error", "ERP refused the order")
    """

    # -- reads -------------------------------------------------------------------------

    def get_opportunity(self, opportunity_id: str) -> OpportunityDetail:
        """The Opportunity with its Account, line items, products and price book entries.

        Args:
            opportunity_id: a 15- or 18-character Opportunity id.

        Returns:
            The records, as Salesforce answered them (line items follow query paging).

        Raises:
            RejectedError: not an id (nothing sent). RecordNotFound: no such Opportunity.

        Example:
            >>> sf.get_opportunity("0065g00000ZPDfnAAH").account["Name"]
        """
        op = "get_opportunity"
        opp_id = self.check_id(op, opportunity_id)
        fields = dict.fromkeys([*OPPORTUNITY_FIELDS, self.status_field, self.detail_field])
        # Two round trips instead of five: the Opportunity and its lines together, then
        # the Account, products and price book entries together.
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="q2c-sf") as pool:
            opp_future = pool.submit(self._one, op, "Opportunity", list(fields), opp_id)
            items_future = pool.submit(
                self._query,
                op,
                "SELECT {:literal} FROM OpportunityLineItem WHERE OpportunityId = {} ORDER BY Id",
                ", ".join(LINE_ITEM_FIELDS),
                opp_id,
            )
            opportunity = opp_future.result()
            items = items_future.result()
            account_id = opportunity.get("AccountId")
            product_ids = {i["Product2Id"] for i in items if i.get("Product2Id")}
            entry_ids = {i["PricebookEntryId"] for i in items if i.get("PricebookEntryId")}
            account_f = (
                pool.submit(self._find, op, "Account", ACCOUNT_FIELDS, [account_id])
                if account_id
                else None
            )
            products_f = pool.submit(self._find, op, "Product2", PRODUCT_FIELDS, product_ids)
            entries_f = pool.submit(
                self._find, op, "PricebookEntry", PRICEBOOK_ENTRY_FIELDS, entry_ids
            )
            account = account_f.result() if account_f is not None else []
            products = products_f.result()
            entries = entries_f.result()
        return OpportunityDetail(
            opportunity=opportunity,
            account=account[0] if account else None,
            line_items=items,
            products={p["Id"]: p for p in products},
            pricebook_entries={e["Id"]: e for e in entries},
        )

    def get_account_hierarchy(self, account_id: str) -> AccountHierarchy:
        """The Account, its parents up the ``ParentId`` chain, and its direct children.

        Example:
            >>> [a["Name"] for a in sf.get_account_hierarchy("0015g00000L8584AAB").parents]
        """
        op = "get_account_hierarchy"
        account = self._one(op, "Account", ACCOUNT_FIELDS, self.check_id(op, account_id))
        parents: list[Record] = []
        seen = {str(account["Id"])[:15]}
        parent_id = account.get("ParentId")
        while parent_id and str(parent_id)[:15] not in seen and len(parents) < _MAX_PARENTS:
            parent = self._one(op, "Account", ACCOUNT_FIELDS, self.check_id(op, parent_id))
            parents.append(parent)
            seen.add(str(parent_id)[:15])
            parent_id = parent.get("ParentId")
        children = self._query(
            op,
            "SELECT {:literal} FROM Account WHERE ParentId = {} ORDER BY Name",
            ", ".join(ACCOUNT_FIELDS),
            account["Id"],
        )
        return AccountHierarchy(account=account, parents=parents, children=children)

    def get_opportunity_fields(self, opportunity_id: str, fields: Iterable[str]) -> Record:
        """The current values of ``fields`` on the Opportunity (a writeback's target check).

        Example:
            >>> sf.get_opportunity_fields(opp_id, ["Integration_Status__c"])
            {'Integration_Status__c': 'Synced'}
        """
        op = "get_opportunity_fields"
        opp_id = self.check_id(op, opportunity_id)
        names = self.check_fields(op, fields)
        if not names:
            raise RejectedError(system=self.system, operation=op, message="no fields asked for")
        record = self.run(
            op,
            lambda sf: _sobject(sf, "Opportunity").get(opp_id, params={"fields": ",".join(names)}),
        )
        by_name = {str(k).lower(): v for k, v in record.items()}
        return {name: by_name.get(name.lower()) for name in names}

    def find_opportunity_id(self, quote_id: str) -> str | None:
        """The Opportunity whose synced quote is ``quote_id`` (a Quote id), or None."""
        op = "find_opportunity_id"
        quote = self.check_id(op, quote_id)
        rows = self._query(op, "SELECT Id FROM Opportunity WHERE SyncedQuoteId = {} LIMIT 1", quote)
        return str(rows[0]["Id"]) if rows else None

    def list_closed_won(self, *, limit: int = 50) -> list[Record]:
        """Closed-won Opportunities, newest close date first (for the validation page).

        Example:
            >>> [o["Id"] for o in sf.list_closed_won(limit=5)]
        """
        op = "list_closed_won"
        if not 1 <= limit <= 2000:
            raise RejectedError(system=self.system, operation=op, message="limit must be 1-2000")
        return self._query(
            op,
            "SELECT {:literal} FROM Opportunity WHERE StageName = {} "
            "ORDER BY CloseDate DESC LIMIT {:literal}",
            ", ".join(OPPORTUNITY_FIELDS),
            "Closed Won",
            str(int(limit)),
        )

    # -- writes ------------------------------------------------------------------------

    def write_status(
        self,
        opportunity_id: str,
        status: str,
        detail: str = "",
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> Record:
        """Set the integration status and detail fields (and ``extra``) on the Opportunity.

        Returns:
            The fields sent. Repeating it is harmless (a PATCH of the same fields).

        Example:
            >>> sf.write_status(opp_id, "Error", "ERP refused the order", extra=None)
        """
        fields = {self.status_field: status, self.detail_field: detail, **(extra or {})}
        return self._patch("write_status", "Opportunity", opportunity_id, fields)

    def opportunity_writeback(self, opportunity_id: str, request: Mapping[str, Any]) -> Record:
        """PATCH the middleware's opportunity.writeback ``request`` (fields) on the Opportunity.

        Example:
            >>> sf.opportunity_writeback(opp_id, {"ERP_Order_Number__c": "SO-100002"})
        """
        return self._patch("opportunity_writeback", "Opportunity", opportunity_id, request)

    def account_writeback(self, account_id: str, request: Mapping[str, Any]) -> Record:
        """PATCH the middleware's account.writeback ``request`` (fields) on the Account.

        Example:
            >>> sf.account_writeback(acc_id, {"Last_Payment_Number__c": "P-1"})
        """
        return self._patch("account_writeback", "Account", account_id, request)

    # -- internals ---------------------------------------------------------------------

    def _query(self, operation: str, template: str, *values: Any) -> list[Record]:
        """All records of a SOQL query (``format_soql`` quotes values), following paging."""
        soql = format_soql(template, *values)
        result = self.run(operation, lambda sf: sf.query_all(soql))
        return [dict(r) for r in result["records"]]

    def _one(self, operation: str, sobject: str, fields: Iterable[str], record_id: str) -> Record:
        """One record by id, or RecordNotFound."""
        found = self._find(operation, sobject, fields, [record_id])
        if not found:
            raise RecordNotFound(
                system=self.system,
                operation=operation,
                code="NOT_FOUND",
                message=f"no {sobject} with id {record_id}",
            )
        return found[0]

    def _find(
        self, operation: str, sobject: str, fields: Iterable[str], ids: Iterable[str]
    ) -> list[Record]:
        """The records with these ids (checked), in chunks of ``_IN_CHUNK``."""
        wanted = sorted({self.check_id(operation, i) for i in ids})
        out: list[Record] = []
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            out += self._query(
                operation,
                "SELECT {:literal} FROM {:literal} WHERE Id IN {}",
                ", ".join(fields),
                sobject,
                chunk,
            )
        return out

    def _patch(
        self, operation: str, sobject: str, record_id: str, fields: Mapping[str, Any]
    ) -> Record:
        """PATCH ``fields`` on the record, after checking id, names and JSON."""
        checked_id = self.check_id(operation, record_id)
        body = dict(fields)
        self.check_fields(operation, body)
        try:
            json.dumps(body)
        except (TypeError, ValueError):
            body = {}
        if not body:
            raise RejectedError(
                system=self.system,
                operation=operation,
                message="send a non-empty JSON object of field names to values; nothing was sent",
            )
        self.run(operation, lambda sf: _sobject(sf, sobject).update(checked_id, body))
        return body


@register_connector("salesforce")
def build(settings: Settings, env: BuildEnv) -> SalesforceConnector:
    """The Salesforce connector for the configured mode.

    Args:
        settings: ``systems``, ``sandbox_url`` and the ``salesforce_*`` settings.
        env: the in-process sandbox, a test transport, and the clock.

    Returns:
        A connector; nothing is sent until its first call.

    Raises:
        SettingsError: a setting is missing or invalid (named, never shown).

    Example:
        >>> sf = build(load_settings(sandbox_url=server.url), BuildEnv())
    """
    for name in ("salesforce_status_field", "salesforce_detail_field"):
        if not FIELD_SHAPE.match(getattr(settings, name)):
            raise SettingsError(f"Q2C_{name.upper()}: not a Salesforce field API name")
    if not re.fullmatch(r"\d{2,3}\.\d", settings.salesforce_api_version):
        raise SettingsError("Q2C_SALESFORCE_API_VERSION: a REST API version such as 61.0")

    def make(
        credentials: SalesforceCredentials, session: requests.Session, url: str | None = None
    ) -> SalesforceConnector:
        return SalesforceConnector(
            credentials,
            session=session,
            api_version=settings.salesforce_api_version,
            retry=retry_policy(settings),
            sleep=env.sleep,
            now=env.now,
            status_field=settings.salesforce_status_field,
            detail_field=settings.salesforce_detail_field,
            sandbox_url=url,
        )

    if settings.systems == "live" and env.transport is None:
        session = requests.Session()
        session.mount("https://", TimeoutAdapter(settings.http_timeout_seconds))
        return make(credentials_from_settings(settings), session)
    session, target = sandbox_session(settings, env)
    fixed = SessionId(SANDBOX_INSTANCE, SecretStr(SANDBOX_SESSION_ID), setting="the sandbox")
    return make(fixed, session, target)


def _sobject(sf: Salesforce, name: str) -> SFType:
    """simple-salesforce's handle on one sObject type (``sf.Opportunity``)."""
    return cast(SFType, getattr(sf, name))
