"""The sample data generator: deterministic, contract-valid, every flow and failure mode."""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.contract import parse_event
from services.errors import ContractError
from services.seed import END, SeedSummary, generate

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "sample_data"
SMALL = 120
FLOWS = {
    "order_activation": [
        "opportunity.closed_won",
        "order.validate",
        "customer.upsert",
        "subscription.create",
        "salesorder.create",
        "tax.calculate",
        "invoice.create",
        "invoice.post",
        "opportunity.writeback",
    ],
    "amendment": [
        "amendment.submitted",
        "subscription.amend",
        "tax.calculate",
        "invoice.create",
        "invoice.post",
        "opportunity.writeback",
    ],
    "renewal": [
        "renewal.closed_won",
        "subscription.renew",
        "salesorder.create",
        "opportunity.writeback",
    ],
    "usage_trueup": ["usage.aggregate", "tax.calculate", "invoice.create", "invoice.post"],
    "payment": ["payment.apply", "payment.post", "account.writeback"],
}
FAILURE_CODES = {
    "SERVICE_UNAVAILABLE",
    "PERIOD_CLOSED",
    "INVALID_ITEM",
    "CURRENCY_MISMATCH",
    "SUBSCRIPTION_VERSION_CONFLICT",
    "REQUEST_LIMIT_EXCEEDED",
    "VALIDATION_FAILED",
}
TX_KEYS = {"opportunity_id", "quote_id", "order_number", "invoice_number", "credit_memo_number"}
LIFECYCLE_KEYS = {"account_id", "customer_id", "subscription_id", "contract_id", "payment_id"}
TYPES = {"com.q2c.step.started", "com.q2c.step.succeeded", "com.q2c.step.failed"}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
CURRENCY_OF = {"US01": "USD", "DE01": "EUR", "GB01": "GBP", "CA01": "CAD", "AU01": "AUD"}


