"""Initial schema.

Areas, handlers, work orders with their events and declines, staff users,
and the outbox.

Revision ID: 0001_initial
Revises:
Create Date: 2025-11-22

Written for SQLite and PostgreSQL alike; timestamps are stored as
``DateTime(timezone=True)`` (the ORM's ``UTCDateTime`` stores UTC in them).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0001_initial'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('areas',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('tier', sa.String(length=16), nullable=False),
    sa.Column('parent_code', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['parent_code'], ['areas.code'], name=op.f('fk_areas_parent_code_areas')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_areas'))
    )
    op.create_index(op.f('ix_areas_parent_code'), 'areas', ['parent_code'], unique=False)

    op.create_table('handlers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name_enc', sa.Text(), nullable=False),
    sa.Column('phone_enc', sa.Text(), nullable=True),
    sa.Column('phone_hash', sa.String(length=64), nullable=True),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('skills', sa.JSON(), nullable=False),
    sa.Column('areas', sa.JSON(), nullable=False),
    sa.Column('tier', sa.String(length=16), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('on_duty', sa.Boolean(), nullable=False),
    sa.Column('is_supervisor', sa.Boolean(), nullable=False),
    sa.Column('telegram_chat_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_handlers'))
    )
    op.create_index(op.f('ix_handlers_phone_hash'), 'handlers', ['phone_hash'], unique=False)
    op.create_index('ix_handlers_role_duty', 'handlers', ['role', 'on_duty'], unique=False)

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('recipient_kind', sa.String(length=16), nullable=False),
    sa.Column('recipient_ref', sa.String(length=128), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('order_number', sa.String(length=16), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=160), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('leased_by', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_outbox_dedupe_key'))
    )
    op.create_index('ix_outbox_due', 'outbox', ['status', 'next_attempt_at'], unique=False)

    op.create_table('staff_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('handler_id', sa.Integer(), nullable=True),
    sa.Column('areas', sa.JSON(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('telegram_chat_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['handler_id'], ['handlers.id'], name=op.f('fk_staff_users_handler_id_handlers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_staff_users_token_hash')),
    sa.UniqueConstraint('username', name=op.f('uq_staff_users_username'))
    )
    op.create_table('work_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('priority', sa.String(length=8), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('location_text', sa.String(length=200), nullable=False),
    sa.Column('area_code', sa.String(length=64), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('reporter_channel', sa.String(length=16), nullable=False),
    sa.Column('reporter_ref', sa.String(length=128), nullable=False),
    sa.Column('reporter_contact_enc', sa.Text(), nullable=True),
    sa.Column('reporter_contact_hash', sa.String(length=64), nullable=True),
    sa.Column('anonymous', sa.Boolean(), nullable=False),
    sa.Column('client_ref', sa.String(length=128), nullable=True),
    sa.Column('assignee_id', sa.Integer(), nullable=True),
    sa.Column('tier', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('accept_by', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolve_by', sa.DateTime(timezone=True), nullable=False),
    sa.Column('breached', sa.Boolean(), nullable=False),
    sa.Column('overdue_notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.Column('event_seq', sa.Integer(), nullable=False),
    sa.Column('satisfaction', sa.String(length=24), nullable=True),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['area_code'], ['areas.code'], name=op.f('fk_work_orders_area_code_areas')),
    sa.ForeignKeyConstraint(['assignee_id'], ['handlers.id'], name=op.f('fk_work_orders_assignee_id_handlers')),
    sa.ForeignKeyConstraint(['parent_id'], ['work_orders.id'], name=op.f('fk_work_orders_parent_id_work_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_orders')),
    sa.UniqueConstraint('client_ref', name=op.f('uq_work_orders_client_ref')),
    sa.UniqueConstraint('number', name=op.f('uq_work_orders_number'))
    )
    op.create_index('ix_work_orders_assignee_status', 'work_orders', ['assignee_id', 'status'], unique=False)
    op.create_index('ix_work_orders_category_area', 'work_orders', ['category', 'area_code', 'status'], unique=False)
    op.create_index('ix_work_orders_created_at', 'work_orders', ['created_at'], unique=False)
    op.create_index(op.f('ix_work_orders_parent_id'), 'work_orders', ['parent_id'], unique=False)
    op.create_index(op.f('ix_work_orders_reporter_contact_hash'), 'work_orders', ['reporter_contact_hash'], unique=False)
    op.create_index('ix_work_orders_reporter_ref', 'work_orders', ['reporter_ref', 'created_at'], unique=False)
    op.create_index('ix_work_orders_status_accept_by', 'work_orders', ['status', 'accept_by'], unique=False)
    op.create_index('ix_work_orders_status_created_at', 'work_orders', ['status', 'created_at'], unique=False)
    op.create_index('ix_work_orders_status_resolve_by', 'work_orders', ['status', 'resolve_by'], unique=False)
    op.create_index('ix_work_orders_status_resolved_at', 'work_orders', ['status', 'resolved_at'], unique=False)

    op.create_table('order_declines',
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('handler_id', sa.Integer(), nullable=False),
    sa.Column('declined_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['handler_id'], ['handlers.id'], name=op.f('fk_order_declines_handler_id_handlers')),
    sa.ForeignKeyConstraint(['order_id'], ['work_orders.id'], name=op.f('fk_order_declines_order_id_work_orders')),
    sa.PrimaryKeyConstraint('order_id', 'handler_id', name=op.f('pk_order_declines'))
    )
    op.create_table('order_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('handler_id', sa.Integer(), nullable=True),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['handler_id'], ['handlers.id'], name=op.f('fk_order_events_handler_id_handlers')),
    sa.ForeignKeyConstraint(['order_id'], ['work_orders.id'], name=op.f('fk_order_events_order_id_work_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_events')),
    sa.UniqueConstraint('order_id', 'seq', name='uq_order_events_order_id_seq')
    )
    op.create_index('ix_order_events_handler_action_at', 'order_events', ['handler_id', 'action', 'at'], unique=False)



def downgrade() -> None:
    """Downgrade schema (drop every table, dependants first; indexes go with them)."""
    for table in ("order_events", "order_declines", "work_orders", "staff_users", "outbox",
                  "handlers", "areas"):
        op.drop_table(table)
