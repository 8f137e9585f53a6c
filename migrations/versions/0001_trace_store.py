"""Trace store: events, transactions, business keys, quarantine and ingest runs.

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 03:39:12.640190
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('ingest_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('origin', sa.String(length=40), nullable=False),
    sa.Column('files', sa.Text(), nullable=False),
    sa.Column('received', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('duplicates', sa.Integer(), nullable=False),
    sa.Column('conflicts', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('transaction_keys',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('transaction_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=512), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('transaction_id', 'name', 'value', name='uq_transaction_keys')
    )
    with op.batch_alter_table('transaction_keys', schema=None) as batch_op:
        batch_op.create_index('ix_transaction_keys_value', ['value'], unique=False)

    op.create_table('transactions',
    sa.Column('transaction_id', sa.String(length=40), nullable=False),
    sa.Column('correlation_id', sa.String(length=256), nullable=True),
    sa.Column('flow', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('first_time', sa.DateTime(), nullable=False),
    sa.Column('last_time', sa.DateTime(), nullable=False),
    sa.Column('event_count', sa.Integer(), nullable=False),
    sa.Column('systems', sa.String(length=512), nullable=False),
    sa.Column('failed_system', sa.String(length=64), nullable=True),
    sa.Column('failed_operation', sa.String(length=128), nullable=True),
    sa.Column('error_code', sa.String(length=128), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('last_step', sa.String(length=200), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('amount', sa.String(length=64), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('legal_entity', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('transaction_id'),
    sa.UniqueConstraint('correlation_id')
    )
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.create_index('ix_transactions_flow', ['flow'], unique=False)
        batch_op.create_index('ix_transactions_last_time', ['last_time'], unique=False)
        batch_op.create_index('ix_transactions_status_last', ['status', 'last_time'], unique=False)

    op.create_table('events',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('source', sa.String(length=512), nullable=False),
    sa.Column('event_id', sa.String(length=512), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('time', sa.DateTime(), nullable=False),
    sa.Column('system', sa.String(length=64), nullable=False),
    sa.Column('operation', sa.String(length=128), nullable=False),
    sa.Column('flow', sa.String(length=64), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('correlation_id', sa.String(length=256), nullable=True),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('keys_json', sa.Text(), nullable=False),
    sa.Column('error_code', sa.String(length=128), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('http_status', sa.Integer(), nullable=True),
    sa.Column('retryable', sa.Boolean(), nullable=True),
    sa.Column('amount', sa.String(length=64), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('legal_entity', sa.String(length=64), nullable=True),
    sa.Column('latency_ms', sa.Float(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('transaction_id', sa.String(length=40), nullable=False),
    sa.Column('ingest_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ingest_run_id'], ['ingest_runs.id'], ),
    sa.PrimaryKeyConstraint('pk'),
    sa.UniqueConstraint('event_id', 'source', name='uq_events_id_source')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_error_code', ['error_code'], unique=False, sqlite_where=sa.text('error_code IS NOT NULL'), postgresql_where=sa.text('error_code IS NOT NULL'))
        batch_op.create_index('ix_events_tx_time', ['transaction_id', 'time'], unique=False)

    op.create_table('quarantine',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('ingest_run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('location', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=512), nullable=True),
    sa.Column('event_id', sa.String(length=512), nullable=True),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['ingest_run_id'], ['ingest_runs.id'], ),
    sa.PrimaryKeyConstraint('pk')
    )
    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.create_index('ix_quarantine_source_id', ['source', 'event_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('quarantine', schema=None) as batch_op:
        batch_op.drop_index('ix_quarantine_source_id')

    op.drop_table('quarantine')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_tx_time')
        batch_op.drop_index('ix_events_error_code', sqlite_where=sa.text('error_code IS NOT NULL'), postgresql_where=sa.text('error_code IS NOT NULL'))

    op.drop_table('events')
    with op.batch_alter_table('transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_transactions_status_last')
        batch_op.drop_index('ix_transactions_last_time')
        batch_op.drop_index('ix_transactions_flow')

    op.drop_table('transactions')
    with op.batch_alter_table('transaction_keys', schema=None) as batch_op:
        batch_op.drop_index('ix_transaction_keys_value')

    op.drop_table('transaction_keys')
    op.drop_table('ingest_runs')

