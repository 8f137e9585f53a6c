"""Health roll-ups: transactions, latency and errors per month, day and hour.

Also: stored SQLite times made uniform (see ``_SQLITE_TIMES``), and an index on
``transactions.first_time``: the health figures read the rows of
the hours a window's end cuts. The roll-ups are filled from the stored transactions
with ``services.rollups.rebuild``; a later migration that reshapes them must
rebuild them itself.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _bucket_columns() -> list[sa.Column]:
    return [
        sa.Column("grain", sa.String(length=8), nullable=False),
        sa.Column("last_start", sa.DateTime(), nullable=False),
        sa.Column("first_start", sa.DateTime(), nullable=False),
    ]


# Before 0005 the ingest writer let the sqlite3 module format times, which leaves out
# ".000000" on a whole second, while SQLAlchemy binds always carry it: as text,
# "10:00:00" sorts before "10:00:00.000000", so a window or period starting on a whole
# second missed such events. Written times now always carry microseconds.
_SQLITE_TIMES = (("events", "time"), ("events", "received_at"),
                 ("transactions", "first_time"), ("transactions", "last_time"))  # fmt: skip


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, column in _SQLITE_TIMES:
            op.execute(
                f"UPDATE {table} SET {column} = {column} || '.000000' WHERE length({column}) = 19"
            )
    op.create_index("ix_transactions_first_time", "transactions", ["first_time"])
    op.create_table(
        "rollup_tx",
        *_bucket_columns(),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("legal_entity", sa.String(length=64), nullable=False),
        sa.Column("systems", sa.String(length=512), nullable=False),
        sa.Column("failed_system", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Column("with_amount", sa.BigInteger(), nullable=False),
        sa.Column("amount_units", sa.BigInteger(), nullable=False),
        sa.Column("amount_micros", sa.BigInteger(), nullable=False),
        sa.Column("odd_amounts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "grain",
            "last_start",
            "first_start",
            "flow",
            "legal_entity",
            "systems",
            "failed_system",
            "status",
            "currency",
        ),  # fmt: skip
    )
    op.create_index("ix_rollup_tx_first", "rollup_tx", ["grain", "first_start"])
    op.create_table(
        "rollup_latency",
        *_bucket_columns(),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("grain", "last_start", "first_start", "flow", "seconds"),
    )
    op.create_index("ix_rollup_latency_first", "rollup_latency", ["grain", "first_start"])
    op.create_table(
        "rollup_errors",
        *_bucket_columns(),
        sa.Column("failed_system", sa.String(length=64), nullable=False),
        sa.Column("failed_operation", sa.String(length=128), nullable=False),
        sa.Column("error_code", sa.String(length=128), nullable=False),
        sa.Column("message_key", sa.String(length=40), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "grain",
            "last_start",
            "first_start",
            "failed_system",
            "failed_operation",
            "error_code",
            "message_key",
        ),  # fmt: skip
    )
    op.create_index("ix_rollup_errors_first", "rollup_errors", ["grain", "first_start"])

    from services.rollups import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    for table in ("rollup_errors", "rollup_latency", "rollup_tx"):
        op.drop_index(f"ix_{table}_first", table_name=table)
        op.drop_table(table)
    op.drop_index("ix_transactions_first_time", table_name="transactions")
