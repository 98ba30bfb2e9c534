"""Idempotency keys of the channels' requests on existing orders.

``request_keys``: one row per ``(caller, key)``, written in the transaction of
the change a keyed request made (cancel, satisfaction, attach, location, a
photo), so a retried request is applied once and answered again from the
order it acted on. Rows older than ``service.request_keys.KEY_RETENTION`` are
deleted as new ones are written.

Revision ID: 0006_api_request_keys
Revises: 0005_request_kind
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0006_api_request_keys'
down_revision: str | Sequence[str] | None = '0005_request_kind'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('request_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('caller', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('order_number', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_keys')),
    sa.UniqueConstraint('caller', 'key', name='uq_request_keys_caller_key')
    )
    op.create_index('ix_request_keys_created_at', 'request_keys', ['created_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index('ix_request_keys_created_at', table_name='request_keys')
    op.drop_table('request_keys')
