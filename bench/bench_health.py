"""Health figures over N transactions, next to a plain GROUP BY over the same rows.

    python bench/bench_health.py                        # 1M transactions
    python bench/bench_health.py --transactions 20000   # a quick run

The store: ``bench/out/health-<N>.db`` (reused when kept by ``--keep``), built by
inserting ``transactions`` rows directly, in the shape ingest writes them (same
columns, the same naive-UTC text times, ``,erp,billing,`` systems), plus one failed
step event per error so the HTTP status look-up of the error classification has
something to find; then ``services.rollups.rebuild`` fills the roll-ups (ingest keeps
them; the direct inserts do not). Spread over 60 days before "now": 86% succeeded,
9% failed, 4% in progress (most of it stuck), 1% in progress and fresh; five
currencies, five legal entities.

Timed (median of ``--runs`` after one warm-up; the store is warm in the OS page
cache): ``compute_health`` over the whole store, the last 7 days and the last 24
hours; the plain ``SELECT status, count(*) FROM transactions GROUP BY status`` over
the whole store (the cheapest possible pass over the same rows); once,
``compute_health(rollups=False)``, which reads every row (the reference the roll-ups
are tested against), and whether both give the same figures. Target: <= 300 ms for
the whole store at 1M transactions.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from _common import OUT_DIR, human_count, print_machine, remove_sqlite, write_json

from services.db import make_engine, migrate
from services.health import compute_health, rebuild_rollups
from services.settings import load_settings

TARGET_MS = 300.0
NOW = datetime(2026, 11, 26, 8, 0, 0)
_TS = "%Y-%m-%d %H:%M:%S.%f"
FLOWS = {
    "order_activation": ",salesforce,middleware,erp,billing,tax,",
    "amendment": ",salesforce,billing,tax,erp,",
    "renewal": ",salesforce,billing,erp,",
    "usage_trueup": ",billing,tax,erp,",
    "payment": ",billing,erp,salesforce,",
}
ERRORS = [
    ("tax", "tax.calculate", "SERVICE_UNAVAILABLE", 503, "Tax service unavailable"),
    ("middleware", "order.validate", "VALIDATION_FAILED", 422, "Quote has no bill-to contact"),
    ("erp", "salesorder.create", "INVALID_ITEM", 400, "Item PLAT-ANNUAL is not active"),
    ("erp", "invoice.post", "PERIOD_CLOSED", 409, "Posting period Oct 2026 is closed"),
    ("billing", "subscription.amend", "SUBSCRIPTION_VERSION_CONFLICT", 409, "Version conflict"),
    ("salesforce", "opportunity.writeback", "REQUEST_LIMIT_EXCEEDED", 429, "Request limit"),
]
ENTITIES = [("US01", "USD"), ("GB01", "GBP"), ("DE01", "EUR"), ("CA01", "CAD"), ("AU01", "AUD")]
_TX_COLS = (
    "transaction_id, correlation_id, flow, status, first_time, last_time, event_count, systems, "
    "failed_system, failed_operation, error_code, error_message, last_step, subject, amount, "
    "currency, legal_entity"
)


def _rows(n: int, seed: int) -> Any:
    """``n`` transaction rows, deterministic for ``seed``."""
    rnd = random.Random(seed)
    flows = list(FLOWS)
    for i in range(n):
        flow = flows[i % len(flows)]
        first = NOW - timedelta(seconds=rnd.randrange(60 * 86400))
        roll = rnd.random()
        status = "succeeded" if roll < 0.86 else "failed" if roll < 0.95 else "in_progress"
        if status == "in_progress" and roll > 0.99:
            first = NOW - timedelta(seconds=rnd.randrange(600))
        last = min(NOW, first + timedelta(seconds=rnd.randrange(30, 7200)))
        err = ERRORS[i % len(ERRORS)] if status == "failed" else None
        entity, currency = ENTITIES[rnd.randrange(len(ENTITIES))]
        yield (
            f"tx-{i:012d}", f"bench-{i}", flow, status, first.strftime(_TS), last.strftime(_TS),
            5, FLOWS[flow], err[0] if err else None, err[1] if err else None,
            err[2] if err else None, err[4] if err else None, None, None,
            f"{rnd.randrange(100, 20_000_000) / 100:.2f}", currency, entity,
        )  # fmt: skip


def build_store(n: int, db: Path, seed: int) -> None:
    """A migrated SQLite store holding ``n`` directly inserted transactions."""
    remove_sqlite(db)
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    engine.dispose()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    marks = ", ".join("?" * 17)
    conn.executemany(f"INSERT INTO transactions ({_TX_COLS}) VALUES ({marks})", _rows(n, seed))
    for k, (system, op, code, status, message) in enumerate(ERRORS):
        conn.execute(
            "INSERT INTO events (source, event_id, status, time, system, operation, attempt, "
            "keys_json, error_code, error_message, http_status, content_hash, raw, "
            "transaction_id, received_at) VALUES (?, ?, 'failed', ?, ?, ?, 1, '{}', ?, ?, ?, "
            "'x', '{}', ?, ?)",
            (f"urn:q2c:{system}", f"e{k}", NOW.strftime(_TS), system, op, code, message, status,
             f"tx-{k:012d}", NOW.strftime(_TS)),
        )  # fmt: skip
    conn.commit()
    conn.close()
    _rebuild(f"sqlite:///{db}")
    conn = sqlite3.connect(db)
    conn.execute("ANALYZE")
    conn.close()


def _rebuild(url: str) -> None:
    t0 = time.perf_counter()
    engine = make_engine(url)
    rebuild_rollups(engine)
    engine.dispose()
    print(f"rebuilt the roll-ups in {time.perf_counter() - t0:.1f} s", flush=True)


def build_postgres(n: int, url: str, seed: int) -> tuple[str, str]:
    """``n`` transactions in a fresh schema of the PostgreSQL at ``url`` (COPY); its URL."""
    import psycopg
    from sqlalchemy import create_engine, text

    schema = f"bench_health_{n}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in url else "?"
    scoped = f"{url}{sep}options=-csearch_path%3D{schema}"
    engine = make_engine(scoped)
    migrate(engine)
    engine.dispose()
    plain = scoped.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY transactions ({_TX_COLS}) FROM STDIN") as copy:
            for row in _rows(n, seed):
                copy.write_row(row)
        for k, (system, op, code, status, message) in enumerate(ERRORS):
            cur.execute(
                "INSERT INTO events (source, event_id, status, time, system, operation, attempt, "
                "keys_json, error_code, error_message, http_status, content_hash, raw, "
                "transaction_id, received_at) VALUES (%s, %s, 'failed', %s, %s, %s, 1, '{}', "
                "%s, %s, %s, 'x', '{}', %s, %s)",
                (f"urn:q2c:{system}", f"e{k}", NOW, system, op, code, message, status,
                 f"tx-{k:012d}", NOW),
            )  # fmt: skip
    _rebuild(scoped)
    with psycopg.connect(plain) as conn, conn.cursor() as cur:
        cur.execute("ANALYZE")
    return scoped, schema


def _drop_schema(url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def _time_ms(fn: Any, runs: int) -> float:
    fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep a store this bench built")
    parser.add_argument("--json", default=None, help="write the results as JSON here")
    parser.add_argument(
        "--postgres", default=None, help="a PostgreSQL URL: bench there (a scratch schema)"
    )
    args = parser.parse_args(argv)
    n = args.transactions
    info = print_machine(f"Health figures over {n:,} transactions")
    db = OUT_DIR / f"health-{human_count(n)}.db"
    built = not db.exists()  # a store kept by an earlier --keep run is reused
    t0 = time.perf_counter()
    if args.postgres:
        url, schema = build_postgres(n, args.postgres, args.seed)
        built = False
        print(f"built PostgreSQL schema {schema} in {time.perf_counter() - t0:.1f} s", flush=True)
    else:
        url = f"sqlite:///{db}"
        if built:
            OUT_DIR.mkdir(parents=True, exist_ok=True)
            build_store(n, db, args.seed)
            print(f"built {db} in {time.perf_counter() - t0:.1f} s", flush=True)
    settings = load_settings(database_url=url)
    engine = make_engine(settings.database_url)
    stuck = timedelta(minutes=settings.stuck_after_minutes)

    def health(since: datetime | None, rollups: bool = True) -> Any:
        return compute_health(
            engine=engine, since=since, until=None, stuck_after=stuck,
            sla_minutes=settings.sla_minutes, now=NOW, rollups=rollups,
        )  # fmt: skip

    def plain() -> Any:
        with engine.connect() as conn:
            return conn.exec_driver_sql(
                "SELECT status, count(*) FROM transactions GROUP BY status"
            ).all()

    fast = health(None)
    rows = sum(fast.by_status.values())
    t0 = time.perf_counter()
    reference = health(None, rollups=False)
    reference_ms = (time.perf_counter() - t0) * 1000
    with engine.connect() as conn:
        rollup_rows = conn.exec_driver_sql("SELECT count(*) FROM rollup_tx").scalar()
    results = {
        "transactions": rows,
        "rollup_tx_rows": rollup_rows,
        "health_all_ms": round(_time_ms(lambda: health(None), args.runs), 1),
        "health_7d_ms": round(_time_ms(lambda: health(NOW - timedelta(days=7)), args.runs), 1),
        "health_24h_ms": round(_time_ms(lambda: health(NOW - timedelta(hours=24)), args.runs), 1),
        "plain_group_by_ms": round(_time_ms(plain, args.runs), 1),
        "rows_reference_ms": round(reference_ms, 1),
        "same_figures": fast == reference,
    }
    engine.dispose()
    if built and not args.keep:
        remove_sqlite(db)
    if args.postgres and not args.keep:
        _drop_schema(args.postgres, schema)
    met = results["health_all_ms"] <= TARGET_MS and results["same_figures"]
    print(f"database: {'PostgreSQL' if args.postgres else 'SQLite'}")
    print(f"| run over {rows:,} transactions | ms (median of {args.runs}) |")
    print("|---|---:|")
    print(f"| compute_health, whole store | {results['health_all_ms']} |")
    print(f"| compute_health, last 7 days | {results['health_7d_ms']} |")
    print(f"| compute_health, last 24 hours | {results['health_24h_ms']} |")
    print(f"| plain GROUP BY status, whole store | {results['plain_group_by_ms']} |")
    print(f"| compute_health from the rows (no roll-ups), whole store, once | {reference_ms:.0f} |")
    print(f"roll-up rows (rollup_tx, month + day + hour): {rollup_rows:,}")
    print(f"same figures from the roll-ups and from the rows: {results['same_figures']}")
    print(f"target <= {TARGET_MS:.0f} ms (whole store): {'met' if met else 'NOT met'}")
    if args.json:
        write_json(Path(args.json), {"machine": info, "results": results, "target_met": met})
    return 0


if __name__ == "__main__":
    sys.exit(main())
