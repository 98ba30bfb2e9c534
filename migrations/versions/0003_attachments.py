"""Attachments: residents' photos, staged then attached to a work order.

``attachments``: the image bytes a channel uploaded for a resident
(``reporter_ref``), found by an unguessable ``public_id``; ``order_id`` is set
when the photo is attached to one of the resident's orders. The same bytes
from the same resident are stored once (unique ``reporter_ref, sha256``).

Revision ID: 0003_attachments
Revises: 0002_area_aliases_callbacks
Create Date: 2025-12-10

Written for SQLite and PostgreSQL alike.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0003_attachments'
down_revision: str | Sequence[str] | None = '0002_area_aliases_callbacks'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('attachments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('reporter_ref', sa.String(length=128), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attached_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['work_orders.id'], name=op.f('fk_attachments_order_id_work_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attachments')),
    sa.UniqueConstraint('public_id', name=op.f('uq_attachments_public_id')),
    sa.UniqueConstraint('reporter_ref', 'sha256', name='uq_attachments_reporter_ref_sha256')
    )
    op.create_index(op.f('ix_attachments_order_id'), 'attachments', ['order_id'], unique=False)
    op.create_index(op.f('ix_attachments_reporter_ref'), 'attachments', ['reporter_ref'], unique=False)


def downgrade() -> None:
    """Downgrade schema (the photos are lost)."""
    op.drop_index(op.f('ix_attachments_reporter_ref'), table_name='attachments')
    op.drop_index(op.f('ix_attachments_order_id'), table_name='attachments')
    op.drop_table('attachments')
