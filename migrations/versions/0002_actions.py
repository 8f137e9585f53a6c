"""Actions: hash-chained audit log, step claims, bulk replay runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 07:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", BigId, autoincrement=False, nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("reason_code", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("transaction_id", sa.String(length=40), nullable=True),
        sa.Column("step", sa.String(length=200), nullable=True),
        sa.Column("target", sa.String(length=256), nullable=True),
        sa.Column("idempotency_key", sa.String(length=256), nullable=True),
        sa.Column("request_json", sa.Text(), nullable=True),
        sa.Column("diff_json", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("response_json", sa.Text(), nullable=True),
        sa.Column("detail_json", sa.Text(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("hash"),
    )
    op.create_index("ix_audit_log_transaction", "audit_log", ["transaction_id"])
    op.create_index("ix_audit_log_created", "audit_log", ["created"])
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", BigId, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "step_claims",
        sa.Column("effect_key", sa.String(length=512), nullable=False),
        sa.Column("transaction_id", sa.String(length=40), nullable=False),
        sa.Column("step", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("outcome_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("effect_key"),
    )
    op.create_table(
        "bulk_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("requester", sa.String(length=128), nullable=False),
        sa.Column("requester_role", sa.String(length=16), nullable=False),
        sa.Column("reason_code", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("filters_json", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("needs_approval", sa.Boolean(), nullable=False),
        sa.Column("approver", sa.String(length=128), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("money_json", sa.Text(), nullable=False),
        sa.Column("counts_json", sa.Text(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "bulk_items",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("transaction_id", sa.String(length=40), nullable=False),
        sa.Column("step", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "transaction_id", "step"),
    )
    op.create_index("ix_bulk_items_run_state", "bulk_items", ["run_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_bulk_items_run_state", table_name="bulk_items")
    op.drop_table("bulk_items")
    op.drop_table("bulk_runs")
    op.drop_table("step_claims")
    op.drop_table("audit_head")
    op.drop_index("ix_audit_log_created", table_name="audit_log")
    op.drop_index("ix_audit_log_transaction", table_name="audit_log")
    op.drop_table("audit_log")
