"""The supervisors' dashboard: cached audit-chain checks, and unsatisfied answers by time.

Revision ID: 0009_dashboard
Revises: 0008_staff_passwords
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0009_dashboard'
down_revision: str | Sequence[str] | None = '0008_staff_passwords'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("broken", sa.Integer(), nullable=False),
        sa.Column("first_number", sa.String(length=8), nullable=True),
        sa.Column("first_seq", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checks")),
    )
    op.create_index(op.f("ix_audit_checks_checked_at"), "audit_checks", ["checked_at"])
    op.create_index("ix_order_events_action_at", "order_events", ["action", "at"])


def downgrade() -> None:
    op.drop_index("ix_order_events_action_at", table_name="order_events")
    op.drop_index(op.f("ix_audit_checks_checked_at"), table_name="audit_checks")
    op.drop_table("audit_checks")
