"""Health roll-ups: kept exact on ingest, and health from them equals health from the rows.

The data: the bench generator's transactions, one starting every ~10 minutes for a
few days (failures, retries, stuck ones, ERP events that arrive before the event
that links them and merge later), ingested out of order in many small batches.
"""

from __future__ import annotations

import importlib.util
import random
import sqlite3
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, text

from services.console import Console
from services.db import make_engine
from services.health import compute_health
from services.ingest import ingest_events
from services.money import display_amount
from services.rollups import latency_bucket, rebuild
from services.rollups.facts import split_amount
from tests.factories import make_event

ROOT = Path(__file__).resolve().parents[2]
SLA = {"order_activation": 5, "payment": 1, "renewal": 90, "amendment": 3}
STUCK = timedelta(minutes=30)


def _generated(tmp_path: Path, events: int = 2400) -> list[dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("gen_events", ROOT / "bench" / "gen_events.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    out = tmp_path / "events.jsonl"
    gen.generate(events, out, seed=11, interval_ms=600_000)
    return [orjson.loads(line) for line in out.read_bytes().splitlines()]


def _ingest_shuffled(engine: Engine, events: list[dict[str, Any]], seed: int = 3) -> None:
    """Small batches, each shuffled, some events held back to arrive much later."""
    rnd = random.Random(seed)
    late = [e for e in events if rnd.random() < 0.05]
    rest = [e for e in events if e not in late]
    chunks = [rest[i : i + rnd.randrange(20, 200)] for i in range(0, len(rest), 120)]
    for chunk in [*chunks, late]:
        rnd.shuffle(chunk)
        ingest_events(engine=engine, events=chunk)


def _rollup_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with engine.connect() as conn:
        for table in ("rollup_tx", "rollup_latency", "rollup_errors"):
            rows = conn.execute(text(f"SELECT * FROM {table} WHERE n != 0")).all()
            out[table] = sorted(tuple(str(v) for v in r) for r in rows)
    return out


@pytest.fixture
def generated(console: Console, tmp_path: Path) -> tuple[Engine, datetime, datetime]:
    events = _generated(tmp_path)
    _ingest_shuffled(console.engine, events)
    times = sorted(datetime.fromisoformat(e["time"].rstrip("Z")) for e in events)
    return console.engine, times[0], times[-1]


def test_rollups_kept_on_ingest_equal_a_rebuild(
    generated: tuple[Engine, datetime, datetime],
) -> None:
    engine = generated[0]
    kept = _rollup_rows(engine)
    assert len(kept["rollup_tx"]) > 50 and kept["rollup_latency"] and kept["rollup_errors"]
    with engine.begin() as conn:
        rebuild(conn)
    assert _rollup_rows(engine) == kept


def _both(engine: Engine, **kw: Any) -> tuple[Any, Any]:
    fast = compute_health(engine=engine, stuck_after=STUCK, sla_minutes=SLA, **kw)
    rows = compute_health(engine=engine, stuck_after=STUCK, sla_minutes=SLA, rollups=False, **kw)
    return fast, rows


def test_health_from_rollups_equals_health_from_rows(
    generated: tuple[Engine, datetime, datetime],
) -> None:
    engine, start, end = generated
    span = end - start
    rnd = random.Random(5)
    nows = [end + timedelta(hours=2), start + span / 2, start + span / 3 + timedelta(seconds=7)]
    hour = start.replace(minute=0, second=0, microsecond=0)
    windows: list[tuple[datetime | None, datetime | None]] = [
        (None, None),
        (hour + timedelta(hours=5), None),  # on an hour
        (start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1), None),
        (None, hour + timedelta(days=1, hours=3)),
        (start + timedelta(hours=30, seconds=17), start + timedelta(hours=31)),  # hourly trend
    ]
    for _ in range(4):
        a = start + timedelta(seconds=rnd.randrange(int(span.total_seconds())))
        windows.append((a, a + timedelta(seconds=rnd.randrange(3600, 4 * 86400))))
    compared = 0
    for now in nows:
        for since, until in windows:
            if since and until and since > until:
                continue
            fast, rows = _both(engine, since=since, until=until, now=now)
            a, b = fast.model_dump(), rows.model_dump()
            differ = {k: (a[k], b[k]) for k in a if a[k] != b[k]}  # roll-ups, rows
            assert not differ, (since, until, now, differ)
            compared += fast.total
    assert compared > 1000  # the windows held transactions, not only empty answers


def test_an_event_on_a_whole_second_is_inside_a_window_starting_then(console: Console) -> None:
    ev = make_event(id="w1", correlationid="w-1", time="2026-05-11T10:00:00Z", amount="5.00",
                    currency="USD", type="failed")  # fmt: skip
    ingest_events(engine=console.engine, events=[ev])
    for rollups in (True, False):
        h = compute_health(engine=console.engine, since=datetime(2026, 5, 11, 10), until=None,
                           stuck_after=STUCK, sla_minutes={}, now=datetime(2026, 5, 11, 12),
                           rollups=rollups)  # fmt: skip
        assert h.by_status["failed"] == 1
        h = compute_health(engine=console.engine, since=None, until=datetime(2026, 5, 11, 10),
                           stuck_after=STUCK, sla_minutes={}, now=datetime(2026, 5, 11, 12),
                           rollups=rollups)  # fmt: skip
        assert h.by_status["failed"] == 1


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [(0, 0), (0.2, 1), (1, 1), (59, 59), (59.5, 60), (60, 60), (61, 65), (64.000001, 65),
     (599, 600), (600, 600), (600.5, 660), (3600, 3600), (3601, 3660), (2 * 86400 + 1, 172860)],
)  # fmt: skip
def test_latency_buckets_in_python_and_in_sql_agree(
    console: Console, seconds: float, bucket: int
) -> None:
    start = datetime(2026, 5, 11, 10, 0, 0, 250_000)
    end = start + timedelta(seconds=seconds)
    assert latency_bucket(start, end) == bucket
    events = [
        make_event(id="l1", correlationid="lat-1", flow="payment", source="urn:q2c:billing",
                   system="billing", operation="payment.apply", time=_iso(start)),
        make_event(id="l2", correlationid="lat-1", flow="payment", source="urn:q2c:salesforce",
                   system="salesforce", operation="account.writeback", time=_iso(end)),
    ]  # fmt: skip
    ingest_events(engine=console.engine, events=events)
    fast, rows = _both(console.engine, since=None, until=None, now=end + timedelta(days=9))
    assert fast.latency_ms == rows.latency_ms == {"payment": {"p50": bucket * 1000,
                                                              "p95": bucket * 1000}}  # fmt: skip
    # "longer than the SLA" is exact on the bucket: 60 s is not longer than 1 minute
    sla = compute_health(engine=console.engine, since=None, until=None, stuck_after=STUCK,
                         sla_minutes={"payment": 1}, now=end + timedelta(days=9))  # fmt: skip
    assert sla.sla_breaches == ({"payment": 1} if seconds > 60 else {})


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="microseconds") + "Z"


