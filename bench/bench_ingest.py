"""Ingest throughput into SQLite, against plain ``sqlite3.executemany`` of the same rows.

    python bench/bench_ingest.py --events 100000
    python bench/bench_ingest.py --events 100000 --profile     # cProfile of the ingest only

Three runs over the same JSONL file, each into a fresh SQLite file migrated by the
project's migrations (same schema and indexes) and opened through the project's
engine (same PRAGMAs: WAL, synchronous=NORMAL, foreign_keys, cache_size):

1. **q2c ingest**: ``services.ingest.ingest_paths`` (read, validate, de-duplicate,
   stitch, write ``events`` + ``transactions`` + ``transaction_keys``).
2. **baseline, parse + insert**: read the same file line by line, ``orjson.loads``,
   build the same ``events`` row tuple (every column incl. ``raw``, ``keys_json``,
   the sha256 ``content_hash`` of the raw bytes, the UTC time, the anchored
   ``transaction_id``) and
   ``executemany`` it, one commit per batch of ``ingest_batch_size`` rows.
3. **baseline, pure insert**: the same tuples built before the clock starts; only
   ``executemany`` + ``commit`` per batch is timed.

The target is q2c ingest >= 0.5x the rate of baseline 2.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import os
import pstats
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from _common import OUT_DIR, ensure_events, human_count, print_machine, remove_sqlite, write_json

from services.catalog import load_catalog
from services.db import make_engine, migrate
from services.ingest import ingest_paths
from services.settings import load_settings
from services.store import EVENT_COLUMNS

TARGET_RATIO = 0.5
_COLUMNS = EVENT_COLUMNS  # the same rows q2c stores (the baseline builds each field itself)
_INSERT = f"INSERT INTO events ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_STATUS = {
    "com.q2c.step.started": "started",
    "com.q2c.step.succeeded": "succeeded",
    "com.q2c.step.failed": "failed",
}
_TS = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy's SQLite DateTime stores a datetime


def _tx_id(cid: str | None, source: str, event_id: str) -> str:
    text = ("c\x00" + cid) if cid else ("p\x00" + source + "\x00" + event_id)
    return "tx-" + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


def build_row(raw: str, value: dict[str, Any], run_id: int, now: str) -> tuple[Any, ...]:
    """The ``events`` row the project stores for one event (every column but ``pk``)."""
    data = value["data"]
    err = data.get("error") or {}
    cid = value.get("correlationid")
    when = datetime.fromisoformat(value["time"]).astimezone(UTC).replace(tzinfo=None)
    latency = data.get("latency_ms")
    amount = data.get("amount")
    return (
        value["source"],
        value["id"],
        _STATUS[value["type"]],
        when.strftime(_TS),
        data["system"],
        data["operation"],
        data.get("flow"),
        data.get("attempt", 1),
        cid,
        value.get("subject"),
        orjson.dumps(data.get("keys") or {}).decode(),
        err.get("code"),
        err.get("message"),
        err.get("http_status"),
        err.get("retryable"),
        None if amount is None else str(amount),
        data.get("currency"),
        data.get("legal_entity"),
        None if latency is None else float(latency),
        hashlib.sha256(raw.encode()).hexdigest(),  # as services.store.raw_digest
        raw,
        _tx_id(cid, value["source"], value["id"]),
        run_id,
        now,
    )


def _raw_lines(path: Path) -> Iterator[str]:
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                yield line.rstrip(b"\r\n").decode("utf-8")


def _fresh_store(db: Path) -> tuple[Any, sqlite3.Connection, int]:
    """A migrated SQLite file; the project's engine, a raw connection with its PRAGMAs."""
    remove_sqlite(db)
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    conn = engine.raw_connection().driver_connection
    assert isinstance(conn, sqlite3.Connection)
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    assert mode == "wal" and sync == 1, (mode, sync)
    cols = {r[1] for r in conn.execute("PRAGMA table_info(events)")} - {"pk"}
    if cols != set(_COLUMNS):
        raise SystemExit(
            f"the events table changed: {sorted(cols ^ set(_COLUMNS))}; update bench_ingest.py"
        )
    cur = conn.execute(
        "INSERT INTO ingest_runs (started_at, origin, files, received, accepted, duplicates,"
        " conflicts, rejected) VALUES (?, 'bench', '', 0, 0, 0, 0, 0)",
        (datetime.now(UTC).strftime(_TS),),
    )
    run_id = cur.lastrowid
    conn.commit()
    assert run_id is not None
    return engine, conn, run_id


