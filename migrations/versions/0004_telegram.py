"""Telegram: link codes, reminder marks, the channel's state.

``telegram_link_codes``: one-time codes (only their sha256) that link a chat
to a handler or a staff user; ``telegram_link_attempts``: failed redemptions
per chat (brute-force limit); ``work_orders.accept_reminded_at`` and
``resolve_reminded_at``: the assignee was reminded (催办) of the current
deadline; ``telegram_updates``, ``telegram_pending_inputs``,
``telegram_unreachable``: the Telegram channel's own state
(``integrations/telegram/tables.py``).

Revision ID: 0004_telegram
Revises: 0003_attachments
Create Date: 2025-12-12

Written for SQLite and PostgreSQL alike (``work_orders`` is altered in batch
mode, which SQLite needs to drop the columns again on downgrade).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0004_telegram'
down_revision: str | Sequence[str] | None = '0003_attachments'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('work_orders') as batch_op:
        batch_op.add_column(sa.Column('accept_reminded_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resolve_reminded_at', sa.DateTime(timezone=True), nullable=True))

    op.create_table('telegram_link_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('handler_id', sa.Integer(), nullable=True),
    sa.Column('staff_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=80), nullable=False),
    sa.CheckConstraint(
        '(handler_id IS NULL AND staff_user_id IS NOT NULL)'
        ' OR (handler_id IS NOT NULL AND staff_user_id IS NULL)',
        name=op.f('ck_telegram_link_codes_one_owner')),
    sa.ForeignKeyConstraint(['handler_id'], ['handlers.id'], name=op.f('fk_telegram_link_codes_handler_id_handlers')),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_telegram_link_codes_staff_user_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_telegram_link_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_telegram_link_codes_code_hash'))
    )

    op.create_table('telegram_link_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chat_id', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_telegram_link_attempts'))
    )
    op.create_index('ix_telegram_link_attempts_chat_id_at', 'telegram_link_attempts', ['chat_id', 'at'], unique=False)
    op.create_index('ix_telegram_link_attempts_at', 'telegram_link_attempts', ['at'], unique=False)

    op.create_table('telegram_updates',
    sa.Column('bot_id', sa.BigInteger(), nullable=False),
    sa.Column('update_id', sa.BigInteger(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('bot_id', 'update_id', name=op.f('pk_telegram_updates'))
    )
    op.create_index('ix_telegram_updates_received_at', 'telegram_updates', ['received_at'], unique=False)
    op.create_index('ix_telegram_updates_due', 'telegram_updates', ['bot_id', 'handled_at', 'next_attempt_at'], unique=False)

    op.create_table('telegram_pending_inputs',
    sa.Column('bot_id', sa.BigInteger(), nullable=False),
    sa.Column('chat_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('order_number', sa.String(length=8), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('bot_id', 'chat_id', name=op.f('pk_telegram_pending_inputs'))
    )

    op.create_table('telegram_unreachable',
    sa.Column('bot_id', sa.BigInteger(), nullable=False),
    sa.Column('chat_id', sa.String(length=64), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('bot_id', 'chat_id', name=op.f('pk_telegram_unreachable'))
    )


def downgrade() -> None:
    """Downgrade schema (links made stay on handlers and staff users; codes, marks and
    the channel's state are lost)."""
    for table in ('telegram_unreachable', 'telegram_pending_inputs', 'telegram_updates',
                  'telegram_link_attempts', 'telegram_link_codes'):
        op.drop_table(table)
    with op.batch_alter_table('work_orders') as batch_op:
        batch_op.drop_column('resolve_reminded_at')
        batch_op.drop_column('accept_reminded_at')
