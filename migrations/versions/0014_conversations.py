"""Conversation analytics: the Rasa events received and the facts per conversation.

Revision ID: 0014_conversations
Revises: 0013_warnings
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014_conversations'
down_revision: str | Sequence[str] | None = '0013_warnings'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "conversation_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(length=64), nullable=False),
        sa.Column("sender_id", sa.String(length=128), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("value", sa.String(length=128), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_events")),
        sa.UniqueConstraint("event_key", name=op.f("uq_conversation_events_event_key")),
    )
    op.create_index(op.f("ix_conversation_events_sender_id"), "conversation_events",
                    ["sender_id"])
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.String(length=128), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("last_event_at", TS, nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("intents", sa.Text(), nullable=False),
        sa.Column("fallbacks", sa.Integer(), nullable=False),
        sa.Column("report_started", sa.Boolean(), nullable=False),
        sa.Column("report_opened", sa.Boolean(), nullable=False),
        sa.Column("order_number", sa.String(length=32), nullable=True),
        sa.Column("seconds_to_order", sa.Float(), nullable=True),
        sa.Column("handed_off", sa.Boolean(), nullable=False),
        sa.Column("dropped_at", sa.String(length=64), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("sender_id", "started_at", name="uq_conversations_sender_started"),
    )
    op.create_index("ix_conversations_day_channel", "conversations", ["day", "channel"])
    op.create_index("ix_conversations_last_event_at", "conversations", ["last_event_at"])


def downgrade() -> None:
    op.drop_index("ix_conversations_last_event_at", table_name="conversations")
    op.drop_index("ix_conversations_day_channel", table_name="conversations")
    op.drop_table("conversations")
    op.drop_index(op.f("ix_conversation_events_sender_id"), table_name="conversation_events")
    op.drop_table("conversation_events")
