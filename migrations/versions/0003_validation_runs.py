"""Validation runs: every order validation with its checks and evidence.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 07:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "validation_runs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("opportunity_id", sa.String(length=18), nullable=False),
        sa.Column("created", sa.DateTime(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("took_ms", sa.Float(), nullable=True),
        sa.Column("result_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_validation_runs_opportunity", "validation_runs", ["opportunity_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_validation_runs_opportunity", table_name="validation_runs")
    op.drop_table("validation_runs")
