"""Who revealed a callback transcript or changed a staff account (``staff_access_log``).

Revision ID: 0009_staff_access_log
Revises: 0008_staff_passwords
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0009_staff_access_log'
down_revision: str | Sequence[str] | None = '0008_staff_passwords'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_access_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_access_log")),
    )
    op.create_index("ix_staff_access_log_subject_at", "staff_access_log", ["subject", "at"])
    op.create_index("ix_staff_access_log_at", "staff_access_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_staff_access_log_at", table_name="staff_access_log")
    op.drop_index("ix_staff_access_log_subject_at", table_name="staff_access_log")
    op.drop_table("staff_access_log")
