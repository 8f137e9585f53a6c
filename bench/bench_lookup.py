"""Trace lookup latency by key type: ``Console.find_traces(key)`` on a store of N events.

    python bench/bench_lookup.py --events 1000000                  # builds the store if needed
    python bench/bench_lookup.py --db bench/out/store-1m.db        # an already ingested store
    python bench/bench_lookup.py --db bench/out/store-1m.db --profile

Keys are sampled from the store's ``transaction_keys`` (uniform over rows, seeded):
``--lookups`` values per key type (correlation_id, opportunity_id, quote_id,
order_number, invoice_number, subscription_id, account_id). After a warm-up the
lookups of all types run interleaved in a shuffled order, each timed end to end
(``find_traces`` returns every matching transaction with its keys, events and
related transactions, as the Trace page shows it). The store is warm in the OS
page cache (it was just written or read); these are not cold-disk numbers.

The target is p95 <= 5 ms for every key type with 1M events stored.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    OUT_DIR,
    ensure_events,
    human_count,
    percentile,
    print_machine,
    remove_sqlite,
    write_json,
)

from services.console import open_console
from services.db import make_engine, migrate
from services.ingest import ingest_paths
from services.settings import load_settings

KEY_TYPES = (
    "correlation_id",
    "opportunity_id",
    "quote_id",
    "order_number",
    "invoice_number",
    "subscription_id",
    "account_id",
)
TARGET_P95_MS = 5.0


def _event_count(db: Path) -> int:
    if not db.exists():
        return -1
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    except sqlite3.Error:
        return -1


def ensure_store(n: int, db: Path) -> Path:
    """A store holding the ``n`` generated events (ingested with ingest_paths if needed)."""
    if _event_count(db) == n:
        return db
    path = ensure_events(n)
    remove_sqlite(db)
    url = f"sqlite:///{db}"
    settings = load_settings(database_url=url)
    engine = make_engine(url)
    migrate(engine)
    print(f"ingesting {path} into {db} ...", flush=True)
    t0 = time.perf_counter()
    summary = ingest_paths(engine=engine, paths=[str(path)], settings=settings)
    print(f"ingested {summary.accepted:,} events in {time.perf_counter() - t0:.1f} s")
    engine.dispose()
    return db


def sample_keys(db: Path, per_type: int, seed: int) -> dict[str, list[str]]:
    """``per_type`` key values of each type, uniform over ``transaction_keys`` rows."""
    rng = random.Random(seed)
    out: dict[str, list[str]] = {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        lo, hi = conn.execute("SELECT min(pk), max(pk) FROM transaction_keys").fetchone()
        for name in KEY_TYPES:
            values: list[str] = []
            tries = 0
            while len(values) < per_type and tries < per_type * 20:
                tries += 1
                row = conn.execute(
                    "SELECT value FROM transaction_keys WHERE pk >= ? AND name = ? "
                    "ORDER BY pk LIMIT 1",
                    (rng.randint(lo, hi), name),
                ).fetchone()
                if row is not None:
                    values.append(row[0])
            out[name] = values
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--events",
        type=int,
        default=1_000_000,
        help="store size when --db is not given (ingested if needed)",
    )
    parser.add_argument("--db", type=Path, default=None, help="an ingested SQLite store")
    parser.add_argument("--lookups", type=int, default=200, help="lookups per key type")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the timed lookups")
    parser.add_argument("--json", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    info = print_machine("bench_lookup: find_traces latency by key type")
    db = args.db or OUT_DIR / f"store-{human_count(args.events)}.db"
    if args.db is None:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        ensure_store(args.events, db)
    n_events = _event_count(db)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        n_tx = conn.execute("SELECT count(*) FROM transactions").fetchone()[0]
    size_mb = sum(p.stat().st_size for p in db.parent.glob(db.name + "*")) / 1e6
    print(f"store {db}: {n_events:,} events, {n_tx:,} transactions, {size_mb:,.0f} MB")

    keys = sample_keys(db, args.lookups, args.seed)
    console = open_console(load_settings(database_url=f"sqlite:///{db}"))
    rng = random.Random(args.seed + 1)
    pairs = [(name, value) for name, values in keys.items() for value in values]
    for _, value in rng.sample(pairs, min(args.warmup, len(pairs))):
        console.find_traces(value)
    rng.shuffle(pairs)

    times: dict[str, list[float]] = {name: [] for name in KEY_TYPES}
    found_tx: dict[str, list[int]] = {name: [] for name in KEY_TYPES}
    found_ev: dict[str, list[int]] = {name: [] for name in KEY_TYPES}
    misses = 0
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    for name, value in pairs:
        t0 = time.perf_counter()
        traces = console.find_traces(value)
        ms = (time.perf_counter() - t0) * 1000
        times[name].append(ms)
        found_tx[name].append(len(traces))
        found_ev[name].append(sum(len(t.events) for t in traces))
        misses += not traces
    if prof:
        prof.disable()
    console.engine.dispose()

    rows: list[dict[str, Any]] = []
    every: list[float] = []
    for name in KEY_TYPES:
        ts = times[name]
        every.extend(ts)
        rows.append(
            {
                "key": name,
                "lookups": len(ts),
                "p50_ms": percentile(ts, 50),
                "p95_ms": percentile(ts, 95),
                "p99_ms": percentile(ts, 99),
                "max_ms": max(ts) if ts else float("nan"),
                "mean_transactions": sum(found_tx[name]) / max(1, len(ts)),
                "max_transactions": max(found_tx[name], default=0),
                "mean_events": sum(found_ev[name]) / max(1, len(ts)),
            }
        )
    overall = {
        "key": "all",
        "lookups": len(every),
        "p50_ms": percentile(every, 50),
        "p95_ms": percentile(every, 95),
        "p99_ms": percentile(every, 99),
        "max_ms": max(every) if every else float("nan"),
    }
    met = all(r["p95_ms"] <= TARGET_P95_MS for r in rows)
    print()
    print(
        "| key type | lookups | p50 ms | p95 ms | p99 ms | max ms | traces/lookup (max) "
        "| events/lookup |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['key']} | {r['lookups']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['max_ms']:.2f} | {r['mean_transactions']:.1f} "
            f"({r['max_transactions']}) | {r['mean_events']:.1f} |"
        )
    print(
        f"| **all** | {overall['lookups']} | {overall['p50_ms']:.2f} | {overall['p95_ms']:.2f} "
        f"| {overall['p99_ms']:.2f} | {overall['max_ms']:.2f} | | |"
    )
    print()
    print(f"lookups that found nothing: {misses}")
    print(
        f"target p95 <= {TARGET_P95_MS} ms for every key type with {n_events:,} events: "
        f"{'MET' if met else 'NOT MET'}"
    )
    if prof:
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(35)
        print(buf.getvalue())
    write_json(
        args.json,
        {
            "machine": info,
            "events": n_events,
            "transactions": n_tx,
            "store_mb": size_mb,
            "by_key": rows,
            "overall": overall,
            "misses": misses,
            "target_met": met,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
