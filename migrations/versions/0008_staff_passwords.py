"""Staff accounts get a password (argon2id hash) for signing in to the console.

Revision ID: 0008_staff_passwords
Revises: 0007_outbox_indexes
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0008_staff_passwords'
down_revision: str | Sequence[str] | None = '0007_outbox_indexes'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_column("password_hash")
