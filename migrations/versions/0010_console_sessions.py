"""The web console's sessions and the failed sign-ins it counts.

Revision ID: 0010_console_sessions
Revises: 0009_staff_access_log
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0010_console_sessions'
down_revision: str | Sequence[str] | None = '0009_staff_access_log'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_console_sessions")),
        sa.ForeignKeyConstraint(["staff_user_id"], ["staff_users.id"], ondelete="CASCADE",
                                name=op.f("fk_console_sessions_staff_user_id_staff_users")),
    )
    op.create_index("ix_console_sessions_staff_user_id", "console_sessions", ["staff_user_id"])
    op.create_index("ix_console_sessions_last_seen_at", "console_sessions", ["last_seen_at"])
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    op.create_index("ix_sign_in_failures_at", "sign_in_failures", ["at"])
    op.create_index("ix_sign_in_failures_username_at", "sign_in_failures", ["username", "at"])
    op.create_index("ix_sign_in_failures_address_at", "sign_in_failures", ["address", "at"])


def downgrade() -> None:
    op.drop_table("sign_in_failures")
    op.drop_table("console_sessions")
