"""What the Salesforce connector reads: the fields it asks for and the typed results.

The results keep the records exactly as Salesforce answered them (``attributes``
included), so pages can show them raw and validation can read any field.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = [
    "ACCOUNT_FIELDS",
    "LINE_ITEM_FIELDS",
    "OPPORTUNITY_FIELDS",
    "PRICEBOOK_ENTRY_FIELDS",
    "PRODUCT_FIELDS",
    "AccountHierarchy",
    "OpportunityDetail",
    "Record",
]

Record = dict[str, Any]

OPPORTUNITY_FIELDS = (
    "Id", "Name", "AccountId", "Type", "StageName", "CloseDate", "Amount", "CurrencyIsoCode",
    "Probability", "SyncedQuoteId", "ERP_Order_Number__c", "Subscription_Number__c",
    "Invoice_Number__c",
)  # fmt: skip
ACCOUNT_FIELDS = (
    "Id", "Name", "Type", "ParentId", "BillingStreet", "BillingCity", "BillingState",
    "BillingPostalCode", "BillingCountry", "CurrencyIsoCode", "ERP_Customer_Number__c",
)  # fmt: skip
LINE_ITEM_FIELDS = (
    "Id", "OpportunityId", "Product2Id", "PricebookEntryId", "ProductCode", "Quantity",
    "UnitPrice", "TotalPrice",
)  # fmt: skip
PRODUCT_FIELDS = ("Id", "Name", "ProductCode", "Family", "IsActive", "QuantityUnitOfMeasure")
PRICEBOOK_ENTRY_FIELDS = (
    "Id", "Pricebook2Id", "Product2Id", "ProductCode", "CurrencyIsoCode", "UnitPrice",
    "IsActive", "UseStandardPrice",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class OpportunityDetail:
    """An Opportunity with what order validation needs; the records as Salesforce sent them."""

    opportunity: Record
    account: Record | None
    line_items: list[Record]
    products: dict[str, Record]  # by Product2 Id
    pricebook_entries: dict[str, Record]  # by PricebookEntry Id

    @property
    def id(self) -> str:
        return str(self.opportunity["Id"])

    @property
    def stage_name(self) -> str | None:
        return self.opportunity.get("StageName")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AccountHierarchy:
    """An Account, its parents (nearest first, up ``ParentId``) and its direct children."""

    account: Record
    parents: list[Record]
    children: list[Record]

    @property
    def root(self) -> Record:
        """The top of the chain (the account itself when it has no parent)."""
        return self.parents[-1] if self.parents else self.account

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
