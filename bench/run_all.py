"""Run every bench on one generated file and print a Markdown summary (``make bench``).

    python bench/run_all.py                    # 1,000,000 events: several minutes
    python bench/run_all.py --events 20000     # a quick run

Steps, one child process each so no run inherits another's memory or caches:
generate the file (if missing), ``bench_ingest.py`` (keeps its q2c store),
``bench_lookup.py`` on that store, ``bench_memory.py``. The summary is printed and
written to ``bench/out/results-<N>.md``; each script's JSON sits next to it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import (
    BENCH_DIR,
    OUT_DIR,
    ROOT,
    ensure_events,
    human_count,
    print_machine,
    remove_sqlite,
)


def _run(script: str, args: list[str]) -> None:
    cmd = [sys.executable, str(BENCH_DIR / script), *args]
    print(f"\n$ {' '.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    print(f"({script}: {time.perf_counter() - t0:.0f} s)", flush=True)


def _verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def summary_markdown(
    info: dict[str, Any], ingest: dict[str, Any], lookup: dict[str, Any], memory: dict[str, Any]
) -> str:
    q, a, b = ingest["q2c_ingest"], ingest["baseline_parse_insert"], ingest["baseline_pure_insert"]
    n = ingest["events"]
    lines = [
        f"## Results: {n:,} events ({ingest['file_mb']:,.0f} MB JSONL)",
        "",
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gib']} GiB RAM, "
        f"{info['os']}, Python {info['python']}, SQLite {info['sqlite']}, "
        f"SQLAlchemy {info['sqlalchemy']}. Code: {info['commit']}. Date: {info['date']}.",
        "",
        "### Ingest into SQLite (batch size {})".format(q["batch_size"]),
        "",
        "| run | events/s | seconds | what is timed |",
        "|---|---:|---:|---|",
        f"| q2c `ingest_paths` | {q['rate']:,.0f} | {q['seconds']:.1f} | read, validate, "
        "de-duplicate, stitch; write events, transactions, transaction_keys |",
        f"| baseline: parse + insert | {a['rate']:,.0f} | {a['seconds']:.1f} | read the file, "
        "orjson.loads, build the events row, executemany, commit per batch |",
        f"| baseline: pure insert | {b['rate']:,.0f} | {b['seconds']:.1f} | executemany + "
        "commit of prebuilt row tuples only |",
        "",
        f"q2c events/s by tenth of the file: {q['rate_by_tenth']}",
        "",
        "### Trace lookup (`find_traces`), warm page cache",
        "",
        "| key type | lookups | p50 ms | p95 ms | p99 ms | traces/lookup (max) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in lookup["by_key"]:
        lines.append(
            f"| {r['key']} | {r['lookups']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['mean_transactions']:.1f} ({r['max_transactions']}) |"
        )
    o = lookup["overall"]
    lines += [
        f"| all | {o['lookups']} | {o['p50_ms']:.2f} | {o['p95_ms']:.2f} | {o['p99_ms']:.2f} | |",
        "",
        "### Peak memory of `q2c ingest` in a child process"
        if memory["mode"] == "cli"
        else "### Peak memory of `ingest_paths` in a child process",
        "",
        "| run | peak RSS MB | seconds |",
        "|---|---:|---:|",
        f"| reference: 10 events | {memory['reference']['peak_rss_mb']:.0f} | "
        f"{memory['reference']['seconds']:.1f} |",
        f"| {n:,} events ({memory['file_mb']:,.0f} MB file) | {memory['run']['peak_rss_mb']:.0f} "
        f"| {memory['run']['seconds']:.1f} |",
        "",
        "### Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        f"| ingest >= 0.5x plain executemany (parse + insert) | "
        f"{ingest['ratio_vs_parse_insert']:.2f}x ({ingest['ratio_vs_pure_insert']:.2f}x of pure "
        f"insert) | {_verdict(ingest['target_met'])} |",
        f"| lookup p95 <= 5 ms, every key type, {lookup['events']:,} events stored | worst p95 "
        f"{max(r['p95_ms'] for r in lookup['by_key']):.1f} ms "
        f"({max(lookup['by_key'], key=lambda r: r['p95_ms'])['key']}) | "
        f"{_verdict(lookup['target_met'])} |",
        f"| peak RSS < 300 MB ingesting {n:,} events | {memory['run']['peak_rss_mb']:.0f} MB | "
        f"{_verdict(memory['target_met'])} |",
    ]
    commits = {d["machine"]["commit"] for d in (ingest, lookup, memory)}
    if len(commits) > 1:
        lines += [
            "",
            f"Warning: the code changed during the run ({', '.join(sorted(commits))}); "
            "the three benches did not measure the same commit.",
        ]
    if n < 1_000_000:
        lines += ["", f"(Targets are stated for 1,000,000 events; this run used {n:,}.)"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=200, help="lookups per key type")
    parser.add_argument("--memory-mode", choices=("cli", "function"), default="cli")
    parser.add_argument(
        "--keep-store", action="store_true", help="keep bench/out/store-N.db after the run"
    )
    args = parser.parse_args(argv)

    info = print_machine(f"run_all: every bench on {args.events:,} events")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    label = human_count(args.events)
    path = ensure_events(args.events)
    store = OUT_DIR / f"store-{label}.db"
    results = {name: OUT_DIR / f"{name}-{label}.json" for name in ("ingest", "lookup", "memory")}
    n = str(args.events)
    _run(
        "bench_ingest.py",
        [
            "--events",
            n,
            "--file",
            str(path),
            "--keep-db",
            str(store),
            "--json",
            str(results["ingest"]),
        ],
    )
    _run(
        "bench_lookup.py",
        ["--db", str(store), "--lookups", str(args.lookups), "--json", str(results["lookup"])],
    )
    if not args.keep_store:
        remove_sqlite(store)
    _run(
        "bench_memory.py",
        [
            "--events",
            n,
            "--file",
            str(path),
            "--mode",
            args.memory_mode,
            "--json",
            str(results["memory"]),
        ],
    )

    data = {k: json.loads(Path(v).read_text()) for k, v in results.items()}
    text = summary_markdown(info, data["ingest"], data["lookup"], data["memory"])
    out = OUT_DIR / f"results-{label}.md"
    out.write_text(text)
    print("\n" + text)
    print(f"(written to {out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
