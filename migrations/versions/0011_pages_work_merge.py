"""Join the branches' migrations (console sessions, staff access log, dashboard) into one head.

Only for the pages-work branch's tests: the lead rechains the migrations at merge and
drops this file.

Revision ID: 0011_pages_work_merge
Revises: 0010_console_sessions, 0009_dashboard, 0009_console_indexes
Create Date: 2026-12-06
"""
from collections.abc import Sequence

# revision identifiers, used by Alembic.
revision: str = '0011_pages_work_merge'
down_revision: str | Sequence[str] | None = (
    '0010_console_sessions', '0009_dashboard', '0009_console_indexes')
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
