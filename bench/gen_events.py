"""Generate N realistic step events as JSONL, deterministically and fast.

    python bench/gen_events.py --events 1000000 --out bench/out/events-1m.jsonl

What the file looks like (the same seed always gives the same bytes):

* Transactions of the default flow catalog: order_activation 50%, amendment 20%,
  renewal 12%, usage_trueup 10%, payment 8%; about 8 events per transaction on
  average. One transaction starts every ~0.7 s (about 1M events a day) and its
  steps follow 2-40 s apart, so events of a few hundred concurrent
  transactions interleave in the file, ordered by time as a middleware would emit them.
* Every middleware-reported event has a ``correlationid``; ``data.keys`` carries
  the business keys known at that step (opportunity_id, quote_id, order_number,
  invoice_number as transaction keys; account_id, customer_id, subscription_id,
  payment_id as lifecycle keys). ~10% of the steps also emit a ``started`` event.
* ~10% of transactions have a failed step (``data.error`` with code, message,
  http_status, retryable); half of those are retried with ``attempt`` 2 and go
  on, half stay failed. ~3% stop half way (in progress / stuck).
* ERP-native events without ``correlationid`` carrying only ``order_number`` or
  ``invoice_number`` (``salesorder.fulfill`` 10-90 minutes after the order,
  ``invoice.gl_post`` seconds after posting); 10% of them arrive early, before
  the event that links them, so they start as provisional transactions.
* Accounts are uniform: about 5 transactions per account in the file; amendments,
  renewals and usage true-ups reuse subscriptions created earlier (or ones that
  existed before the file), so subscription_id and account_id link several
  transactions. Payments reference invoices issued before the file.
* request/response bodies of a few hundred bytes: 700-1000 bytes per event.
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

__all__ = ["generate"]

BASE = datetime(2026, 5, 11, 0, 0, 0, tzinfo=UTC)
MW_SOURCE = "https://mw.example.com/flows/o2c"
ERP_SOURCE = "urn:q2c:erp"
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# flow -> (weight, correlation prefix, steps); a step is
# (system, operation, method, path, keys carried by its event)
FLOWS: dict[str, tuple[float, str, list[tuple[str, str, str, str, tuple[str, ...]]]]] = {
    "order_activation": (
        0.50,
        "o2c",
        [
            (
                "salesforce",
                "opportunity.closed_won",
                "GET",
                "/sobjects/Opportunity",
                ("opportunity_id", "quote_id", "account_id"),
            ),
            (
                "middleware",
                "order.validate",
                "POST",
                "/flows/o2c/validate",
                ("opportunity_id", "quote_id", "account_id"),
            ),
            ("erp", "customer.upsert", "PUT", "/customers", ("account_id", "customer_id")),
            (
                "billing",
                "subscription.create",
                "POST",
                "/v1/subscriptions",
                ("opportunity_id", "account_id", "subscription_id"),
            ),
            (
                "erp",
                "salesorder.create",
                "POST",
                "/salesorders",
                ("opportunity_id", "order_number", "account_id"),
            ),
            (
                "tax",
                "tax.calculate",
                "POST",
                "/api/v2/transactions/create",
                ("quote_id", "order_number"),
            ),
            (
                "billing",
                "invoice.create",
                "POST",
                "/v1/invoices",
                ("subscription_id", "invoice_number", "order_number"),
            ),
            ("erp", "invoice.post", "POST", "/invoices", ("invoice_number", "order_number")),
            (
                "salesforce",
                "opportunity.writeback",
                "PATCH",
                "/sobjects/Opportunity",
                ("opportunity_id", "order_number", "invoice_number"),
            ),
        ],
    ),
    "amendment": (
        0.20,
        "amd",
        [
            (
                "salesforce",
                "amendment.submitted",
                "GET",
                "/sobjects/Opportunity",
                ("opportunity_id", "quote_id", "account_id", "subscription_id"),
            ),
            (
                "billing",
                "subscription.amend",
                "PUT",
                "/v1/subscriptions",
                ("subscription_id", "opportunity_id"),
            ),
            ("tax", "tax.calculate", "POST", "/api/v2/transactions/create", ("quote_id",)),
            (
                "billing",
                "invoice.create",
                "POST",
                "/v1/invoices",
                ("subscription_id", "invoice_number"),
            ),
            ("erp", "invoice.post", "POST", "/invoices", ("invoice_number",)),
            (
                "salesforce",
                "opportunity.writeback",
                "PATCH",
                "/sobjects/Opportunity",
                ("opportunity_id", "invoice_number"),
            ),
        ],
    ),
    "renewal": (
        0.12,
        "ren",
        [
            (
                "salesforce",
                "renewal.closed_won",
                "GET",
                "/sobjects/Opportunity",
                ("opportunity_id", "quote_id", "account_id", "subscription_id"),
            ),
            (
                "billing",
                "subscription.renew",
                "POST",
                "/v1/subscriptions/renew",
                ("subscription_id", "opportunity_id"),
            ),
            (
                "erp",
                "salesorder.create",
                "POST",
                "/salesorders",
                ("opportunity_id", "order_number"),
            ),
            (
                "salesforce",
                "opportunity.writeback",
                "PATCH",
                "/sobjects/Opportunity",
                ("opportunity_id", "order_number"),
            ),
        ],
    ),
    "usage_trueup": (
        0.10,
        "use",
        [
            (
                "billing",
                "usage.aggregate",
                "POST",
                "/v1/usage/aggregate",
                ("subscription_id", "account_id"),
            ),
            ("tax", "tax.calculate", "POST", "/api/v2/transactions/create", ("subscription_id",)),
            (
                "billing",
                "invoice.create",
                "POST",
                "/v1/invoices",
                ("subscription_id", "invoice_number"),
            ),
            ("erp", "invoice.post", "POST", "/invoices", ("invoice_number",)),
        ],
    ),
    "payment": (
        0.08,
        "pay",
        [
            (
                "billing",
                "payment.apply",
                "POST",
                "/v1/payments",
                ("payment_id", "invoice_number", "account_id"),
            ),
            ("erp", "payment.post", "POST", "/customerpayments", ("payment_id", "invoice_number")),
            (
                "salesforce",
                "account.writeback",
                "PATCH",
                "/sobjects/Account",
                ("account_id", "payment_id"),
            ),
        ],
    ),
}
_FLOW_NAMES = list(FLOWS)
_SUBJECT_KEYS = (
    "invoice_number",
    "order_number",
    "payment_id",
    "opportunity_id",
    "subscription_id",
)
_FLOW_WEIGHTS = [FLOWS[f][0] for f in _FLOW_NAMES]

ERRORS: dict[str, list[tuple[str, str, int, bool]]] = {
    "erp": [
        ("PERIOD_CLOSED", "Posting period {period} is closed", 409, False),
        ("INVALID_SUBSIDIARY", "Subsidiary {le} is not valid for customer {cust}", 400, False),
        ("SSS_REQUEST_LIMIT_EXCEEDED", "Request limit exceeded, retry later", 429, True),
    ],
    "billing": [
        ("INVALID_VALUE", "Invalid value for field 'termStartDate'", 400, False),
        ("GATEWAY_TIMEOUT", "Upstream timed out after 30000 ms", 504, True),
    ],
    "tax": [
        ("ADDRESS_INCOMPLETE", "Address for customer {cust} is incomplete", 400, False),
        ("RATE_LIMITED", "Too many requests", 429, True),
    ],
    "salesforce": [
        ("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record", 409, True),
        ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Billing contact is required", 400, False),
    ],
    "middleware": [
        ("VALIDATION_FAILED", "Quote {quote} has no primary contact", 422, False),
    ],
}
ENTITIES = [
    ("US01", "USD", 0.5),
    ("DE01", "EUR", 0.15),
    ("GB01", "GBP", 0.15),
    ("FR01", "EUR", 0.1),
    ("JP01", "JPY", 0.05),
    ("AU01", "AUD", 0.05),
]
PRODUCTS = [
    ("PLAT-ANNUAL", "24000.00"),
    ("PLAT-SEATS", "45.00"),
    ("ANALYTICS-ADDON", "6000.00"),
    ("SUPPORT-PREMIUM", "4800.00"),
    ("API-CALLS-1M", "250.00"),
    ("SSO-ADDON", "1200.00"),
]


def _b62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(_B62[r])
    return "".join(reversed(out))


def _mix(n: int) -> int:
    """A bijection on 32-bit integers: unique, random-looking identifiers."""
    return (n * 2654435761 + 0x9E3779B9) & 0xFFFFFFFF


def _iso(ms: int) -> str:
    return (BASE + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class _Gen:
    def __init__(self, seed: int, expected_tx: int) -> None:
        self.rng = random.Random(seed)
        self.n_accounts = max(20, expected_tx // 5)
        self.subs: list[tuple[str, int]] = []  # subscriptions created in the file
        self.seq = 0

    def account(self, idx: int) -> dict[str, str]:
        le, cur, _ = ENTITIES[idx % len(ENTITIES) if idx % 2 else 0]
        return {
            "account_id": "0015g" + _b62(_mix(idx), 10) + "AAC",
            "customer_id": f"C-{10000 + idx}",
            "legal_entity": le,
            "currency": cur,
        }

    def transaction(self, n: int, start_ms: int) -> list[tuple[int, int, bytes]]:
        """The events of transaction ``n``: (arrival ms, sequence, JSON line)."""
        rng = self.rng
        flow = rng.choices(_FLOW_NAMES, _FLOW_WEIGHTS)[0]
        _, prefix, steps = FLOWS[flow]
        tag = f"{_mix(n):08x}"
        cid = f"{prefix}-{tag}"
        if flow in ("amendment", "renewal", "usage_trueup") and (self.subs and rng.random() < 0.6):
            sub, acct_idx = self.subs[rng.randrange(len(self.subs))]
        else:
            acct_idx = rng.randrange(self.n_accounts)
            sub = f"A-S{90000000 + acct_idx:08d}"
        acct = self.account(acct_idx)
        keys_all = {
            "account_id": acct["account_id"],
            "customer_id": acct["customer_id"],
            "subscription_id": sub,
            "opportunity_id": "0065g" + _b62(_mix(n * 3 + 1), 10) + "IAA",
            "quote_id": "a0Q5g" + _b62(_mix(n * 5 + 2), 10) + "QAB",
            "order_number": f"SO-{1000000 + n}",
            "invoice_number": f"INV-{2000000 + n}",
            "payment_id": f"P-{3000000 + n}",
        }
        if flow == "order_activation":
            keys_all["subscription_id"] = f"A-S{n:08d}"
            self.subs.append((keys_all["subscription_id"], acct_idx))
        elif flow == "payment":
            keys_all["invoice_number"] = f"INV-{1000000 - rng.randrange(500000):07d}"
        lines = [
            (PRODUCTS[rng.randrange(len(PRODUCTS))], 1 + rng.randrange(20))
            for _ in range(1 + rng.randrange(2))
        ]
        amount = sum(float(rate) * qty for (_, rate), qty in lines)
        amount_text = f"{amount:.2f}"

        fail_at = rng.randrange(len(steps)) if rng.random() < 0.10 else -1
        retry = rng.random() < 0.5
        stop_at = (
            len(steps) // 2 + rng.randrange(max(1, len(steps) // 2))
            if rng.random() < 0.03
            else len(steps)
        )
        out: list[tuple[int, int, bytes]] = []
        t = start_ms
        for i, (system, op, method, path, carried) in enumerate(steps):
            if i >= stop_at:
                break
            keys = {k: keys_all[k] for k in carried}
            base = dict(
                flow=flow,
                cid=cid,
                system=system,
                op=op,
                method=method,
                path=path,
                keys=keys,
                acct=acct,
                lines=lines,
                amount=amount_text,
                keys_all=keys_all,
            )
            if rng.random() < 0.10:
                out.append(self.event(base, t, "started", 1, f"{tag}-{i}-s"))
                t += 200 + rng.randrange(3000)
            if i == fail_at:
                out.append(self.event(base, t, "failed", 1, f"{tag}-{i}-1"))
                if not retry:
                    break
                t += 30_000 + rng.randrange(300_000)
                out.append(self.event(base, t, "succeeded", 2, f"{tag}-{i}-2"))
            else:
                out.append(self.event(base, t, "succeeded", 1, f"{tag}-{i}-1"))
            if op == "salesorder.create" and rng.random() < 0.5:
                later = t + 600_000 + rng.randrange(4_800_000)
                out.append(
                    self.native(
                        base,
                        later,
                        "salesorder.fulfill",
                        {"order_number": keys_all["order_number"]},
                    )
                )
            if op == "invoice.post" and rng.random() < 0.6:
                later = t + 1000 + rng.randrange(5000)
                out.append(
                    self.native(
                        base,
                        later,
                        "invoice.gl_post",
                        {"invoice_number": keys_all["invoice_number"]},
                    )
                )
            t += 2000 + rng.randrange(38_000)
        return out

    def event(self, b: dict[str, Any], t: int, status: str, attempt: int, eid: str) -> Any:
        rng = self.rng
        acct, keys_all = b["acct"], b["keys_all"]
        keys = b["keys"]
        doc = next((keys[k] for k in _SUBJECT_KEYS if k in keys), b["cid"])
        request = {
            "customer": acct["customer_id"],
            "account": acct["account_id"],
            "subsidiary": acct["legal_entity"],
            "currency": acct["currency"],
            "memo": f"{b['flow'].replace('_', ' ')} {b['cid']}",
            "lines": [
                {"item": item, "qty": qty, "rate": rate, "amount": f"{float(rate) * qty:.2f}"}
                for (item, rate), qty in b["lines"]
            ],
        }
        data: dict[str, Any] = {
            "system": b["system"],
            "operation": b["op"],
            "flow": b["flow"],
            "attempt": attempt,
            "keys": b["keys"],
            "idempotency_key": f"{b['cid']}:{b['op']}",
            "endpoint": {"method": b["method"], "path": b["path"]},
            "request": request,
            "latency_ms": 40 + rng.randrange(1500),
            "amount": b["amount"],
            "currency": acct["currency"],
            "legal_entity": acct["legal_entity"],
        }
        if status == "failed":
            code, msg, http, retryable = rng.choice(ERRORS.get(b["system"], ERRORS["erp"]))
            message = msg.format(
                period="May 2026",
                le=acct["legal_entity"],
                cust=acct["customer_id"],
                quote=keys_all["quote_id"],
            )
            data["error"] = {
                "code": code,
                "message": message,
                "http_status": http,
                "retryable": retryable,
            }
            data["response"] = {"errors": [{"code": code, "detail": message}], "status": http}
        elif status == "succeeded":
            data["response"] = {
                "id": str(100000 + rng.randrange(900000)),
                "number": doc,
                "status": "OK",
            }
        return self._line(
            t,
            {
                "specversion": "1.0",
                "id": f"evt-{eid}",
                "source": MW_SOURCE,
                "type": f"com.q2c.step.{status}",
                "time": _iso(t),
                "datacontenttype": "application/json",
                "correlationid": b["cid"],
                "subject": doc,
                "traceparent": f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-01",
                "data": data,
            },
        )

    def native(self, b: dict[str, Any], t: int, op: str, keys: dict[str, str]) -> Any:
        """An ERP-native event: no correlationid, only the ERP document number."""
        rng = self.rng
        acct = b["acct"]
        doc = next(iter(keys.values()))
        arrival = t - 60_000 - rng.randrange(600_000) if rng.random() < 0.10 else t
        return self._line(
            arrival,
            {
                "specversion": "1.0",
                "id": f"erp-{doc}-{op}",
                "source": ERP_SOURCE,
                "type": "com.q2c.step.succeeded",
                "time": _iso(t),
                "subject": doc,
                "data": {
                    "system": "erp",
                    "operation": op,
                    "keys": keys,
                    "endpoint": {"method": "POST", "path": "/webhooks/q2c"},
                    "response": {
                        "recordType": "salesOrder" if op.startswith("salesorder") else "invoice",
                        "tranId": doc,
                        "subsidiary": {"refName": acct["legal_entity"]},
                        "status": {
                            "id": "B",
                            "refName": "Pending Fulfillment"
                            if op.startswith("salesorder")
                            else "Posted",
                        },
                        "amount": b["amount"],
                        "currency": acct["currency"],
                        "internalId": str(5_000_000 + rng.randrange(5_000_000)),
                    },
                    "amount": b["amount"],
                    "currency": acct["currency"],
                    "legal_entity": acct["legal_entity"],
                },
            },
        )

    def _line(self, arrival: int, event: dict[str, Any]) -> tuple[int, int, bytes]:
        self.seq += 1
        return (arrival, self.seq, orjson.dumps(event) + b"\n")


def generate(events: int, out: Path, *, seed: int = 42, interval_ms: int = 700) -> dict[str, Any]:
    """Write exactly ``events`` events to ``out``; returns counts and the file size."""
    out.parent.mkdir(parents=True, exist_ok=True)
    gen = _Gen(seed, expected_tx=max(1, events // 8))
    heap: list[tuple[int, int, bytes]] = []
    written = pushed = n_tx = 0
    start = 0
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("wb", buffering=1 << 20) as fh:
        while pushed < events:
            start += interval_ms // 2 + gen.rng.randrange(interval_ms)
            while heap and heap[0][0] <= start and written < events:
                fh.write(heapq.heappop(heap)[2])
                written += 1
            for item in gen.transaction(n_tx, start):
                heapq.heappush(heap, item)
                pushed += 1
            n_tx += 1
        while heap and written < events:
            fh.write(heapq.heappop(heap)[2])
            written += 1
    tmp.replace(out)
    return {"events": written, "transactions": n_tx, "bytes": out.stat().st_size, "seed": seed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None, help="default bench/out/events-<N>.jsonl")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    if args.out is None:
        from _common import events_file

        args.out = events_file(args.events)
    t0 = time.perf_counter()
    res = generate(args.events, args.out, seed=args.seed)
    secs = time.perf_counter() - t0
    print(
        f"wrote {res['events']:,} events of {res['transactions']:,} transactions to {args.out} "
        f"({res['bytes'] / 1e6:.1f} MB, {res['bytes'] / max(1, res['events']):.0f} bytes/event) "
        f"in {secs:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
