"""Keeping the roll-ups in step with ``transactions``: on every ingest batch, and in full.

``write_batch`` reads the old rows of the transactions it is about to rewrite
(``old_facts``), takes them away, adds the new ones and upserts the difference
(``apply``) in the same database transaction, so the roll-ups always add up to
the rows. ``rebuild`` recomputes them from ``transactions`` (migration 0005, and
``q2c health --rebuild`` after rows were written by anything but q2c).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, delete, select

from services.models import Transaction, time_binder
from services.rollups.facts import Deltas, Facts
from services.rollups.models import RollupErrors, RollupLatency, RollupTx

__all__ = ["FACT_COLUMNS", "apply", "old_facts", "rebuild"]

T = Transaction
FACT_COLUMNS = (
    T.first_time,
    T.last_time,
    T.flow,
    T.legal_entity,
    T.systems,
    T.failed_system,
    T.failed_operation,
    T.status,
    T.currency,
    T.amount,
    T.error_code,
    T.error_message,
)
_CHUNK = 900
_TX_KEY = ("grain", "last_start", "first_start", "flow", "legal_entity", "systems",
           "failed_system", "status", "currency")  # fmt: skip
_TX_SUMS = ("n", "with_amount", "amount_units", "amount_micros", "odd_amounts")
_LAT_KEY = ("grain", "last_start", "first_start", "flow", "seconds")
_ERR_KEY = ("grain", "last_start", "first_start", "failed_system", "failed_operation",
            "error_code", "message_key")  # fmt: skip


def _upsert(conn: Connection, table: str, key: Sequence[str], extra: Sequence[str],
            sums: Sequence[str]) -> str:  # fmt: skip
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    cols = [*key, *extra, *sums]
    adds = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in sums)
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {adds}"
    )


def apply(conn: Connection, deltas: Deltas) -> None:
    """Upsert the non-zero changes of ``deltas`` (counts add up; new keys are inserted)."""
    tx, lat, err = deltas.rows()
    bind = time_binder(conn.dialect)

    def timed(rows: Iterable[tuple]) -> list[tuple]:
        return [(r[0], bind(r[1]), bind(r[2]), *r[3:]) for r in rows]

    if tx:
        conn.exec_driver_sql(_upsert(conn, "rollup_tx", _TX_KEY, (), _TX_SUMS), timed(tx))
    if lat:
        conn.exec_driver_sql(_upsert(conn, "rollup_latency", _LAT_KEY, (), ("n",)), timed(lat))
    if err:
        stmt = _upsert(conn, "rollup_errors", _ERR_KEY, ("error_message",), ("n",))
        conn.exec_driver_sql(stmt, timed(err))


def old_facts(conn: Connection, transaction_ids: Iterable[str]) -> list[Facts]:
    """The stored rows of ``transaction_ids`` (those that exist), as ``Facts``."""
    ids = sorted(transaction_ids)
    out: list[Facts] = []
    for i in range(0, len(ids), _CHUNK):
        stmt = select(*FACT_COLUMNS).where(T.transaction_id.in_(ids[i : i + _CHUNK]))
        out.extend(Facts._make(row) for row in conn.execute(stmt))
    return out


def rebuild(conn: Connection, *, batch: int = 20_000) -> int:
    """Recompute every roll-up from ``transactions``; returns the rows read.

    Reads the rows in batches (never all at once); the sums it holds meanwhile are
    one entry per roll-up row.
    """
    for table in (RollupTx, RollupLatency, RollupErrors):
        conn.execute(delete(table))
    deltas = Deltas()
    n = 0
    result = conn.execute(select(*FACT_COLUMNS).execution_options(yield_per=batch))
    for part in result.partitions():
        for row in part:
            deltas.add(Facts._make(row), 1)
        n += len(part)
    apply(conn, deltas)
    return n
