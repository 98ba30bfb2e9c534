"""Indexes for in-order delivery and for pruning delivered outbox rows.

The notifier holds back a message while an earlier one for the same order and
recipient is pending (``ix_outbox_order_recipient``); the sweeper deletes
delivered rows past their retention (``ix_outbox_status_delivered``). No data
changes.

Revision ID: 0007_outbox_indexes
Revises: 0006_api_request_keys
Create Date: 2026-12-06
"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0007_outbox_indexes'
down_revision: str | Sequence[str] | None = '0006_api_request_keys'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_outbox_order_recipient", "outbox",
                    ["order_number", "recipient_ref", "status"])
    op.create_index("ix_outbox_status_delivered", "outbox", ["status", "delivered_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_status_delivered", table_name="outbox")
    op.drop_index("ix_outbox_order_recipient", table_name="outbox")
