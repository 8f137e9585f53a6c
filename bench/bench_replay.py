"""Bulk replay throughput against ``q2c sandbox serve``, next to a plain httpx loop.

    python bench/bench_replay.py                      # 10,000 failed steps
    python bench/bench_replay.py --events 500         # a quick run
    python bench/bench_replay.py --concurrency 16 --rate 5000

1. A fresh SQLite store gets ``N`` transactions whose ``tax tax.calculate`` step
   failed with a 503 (the sample's tax outage, each with its own document code,
   correlation ID and idempotency key).
2. ``q2c sandbox serve`` starts as a subprocess on a free port; the console talks
   to it over a socket (``Q2C_SANDBOX_URL``).
3. **bulk replay**: ``BulkReplay.plan`` + ``create`` (timed apart), then ``run``:
   claim, send, write back the console's event, audit entry, release, per step.
   Then ``GET /_sandbox/requests`` must show exactly one request per step.
4. **baseline**: the sandbox is reset and the same ``N`` requests (same bodies,
   same idempotency keys) are sent by a plain ``httpx.Client`` loop, one after
   another, and again from ``--concurrency`` threads.

The target is >= 500 replays/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from _common import OUT_DIR, ROOT, human_count, print_machine, remove_sqlite, write_json

from services.bulk import BulkReplay
from services.connections import open_systems
from services.console import open_console
from services.ingest import ingest_events
from services.roles import Actor
from services.schemas import SearchFilters
from services.settings import load_settings

TARGET = 500.0
ACTOR = Actor("bench", "admin")


def failed_tax_events(n: int) -> list[dict[str, Any]]:
    """``n`` transactions, each one failed tax.calculate (503) with its request and key."""
    out = []
    for i in range(n):
        cid = f"bench-{i:06d}"
        order = f"SO-9{i:06d}"
        out.append(
            {
                "specversion": "1.0",
                "id": f"{cid}-tax",
                "source": "urn:q2c:tax",
                "type": "com.q2c.step.failed",
                "time": f"2026-11-12T14:{i // 6000 % 60:02d}:{i // 100 % 60:02d}.{i % 100:02d}0Z",
                "correlationid": cid,
                "subject": order,
                "data": {
                    "system": "tax",
                    "operation": "tax.calculate",
                    "flow": "order_activation",
                    "attempt": 1,
                    # Own keys only: a key shared by all N makes each trace load list
                    # N related transactions (see docs/performance.md).
                    "keys": {"order_number": order},
                    "idempotency_key": f"{cid}:tax.calculate",
                    "endpoint": {"method": "POST", "path": "/api/v2/transactions/create"},
                    "request": {
                        "companyCode": "DE01",
                        "type": "SalesOrder",
                        "code": order,
                        "customerCode": "C-1416",
                        "date": "2026-11-12",
                        "currencyCode": "EUR",
                        "lines": [{"number": "1", "amount": "1824.36", "taxCode": "SW054000"}],
                    },
                    "error": {
                        "code": "SERVICE_UNAVAILABLE",
                        "message": "Tax service unavailable: upstream AvaTax returned 503",
                        "http_status": 503,
                        "retryable": True,
                    },
                    "amount": "1824.36",
                    "currency": "EUR",
                },
            }
        )
    return out


def start_sandbox() -> tuple[subprocess.Popen[str], str]:
    """``q2c sandbox serve --port 0`` in a subprocess; returns it and its URL."""
    env = {**os.environ, "Q2C_SAMPLE_DATA_DIR": str(ROOT / "sample_data")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "sandbox", "serve", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "serving on" not in line:
        proc.kill()
        raise SystemExit(f"the sandbox did not start: {line!r}")
    return proc, line.split("serving on", 1)[1].split()[0]


def sandbox_posts(url: str) -> list[dict[str, Any]]:
    """The POSTs the tax sandbox received."""
    answer = httpx.get(f"{url}/_sandbox/requests", timeout=60).json()
    return [r for r in answer["requests"] if r["system"] == "tax" and r["method"] == "POST"]


def run_bulk(db_url: str, url: str, n: int, concurrency: int, rate: float) -> dict[str, Any]:
    """Ingest, plan + create, run, then count the sandbox's requests per key."""
    settings = load_settings(
        database_url=db_url,
        sandbox_url=url,
        bulk_concurrency=concurrency,
        bulk_rate_per_system=rate,
        bulk_approval_items=n + 1,
        bulk_approval_amount=1e15,
    )
    console = open_console(settings)
    t0 = time.perf_counter()
    summary = ingest_events(engine=console.engine, events=failed_tax_events(n))
    assert summary.accepted == n, summary.to_dict()
    ingest_s = time.perf_counter() - t0
    bulk = BulkReplay(console, open_systems(settings))
    t0 = time.perf_counter()
    run = bulk.create(
        filters=SearchFilters(system="tax"),
        actor=ACTOR,
        reason="bench",
        reason_code="transient_outage",
    )
    plan_s = time.perf_counter() - t0
    assert run.state == "ready" and run.counts["pending"] == n, run
    t0 = time.perf_counter()
    result = bulk.run(run_id=run.id, actor=ACTOR)
    run_s = time.perf_counter() - t0
    console.engine.dispose()
    posts = sandbox_posts(url)
    per_key = Counter(r["idempotency_key"] for r in posts)
    return {
        "ingest_s": round(ingest_s, 2),
        "plan_and_create_s": round(plan_s, 2),
        "run_s": round(run_s, 2),
        "replays_per_s": round(n / run_s, 1),
        "counts": result.counts,
        "sandbox_posts": len(posts),
        "distinct_keys": len(per_key),
        "duplicates": sum(c - 1 for c in per_key.values()),
        "replayed_answers": sum(1 for r in posts if r["replayed"]),
    }