def _db_mb(db: Path) -> float:
    return (
        sum(Path(str(db) + s).stat().st_size for s in ("", "-wal") if Path(str(db) + s).exists())
        / 1e6
    )


def _insert_batch(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """One transaction per batch. SQLAlchemy 2.1 runs pysqlite in autocommit mode
    (``isolation_level=None``) and emits BEGIN itself, so the baseline does too."""
    conn.execute("BEGIN")
    conn.executemany(_INSERT, rows)
    conn.commit()


def baseline_parse_insert(path: Path, db: Path, batch_size: int) -> dict[str, Any]:
    """Read + orjson.loads + build tuple + executemany, one commit per batch (all timed)."""
    engine, conn, run_id = _fresh_store(db)
    now = datetime.now(UTC).strftime(_TS)
    rows: list[tuple[Any, ...]] = []
    n = 0
    t0 = time.perf_counter()
    for raw in _raw_lines(path):
        rows.append(build_row(raw, orjson.loads(raw), run_id, now))
        if len(rows) >= batch_size:
            _insert_batch(conn, rows)
            n += len(rows)
            rows = []
    if rows:
        _insert_batch(conn, rows)
        n += len(rows)
    secs = time.perf_counter() - t0
    conn.close()
    engine.dispose()
    return {"events": n, "seconds": secs, "rate": n / secs, "db_mb": _db_mb(db)}


def baseline_pure_insert(path: Path, db: Path, batch_size: int) -> dict[str, Any]:
    """executemany + commit per batch of tuples built beforehand (only the inserts timed)."""
    engine, conn, run_id = _fresh_store(db)
    now = datetime.now(UTC).strftime(_TS)
    n = 0
    secs = 0.0

    def insert(rows: list[tuple[Any, ...]]) -> float:
        t0 = time.perf_counter()
        _insert_batch(conn, rows)
        return time.perf_counter() - t0

    rows: list[tuple[Any, ...]] = []
    for raw in _raw_lines(path):
        rows.append(build_row(raw, orjson.loads(raw), run_id, now))
        if len(rows) >= batch_size:
            secs += insert(rows)
            n += len(rows)
            rows = []
    if rows:
        secs += insert(rows)
        n += len(rows)
    conn.close()
    engine.dispose()
    return {"events": n, "seconds": secs, "rate": n / secs, "db_mb": _db_mb(db)}


def project_ingest(path: Path, db: Path, *, profile: bool = False) -> dict[str, Any]:
    """``services.ingest.ingest_paths`` into a fresh migrated store (only the call timed)."""
    remove_sqlite(db)
    url = f"sqlite:///{db}"
    settings = load_settings(database_url=url)
    catalog = load_catalog(settings.flow_catalog)
    engine = make_engine(url)
    migrate(engine)
    marks: list[tuple[float, int]] = []
    done = 0

    def progress(k: int, _bytes: int = 0) -> None:
        nonlocal done
        done += k
        marks.append((time.perf_counter(), done))

    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    summary = ingest_paths(
        engine=engine, paths=[str(path)], settings=settings, catalog=catalog, progress=progress
    )
    if prof:
        prof.disable()
    secs = time.perf_counter() - t0
    with engine.connect() as conn:
        n_tx = conn.exec_driver_sql("SELECT count(*) FROM transactions").scalar_one()
        n_keys = conn.exec_driver_sql("SELECT count(*) FROM transaction_keys").scalar_one()
    engine.dispose()
    # Throughput over each tenth of the file: does it slow down as the store grows?
    deciles: list[float] = []
    step = max(1, summary.received // 10)
    prev_t, prev_n = t0, 0
    for t, n in marks:
        if n - prev_n >= step or n == done:
            deciles.append((n - prev_n) / max(t - prev_t, 1e-9))
            prev_t, prev_n = t, n
    out = {
        "events": summary.received,
        "accepted": summary.accepted,
        "duplicates": summary.duplicates,
        "rejected": summary.rejected,
        "conflicts": summary.conflicts,
        "transactions": n_tx,
        "transaction_keys": n_keys,
        "seconds": secs,
        "rate": summary.received / secs,
        "db_mb": _db_mb(db),
        "rate_by_tenth": [round(r) for r in deciles],
        "batch_size": settings.ingest_batch_size,
    }
    if prof:
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(45)
        out["profile"] = buf.getvalue()
    return out


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rate (the lower middle one for an even count)."""
    return sorted(runs, key=lambda r: r["rate"])[(len(runs) - 1) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--file", type=Path, default=None, help="default bench/out/events-N.jsonl")
    parser.add_argument(
        "--keep-db",
        type=Path,
        default=None,
        help="keep the q2c ingest store at this path (for bench_lookup.py)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="only the q2c ingest, under cProfile; print the hotspots",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="rounds of the three runs (default 3 up to 200k events, else 1)",
    )
    parser.add_argument("--json", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)

    info = print_machine("bench_ingest: ingest throughput vs plain sqlite3.executemany")
    path = ensure_events(args.events, args.file)
    size = path.stat().st_size
    print(f"input {path} ({args.events:,} events, {size / 1e6:.1f} MB)")
    _ = path.read_bytes() if size < 4e9 else b""  # warm the page cache: every run reads it hot
    label = human_count(args.events)
    batch = load_settings().ingest_batch_size
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    if args.profile:
        res = project_ingest(path, OUT_DIR / f"profile-{label}.db", profile=True)
        print(f"q2c ingest under cProfile: {res['rate']:,.0f} events/s ({res['seconds']:.1f} s)")
        print(res["profile"])
        remove_sqlite(OUT_DIR / f"profile-{label}.db")
        return 0

    results: dict[str, Any] = {"machine": info, "events": args.events, "file_mb": size / 1e6}
    repeat = args.repeat or (3 if args.events <= 200_000 else 1)
    base_db = OUT_DIR / f"baseline-{label}.db"
    db = args.keep_db or OUT_DIR / f"ingest-{label}.db"
    runs: dict[str, list[dict[str, Any]]] = {"parse": [], "pure": [], "q2c": []}
    print(
        f"\n{repeat} round(s), each: baseline parse + insert, baseline pure insert, "
        f"q2c ingest_paths (commit per {batch} rows); the median of each is reported",
        flush=True,
    )
    for r in range(repeat):
        a = baseline_parse_insert(path, base_db, batch)
        b = baseline_pure_insert(path, base_db, batch)
        remove_sqlite(base_db)
        p = project_ingest(path, db)
        if r < repeat - 1 or not args.keep_db:
            remove_sqlite(db)
        for name, res in (("parse", a), ("pure", b), ("q2c", p)):
            runs[name].append(res)
        print(
            f"  round {r + 1}: parse+insert {a['rate']:,.0f}/s, pure insert {b['rate']:,.0f}/s,"
            f" q2c {p['rate']:,.0f}/s (load average {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    a, b, p = (_median(runs[k]) for k in ("parse", "pure", "q2c"))
    results["baseline_parse_insert"] = a
    results["baseline_pure_insert"] = b
    results["q2c_ingest"] = p
    results["rounds"] = {k: [round(x["rate"]) for x in v] for k, v in runs.items()}
    results["round_ratios"] = [
        round(q["rate"] / x["rate"], 3) for q, x in zip(runs["q2c"], runs["parse"], strict=True)
    ]
    print(
        f"\nq2c: {p['accepted']:,} accepted, {p['rejected']} rejected, {p['transactions']:,} "
        f"transactions, store {p['db_mb']:.0f} MB (baseline store {a['db_mb']:.0f} MB)"
    )
    print(f"q2c events/s by tenth of the file: {p['rate_by_tenth']}")

    ratio = p["rate"] / a["rate"]
    results["ratio_vs_parse_insert"] = ratio
    results["ratio_vs_pure_insert"] = p["rate"] / b["rate"]
    results["target_met"] = ratio >= TARGET_RATIO
    print()
    print("| run | events/s | seconds | what is timed |")
    print("|---|---:|---:|---|")
    print(
        f"| q2c ingest_paths | {p['rate']:,.0f} | {p['seconds']:.1f} | read, validate, dedupe, "
        "stitch, events + transactions + transaction_keys |"
    )
    print(
        f"| baseline: parse + insert | {a['rate']:,.0f} | {a['seconds']:.1f} | read, "
        "orjson.loads, build events row, executemany |"
    )
    print(
        f"| baseline: pure insert | {b['rate']:,.0f} | {b['seconds']:.1f} | executemany + "
        "commit of prebuilt tuples only |"
    )
    print()
    print(
        f"q2c / baseline parse+insert = {ratio:.2f}x (target >= {TARGET_RATIO}x: "
        f"{'MET' if ratio >= TARGET_RATIO else 'NOT MET'})"
    )
    print(f"q2c / baseline pure insert  = {results['ratio_vs_pure_insert']:.2f}x")
    if repeat > 1:
        print(f"q2c / baseline parse+insert per round: {results['round_ratios']}")
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
