"""A third kind, request (其他诉求), handled by community staff (staff, 社区工作人员).

The kinds and handler roles were plain strings the service checked against
``taxonomy.yml``; the schema now holds the closed sets itself, so that no
process and no hand edit can write an order of a kind, or a handler of a role,
that dispatch has no rule for:

- ``ck_work_orders_kind``: ``kind`` is dispute, incident or request;
- ``ck_handlers_role``: ``role`` is mediator, grid_worker or staff.

No data changes: every existing row already has one of these values (the
upgrade fails, and changes nothing, if one does not). Reclassifying an order
(``reclassify``) needs no column: its kind and category change in place and
the audit event keeps from and to.

Revision ID: 0005_request_kind
Revises: 0004_telegram
Create Date: 2026-12-06

Written for SQLite and PostgreSQL alike (both tables are altered in batch
mode, which SQLite needs to add or drop a check constraint).
"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0005_request_kind'
down_revision: str | Sequence[str] | None = '0004_telegram'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As of this revision (a later kind or role needs a revision of its own).
KIND_CHECK = "kind IN ('dispute', 'incident', 'request')"
ROLE_CHECK = "role IN ('mediator', 'grid_worker', 'staff')"


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('work_orders') as batch_op:
        batch_op.create_check_constraint(op.f('ck_work_orders_kind'), KIND_CHECK)
    with op.batch_alter_table('handlers') as batch_op:
        batch_op.create_check_constraint(op.f('ck_handlers_role'), ROLE_CHECK)


def downgrade() -> None:
    """Downgrade schema (orders of kind request and staff handlers stay; nothing checks
    kinds and roles in the schema any more)."""
    with op.batch_alter_table('handlers') as batch_op:
        batch_op.drop_constraint(op.f('ck_handlers_role'), type_='check')
    with op.batch_alter_table('work_orders') as batch_op:
        batch_op.drop_constraint(op.f('ck_work_orders_kind'), type_='check')