def test_money_the_rollups_cannot_hold_exactly_is_summed_from_the_rows(console: Console) -> None:
    amounts = [("0.0000001", "USD"), ("2E+12", "USD"), ("10.10", "USD"), ("99999999999.999999", "EUR"),
               ("-0.5", "EUR"), ("1500", "JPY")]  # fmt: skip
    events = [
        make_event(id=f"m{i}", correlationid=f"m-{i}", type="failed", amount=a, currency=c)
        for i, (a, c) in enumerate(amounts)
    ]
    ingest_events(engine=console.engine, events=events)
    fast, rows = _both(console.engine, since=None, until=None, now=datetime(2026, 5, 12))
    assert fast.money_at_risk == rows.money_at_risk
    assert {c: str(a) for c, a in fast.money_at_risk.items()} == {
        "EUR": "99999999999.499999",
        "JPY": "1500",
        "USD": "2000000000010.1000001",
    }


def test_split_amount_is_exact_or_says_it_cannot_be() -> None:
    assert split_amount(None) == (0, 0, 0, 0)
    assert split_amount("24000.00") == (1, 24000, 0, 0)
    assert split_amount("-10.25") == (1, -11, 750_000, 0)
    assert split_amount("0.0000001") == (1, 0, 0, 1)  # seven places
    assert split_amount("1E+12") == (1, 0, 0, 1)  # a trillion
    assert split_amount("999999999999.999999") == (1, 999_999_999_999, 999_999, 0)


def test_display_amount_uses_the_currency_minor_units_and_never_rounds() -> None:
    assert str(display_amount(Decimal("30.3"), "USD")) == "30.30"
    assert str(display_amount(Decimal("7"), "JPY")) == "7"
    assert str(display_amount(Decimal("1.5"), "KWD")) == "1.500"
    assert str(display_amount(Decimal("0.125"), "EUR")) == "0.125"
    assert str(display_amount(Decimal("12"), "ZZZ")) == "12.00"


def test_migration_0005_fills_the_rollups_and_evens_out_old_times(tmp_path: Path) -> None:
    """A store written before 0005: whole-second times without ``.000000``, no roll-ups."""
    from alembic import command
    from alembic.config import Config

    from services.db import MIGRATIONS_DIR, migrate

    db = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{db}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
    raw = sqlite3.connect(db)
    raw.execute(
        "INSERT INTO transactions (transaction_id, correlation_id, flow, status, first_time, "
        "last_time, event_count, systems, failed_system, amount, currency, legal_entity) VALUES "
        "('tx-old', 'c-old', 'payment', 'failed', '2026-05-11 10:00:00', "
        "'2026-05-11 10:05:00', 2, ',erp,', 'erp', '12.50', 'USD', 'US01')"
    )
    raw.commit()
    raw.close()
    migrate(engine)
    with engine.connect() as conn:
        first = conn.execute(text("SELECT first_time FROM transactions")).scalar()
        n = conn.execute(text("SELECT sum(n) FROM rollup_tx WHERE grain = 'day'")).scalar()
    assert first == "2026-05-11 10:00:00.000000"
    assert n == 1
    h = compute_health(engine=engine, since=datetime(2026, 5, 11, 10), until=None,
                       stuck_after=STUCK, sla_minutes={}, now=datetime(2026, 5, 13))  # fmt: skip
    assert h.by_status["failed"] == 1
    assert {c: str(a) for c, a in h.money_at_risk.items()} == {"USD": "12.50"}
    engine.dispose()