def run_baseline(url: str, n: int, threads: int) -> dict[str, Any]:
    """The same requests from a plain httpx loop (and from ``threads`` threads)."""
    path = f"{url}/tax/api/v2/transactions/create"
    bodies = [
        (e["data"]["idempotency_key"], {**e["data"]["request"], "commit": False})
        for e in failed_tax_events(n)
    ]
    out: dict[str, Any] = {}
    for label, workers in (("loop", 1), ("threads", threads)):
        httpx.post(f"{url}/_sandbox/reset", timeout=60)
        with httpx.Client(timeout=30) as client:

            def send(item: tuple[str, dict[str, Any]], client: httpx.Client = client) -> None:
                answer = client.post(path, json=item[1], headers={"Idempotency-Key": item[0]})
                answer.raise_for_status()

            t0 = time.perf_counter()
            if workers == 1:
                for item in bodies:
                    send(item)
            else:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    list(pool.map(send, bodies))
            elapsed = time.perf_counter() - t0
        out[label] = {"workers": workers, "s": round(elapsed, 2), "per_s": round(n / elapsed, 1)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=10_000, help="failed steps to replay")
    parser.add_argument("--concurrency", type=int, default=16, help="bulk_concurrency")
    parser.add_argument("--rate", type=float, default=100_000, help="bulk_rate_per_system")
    parser.add_argument("--json", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    info = print_machine("bench_replay: bulk replay against q2c sandbox serve")
    db = OUT_DIR / f"replay-{human_count(args.events)}.db"
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    remove_sqlite(db)
    proc, url = start_sandbox()
    try:
        print(f"sandbox at {url}; {args.events:,} failed tax.calculate steps", flush=True)
        bulk = run_bulk(f"sqlite:///{db}", url, args.events, args.concurrency, args.rate)
        print(
            f"bulk replay: {bulk['replays_per_s']:,.1f} replays/s ({bulk['run_s']} s run; "
            f"plan + create {bulk['plan_and_create_s']} s; ingest {bulk['ingest_s']} s) "
            f"counts {json.dumps(bulk['counts'])}",
            flush=True,
        )
        print(
            f"sandbox: {bulk['sandbox_posts']:,} POSTs, {bulk['distinct_keys']:,} keys, "
            f"{bulk['duplicates']} duplicates, {bulk['replayed_answers']} replayed answers",
            flush=True,
        )
        base = run_baseline(url, args.events, args.concurrency)
        for label, b in base.items():
            print(f"baseline httpx {label} ({b['workers']}): {b['per_s']:,.1f} req/s ({b['s']} s)")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        remove_sqlite(db)
    ok = (
        bulk["replays_per_s"] >= TARGET
        and bulk["duplicates"] == 0
        and bulk["distinct_keys"] == args.events
        and bulk["counts"]["succeeded"] == args.events
    )
    print(f"target >= {TARGET:.0f} replays/s, 0 duplicates: {'met' if ok else 'NOT met'}")
    write_json(
        args.json,
        {
            "machine": info,
            "events": args.events,
            "concurrency": args.concurrency,
            "bulk": bulk,
            "baseline": base,
            "ok": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
