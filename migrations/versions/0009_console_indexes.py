"""Indexes for the console's order list and its 待办 (dispatcher inbox).

An area's orders by status and age (the fallback grid's triage, a
dispatcher's areas), orders by kind, urgent ones by status, answers
(满意度 filters), the newest change (the inbox's version), and audit events
by action (不满意 answers, escalations). No data changes.

Revision ID: 0009_console_indexes
Revises: 0008_staff_passwords
Create Date: 2026-12-06
"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0009_console_indexes'
down_revision: str | Sequence[str] | None = '0008_staff_passwords'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WORK_ORDERS = (
    ("ix_work_orders_area_status_created", ["area_code", "status", "created_at"]),
    ("ix_work_orders_kind_created", ["kind", "created_at"]),
    ("ix_work_orders_priority_status", ["priority", "status"]),
    ("ix_work_orders_satisfaction", ["satisfaction", "created_at"]),
    ("ix_work_orders_updated_at", ["updated_at"]),
)


def upgrade() -> None:
    for name, columns in WORK_ORDERS:
        op.create_index(name, "work_orders", columns)
    op.create_index("ix_order_events_action_order", "order_events", ["action", "order_id"])


def downgrade() -> None:
    op.drop_index("ix_order_events_action_order", table_name="order_events")
    for name, _ in reversed(WORK_ORDERS):
        op.drop_index(name, table_name="work_orders")