def _read(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _events(folder: Path) -> tuple[list[str], list[dict[str, Any]]]:
    lines = (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return lines, [json.loads(line) for line in lines]


def _when(ev: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(ev["time"].replace("Z", "+00:00"))


def _cid_of(events: list[dict[str, Any]]) -> list[str]:
    """Each event's transaction: its correlationid, else via its transaction keys."""
    by_key: dict[tuple[str, str], str] = {}
    for ev in events:
        if "correlationid" in ev:
            for name, value in ev["data"]["keys"].items():
                if name in TX_KEYS:
                    by_key[(name, value)] = ev["correlationid"]
    out = []
    for ev in events:
        cid = ev.get("correlationid")
        for _ in range(3):  # follow transitive links through other ERP-native events
            if cid:
                break
            for name, value in ev["data"]["keys"].items():
                cid = cid or by_key.get((name, value))
            if cid:
                for name, value in ev["data"]["keys"].items():
                    by_key.setdefault((name, value), cid)
        out.append(cid or "")
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SeedSummary]:
    out = tmp_path_factory.mktemp("seed-a")
    return out, generate(out_dir=out, seed=7, transactions=SMALL)


@pytest.fixture(scope="module")
def data(small: tuple[Path, SeedSummary]) -> tuple[list[str], list[dict[str, Any]]]:
    return _events(small[0])


def test_summary_describes_the_files(small: tuple[Path, SeedSummary]) -> None:
    out, summary = small
    assert summary.transactions == SMALL
    assert summary.files == sorted(_read(out))
    assert {
        "README.md",
        "events.jsonl",
        "events-quarantine-demo.jsonl",
        "master/salesforce.json",
        "master/erp.json",
        "master/billing.json",
        "master/tax.json",
    } <= set(summary.files)
    assert summary.events == len(_events(out)[0])
    as_dict = summary.to_dict()
    assert as_dict["events"] == summary.events and as_dict["files"] == summary.files
    json.dumps(as_dict)


def test_same_seed_same_bytes_other_seed_other_bytes(
    small: tuple[Path, SeedSummary], tmp_path: Path
) -> None:
    again, other = tmp_path / "again", tmp_path / "other"
    generate(out_dir=again, seed=7, transactions=SMALL)
    generate(out_dir=other, seed=8, transactions=SMALL)
    assert _read(again) == _read(small[0])
    assert (other / "events.jsonl").read_bytes() != (again / "events.jsonl").read_bytes()
    raw = (again / "events.jsonl").read_bytes()
    assert b"\r\n" not in raw and raw.endswith(b"\n")


def test_every_line_follows_the_contract(data: tuple[list[str], list[dict[str, Any]]]) -> None:
    for ev in data[1]:
        assert isinstance(ev, dict)
        assert ev["specversion"] == "1.0"
        assert isinstance(ev["id"], str) and ev["id"]
        assert isinstance(ev["source"], str) and ev["source"].startswith("urn:q2c:")
        assert ev["type"] in TYPES
        assert RFC3339.match(ev["time"]) and _when(ev).utcoffset() == timedelta(0)
        d = ev["data"]
        assert isinstance(d["system"], str) and re.match(r"^[a-z]+$", d["system"])
        assert re.match(r"^[a-z_]+(\.[a-z_]+)+$", d["operation"])
        assert type(d.get("attempt", 1)) is int and d.get("attempt", 1) >= 1
        assert all(isinstance(v, str) and v for v in d["keys"].values())
        assert set(d["keys"]) <= TX_KEYS | LIFECYCLE_KEYS
        assert ev.get("correlationid") or TX_KEYS & set(d["keys"])
        if ev["type"].endswith("failed"):
            assert isinstance(d["error"]["code"], str) and isinstance(d["error"]["message"], str)
            assert isinstance(d["error"]["http_status"], int)
        else:
            assert "error" not in d
        assert re.match(r"^\d+\.\d{2}$", d["amount"])
        assert d["currency"] in set(CURRENCY_OF.values()) and d["legal_entity"] in CURRENCY_OF


def test_every_line_passes_parse_event(data: tuple[list[str], list[dict[str, Any]]]) -> None:
    for ev in data[1]:
        parse_event(ev)


def test_every_flow_with_its_operations_in_catalog_order(
    data: tuple[list[str], list[dict[str, Any]]],
) -> None:
    events = data[1]
    by_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for cid, ev in zip(_cid_of(events), events, strict=True):
        assert cid, f"event {ev['id']} links to no transaction"
        by_tx[cid].append(ev)
    assert len(by_tx) == SMALL
    flows: Counter[str] = Counter()
    for cid, evs in by_tx.items():
        flow = next(e["data"]["flow"] for e in evs if "flow" in e["data"])
        flows[flow] += 1
        seen: list[str] = []
        for ev in sorted(evs, key=lambda e: (_when(e), e["type"] != "com.q2c.step.started")):
            if ev["data"]["operation"] not in seen:
                seen.append(ev["data"]["operation"])
        assert seen == FLOWS[flow][: len(seen)], cid
    assert set(flows) == set(FLOWS)
    assert flows.most_common(1)[0][0] == "order_activation"


def test_each_failure_mode_is_present(data: tuple[list[str], list[dict[str, Any]]]) -> None:
    failed = [e for e in data[1] if e["type"].endswith("failed")]
    codes = Counter(e["data"]["error"]["code"] for e in failed)
    for code in FAILURE_CODES:
        assert codes[code] >= 2, code
    by_code = defaultdict(list)
    for ev in failed:
        by_code[ev["data"]["error"]["code"]].append(ev)
    outage = by_code["SERVICE_UNAVAILABLE"]
    assert max(map(_when, outage)) - min(map(_when, outage)) <= timedelta(hours=2)
    assert all(
        e["data"]["operation"] == "tax.calculate" and e["data"]["error"]["http_status"] == 503
        for e in outage
    )
    ok_later = {
        (e["correlationid"], e["data"]["operation"])
        for e in data[1]
        if e["type"].endswith("succeeded") and e.get("correlationid")
    }
    assert any((e["correlationid"], "tax.calculate") in ok_later for e in outage)
    assert all(
        (e["correlationid"], e["data"]["operation"]) in ok_later
        for e in by_code["REQUEST_LIMIT_EXCEEDED"]
    )
    assert all(
        e["data"]["error"]["retryable"] is False and e["data"]["error"]["http_status"] == 409
        for e in by_code["PERIOD_CLOSED"]
    )
    assert all(
        "PLAT-ANNAUL" in e["data"]["error"]["message"]
        and e["data"]["operation"] == "salesorder.create"
        for e in by_code["INVALID_ITEM"]
    )
    assert all(
        CURRENCY_OF[e["data"]["legal_entity"]] != e["data"]["currency"]
        for e in by_code["CURRENCY_MISMATCH"]
    )
    assert all(
        e["data"]["operation"] == "subscription.amend"
        for e in by_code["SUBSCRIPTION_VERSION_CONFLICT"]
    )
    assert all(e["data"]["operation"] == "order.validate" for e in by_code["VALIDATION_FAILED"])


def test_duplicate_deliveries_are_identical(data: tuple[list[str], list[dict[str, Any]]]) -> None:
    lines, events = data
    repeated = [line for line, n in Counter(lines).items() if n > 1]
    assert len(repeated) >= 2
    idents = Counter((e["source"], e["id"]) for e in events)
    distinct_content = {(e["source"], e["id"]): line for line, e in zip(lines, events, strict=True)}
    # the same (source, id) only ever repeats with the very same line: no conflicts
    assert sum(n - 1 for n in idents.values()) == len(lines) - len(set(lines))
    assert len(distinct_content) == len(set(lines))


def test_erp_native_events_link_through_business_keys(
    data: tuple[list[str], list[dict[str, Any]]],
) -> None:
    events = data[1]
    correlated_keys = {
        (n, v)
        for e in events
        if "correlationid" in e
        for n, v in e["data"]["keys"].items()
        if n in TX_KEYS
    }
    native = [(i, e) for i, e in enumerate(events) if "correlationid" not in e]
    assert len(native) >= 3
    for _, ev in native:
        assert ev["source"] == "urn:q2c:erp"
        keys = {
            (n, v) for n, v in ev["data"]["keys"].items() if n in {"order_number", "invoice_number"}
        }
        assert keys & correlated_keys, ev["id"]
    # transitive: invoice_number + order_number first, then invoice_number alone
    both = {
        ev["data"]["keys"]["invoice_number"]
        for _, ev in native
        if "order_number" in ev["data"]["keys"]
    }
    alone = {
        ev["data"]["keys"]["invoice_number"]
        for _, ev in native
        if "order_number" not in ev["data"]["keys"]
    }
    assert both & alone
    # some arrive before any correlated event of their transaction (provisional at first)
    cids = _cid_of(events)
    first: dict[str, int] = {}
    for i, cid in enumerate(cids):
        if "correlationid" in events[i]:
            first.setdefault(cid, i)
    assert sum(1 for i, _ in native if i < first[cids[i]]) >= 2


def test_in_progress_stuck_and_out_of_order(data: tuple[list[str], list[dict[str, Any]]]) -> None:
    events = data[1]
    by_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for cid, ev in zip(_cid_of(events), events, strict=True):
        by_tx[cid].append(ev)
    stuck = recent = inverted = 0
    for evs in by_tx.values():
        flow = next(e["data"]["flow"] for e in evs if "flow" in e["data"])
        done = any(
            e["data"]["operation"] == FLOWS[flow][-1] and e["type"].endswith("succeeded")
            for e in evs
        )
        ops_failed = {e["data"]["operation"] for e in evs if e["type"].endswith("failed")}
        ops_ok = {e["data"]["operation"] for e in evs if e["type"].endswith("succeeded")}
        if not done and ops_failed <= ops_ok:
            last = max(map(_when, evs))
            stuck += int(last < END - timedelta(minutes=30))
            recent += int(last >= END - timedelta(minutes=30))
        times = [_when(e) for e in evs]
        inverted += int(times != sorted(times))
    assert stuck >= 2 and recent >= 1 and inverted >= 3
    assert max(map(_when, events)) <= END


def test_lifecycle_keys_shared_and_ids_realistic(
    data: tuple[list[str], list[dict[str, Any]]],
) -> None:
    events = data[1]
    subs: dict[str, set[str]] = defaultdict(set)
    for ev in events:
        if "correlationid" in ev and "subscription_id" in ev["data"]["keys"]:
            subs[ev["data"]["keys"]["subscription_id"]].add(ev["data"]["flow"])
    assert any("order_activation" in f and len(f) > 1 for f in subs.values())
    patterns = {
        "opportunity_id": r"^0065g0[0-9A-Za-z]{12}$",
        "quote_id": r"^0Q05g0[0-9A-Za-z]{12}$",
        "account_id": r"^0015g0[0-9A-Za-z]{12}$",
        "order_number": r"^SO-1\d{5}$",
        "invoice_number": r"^INV-2\d{5}$",
        "subscription_id": r"^A-S000\d{5}$",
        "customer_id": r"^C-\d{4}$",
        "payment_id": r"^P-\d{5}$",
    }
    for ev in events:
        for name, value in ev["data"]["keys"].items():
            assert re.match(patterns[name], value), (name, value)
        if "correlationid" in ev:
            assert re.match(r"^o2c-[0-9a-f]{6}$", ev["correlationid"])
    suffix = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    for ev in events:
        for name in ("opportunity_id", "account_id", "quote_id"):
            sf_id = ev["data"]["keys"].get(name)
            if sf_id:
                check = "".join(
                    suffix[sum(1 << j for j, c in enumerate(sf_id[i : i + 5]) if c.isupper())]
                    for i in (0, 5, 10)
                )
                assert sf_id[15:] == check, sf_id


def test_master_data_matches_the_events(
    small: tuple[Path, SeedSummary], data: tuple[list[str], list[dict[str, Any]]]
) -> None:
    out = small[0]
    sf, erp, billing, tax = (
        json.loads((out / "master" / f"{n}.json").read_text("utf-8"))
        for n in ("salesforce", "erp", "billing", "tax")
    )
    accounts = {r["Id"] for r in sf["Account"]["records"]}
    assert sf["Account"]["totalSize"] == len(accounts)
    assert all(r["attributes"]["type"] == "Account" for r in sf["Account"]["records"])
    codes = {r["ProductCode"] for r in sf["Product2"]["records"]}
    items = {r["itemId"] for r in erp["items"]}
    assert "PLAT-ANNAUL" in codes - items and "PLAT-ANNUAL" in items
    assert any(p["periodName"] == "Oct 2026" and p["closed"] for p in erp["accountingPeriods"])
    assert any(c["creditHold"] == "ON" for c in erp["customers"])
    assert any(
        not c["valid"] and c["expirationDate"] < "2026-10-01" for c in tax["exemptionCertificates"]
    )
    assert {s["allowedCurrencies"][0] for s in erp["subsidiaries"]} == set(CURRENCY_OF.values())
    opportunities = {r["Id"] for r in sf["Opportunity"]["records"]}
    customers = {c["entityId"] for c in erp["customers"]}
    orders = {o["tranId"] for o in erp["salesOrders"]}
    erp_invoices = {i["tranId"] for i in erp["invoices"]}
    billing_invoices = {i["invoiceNumber"] for i in billing["invoices"]}
    payments = {p["number"] for p in billing.get("payments", [])}
    sub_numbers = {s["subscriptionNumber"] for s in billing["subscriptions"]}
    for ev in data[1]:
        keys, op, ok = ev["data"]["keys"], ev["data"]["operation"], ev["type"].endswith("succeeded")
        assert keys.get("account_id", next(iter(accounts))) in accounts
        assert keys.get("customer_id", next(iter(customers))) in customers
        assert keys.get("opportunity_id", next(iter(opportunities))) in opportunities
        assert keys.get("subscription_id", next(iter(sub_numbers))) in sub_numbers
        assert keys.get("invoice_number", next(iter(billing_invoices))) in billing_invoices
        if ok and op == "salesorder.create":
            assert keys["order_number"] in orders
        if ok and op == "invoice.post":
            assert keys["invoice_number"] in erp_invoices
        if ok and op == "payment.apply":
            assert keys["payment_id"] in payments
        if ev["type"].endswith("failed") and ev["data"]["error"]["code"] == "PERIOD_CLOSED":
            assert keys["invoice_number"] not in erp_invoices


def test_quarantine_demo_breaks_the_contract(small: tuple[Path, SeedSummary]) -> None:
    for folder in (small[0], COMMITTED):
        if not (folder / "events-quarantine-demo.jsonl").exists():
            continue
        lines = (folder / "events-quarantine-demo.jsonl").read_text("utf-8").splitlines()
        assert len(lines) >= 10
        for line in lines[:-1]:
            with pytest.raises((ContractError, ValueError)):
                parse_event(json.loads(line))
        conflict = json.loads(lines[-1])
        parse_event(conflict)
        same = [
            e
            for e in _events(folder)[1]
            if (e["source"], e["id"]) == (conflict["source"], conflict["id"])
        ]
        assert same and all(e != conflict for e in same)


def test_committed_sample_data_is_current_and_fast(tmp_path: Path) -> None:
    """sample_data/ is what seed 7 with 1,500 transactions writes, in a few seconds."""
    if not (COMMITTED / "events.jsonl").exists():
        pytest.skip("sample_data/ has not been generated yet")
    started = time.perf_counter()
    summary = generate(out_dir=tmp_path, seed=7, transactions=1500)
    assert time.perf_counter() - started < 10
    assert summary.transactions == 1500
    fresh = _read(tmp_path)
    committed = {name: blob for name, blob in _read(COMMITTED).items() if name in fresh}
    assert committed == fresh, "sample_data/ is stale: run q2c seed --out sample_data"
    assert sum(len(b) for b in fresh.values()) < 12_500_000
    for line in (COMMITTED / "events.jsonl").read_text("utf-8").splitlines():
        parse_event(json.loads(line))
