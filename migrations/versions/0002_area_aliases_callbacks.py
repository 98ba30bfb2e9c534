"""Area aliases, the fallback grid, callback requests.

``area_aliases``: other names of a grid (streets, landmarks) that place
resolution matches; ``areas.fallback``: the grid that receives reports whose
place matches none (at most one: a partial unique index); ``callback_requests``:
residents asking for a person (转人工), transcript and phone encrypted.

Revision ID: 0002_area_aliases_callbacks
Revises: 0001_initial
Create Date: 2025-12-01

Written for SQLite and PostgreSQL alike (``areas`` is altered in batch mode,
which SQLite needs to drop the column again on downgrade).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0002_area_aliases_callbacks'
down_revision: str | Sequence[str] | None = '0001_initial'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('areas') as batch_op:
        batch_op.add_column(
            sa.Column('fallback', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_index('uq_areas_fallback', 'areas', ['fallback'], unique=True,
                    sqlite_where=sa.text('fallback'), postgresql_where=sa.text('fallback'))

    op.create_table('area_aliases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('area_code', sa.String(length=64), nullable=False),
    sa.Column('alias', sa.String(length=100), nullable=False),
    sa.Column('alias_key', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['area_code'], ['areas.code'], name=op.f('fk_area_aliases_area_code_areas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_area_aliases')),
    sa.UniqueConstraint('alias_key', name=op.f('uq_area_aliases_alias_key'))
    )
    op.create_index(op.f('ix_area_aliases_area_code'), 'area_aliases', ['area_code'], unique=False)

    op.create_table('callback_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reporter_ref', sa.String(length=128), nullable=False),
    sa.Column('reporter_channel', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=24), nullable=False),
    sa.Column('transcript_enc', sa.Text(), nullable=False),
    sa.Column('contact_enc', sa.Text(), nullable=True),
    sa.Column('contact_hash', sa.String(length=64), nullable=True),
    sa.Column('order_number', sa.String(length=8), nullable=True),
    sa.Column('area_code', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_by', sa.String(length=80), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('client_ref', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['area_code'], ['areas.code'], name=op.f('fk_callback_requests_area_code_areas')),
    sa.ForeignKeyConstraint(['order_number'], ['work_orders.number'], name=op.f('fk_callback_requests_order_number_work_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callback_requests')),
    sa.UniqueConstraint('client_ref', name=op.f('uq_callback_requests_client_ref'))
    )
    op.create_index('ix_callback_requests_area_status', 'callback_requests', ['area_code', 'status'], unique=False)
    op.create_index(op.f('ix_callback_requests_contact_hash'), 'callback_requests', ['contact_hash'], unique=False)
    op.create_index('ix_callback_requests_status_created_at', 'callback_requests', ['status', 'created_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema (the new tables, then the fallback column; aliases and callbacks are lost)."""
    op.drop_table('callback_requests')
    op.drop_table('area_aliases')
    op.drop_index('uq_areas_fallback', table_name='areas')
    with op.batch_alter_table('areas') as batch_op:
        batch_op.drop_column('fallback')
