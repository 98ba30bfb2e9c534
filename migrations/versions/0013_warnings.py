"""研判预警: warnings, the orders behind them, their audit, weekly reports, scan cursors.

Revision ID: 0013_warnings
Revises: 0012_dashboard
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013_warnings'
down_revision: str | Sequence[str] | None = '0012_dashboard'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "warnings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("area_code", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=80), nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("closed_by", sa.String(length=80), nullable=True),
        sa.Column("close_note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["area_code"], ["areas.code"],
                                name=op.f("fk_warnings_area_code_areas")),
        sa.ForeignKeyConstraint(["order_id"], ["work_orders.id"],
                                name=op.f("fk_warnings_order_id_work_orders")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warnings")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_warnings_dedupe_key")),
    )
    op.create_index("ix_warnings_state_created_at", "warnings", ["state", "created_at"])
    op.create_index("ix_warnings_area_code_kind", "warnings", ["area_code", "kind"])
    op.create_index("ix_warnings_order_id", "warnings", ["order_id"])
    op.create_table(
        "warning_orders",
        sa.Column("warning_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("added_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["warning_id"], ["warnings.id"],
                                name=op.f("fk_warning_orders_warning_id_warnings")),
        sa.ForeignKeyConstraint(["order_id"], ["work_orders.id"],
                                name=op.f("fk_warning_orders_order_id_work_orders")),
        sa.PrimaryKeyConstraint("warning_id", "order_id", name=op.f("pk_warning_orders")),
    )
    op.create_index("ix_warning_orders_order_id", "warning_orders", ["order_id"])
    op.create_table(
        "warning_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("warning_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["warning_id"], ["warnings.id"],
                                name=op.f("fk_warning_events_warning_id_warnings")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warning_events")),
    )
    op.create_index("ix_warning_events_warning_id_id", "warning_events", ["warning_id", "id"])
    op.create_table(
        "weekly_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("area_code", sa.String(length=64), nullable=False),
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["area_code"], ["areas.code"],
                                name=op.f("fk_weekly_reports_area_code_areas")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_weekly_reports")),
        sa.UniqueConstraint("area_code", "week", name="uq_weekly_reports_area_week"),
    )
    op.create_table(
        "scan_cursors",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scan_cursors")),
    )
    # repeats look up earlier orders of one area and category by when they were resolved
    op.create_index("ix_work_orders_area_category_created", "work_orders",
                    ["area_code", "category", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_work_orders_area_category_created", table_name="work_orders")
    op.drop_table("scan_cursors")
    op.drop_table("weekly_reports")
    op.drop_index("ix_warning_events_warning_id_id", table_name="warning_events")
    op.drop_table("warning_events")
    op.drop_index("ix_warning_orders_order_id", table_name="warning_orders")
    op.drop_table("warning_orders")
    op.drop_index("ix_warnings_order_id", table_name="warnings")
    op.drop_index("ix_warnings_area_code_kind", table_name="warnings")
    op.drop_index("ix_warnings_state_created_at", table_name="warnings")
    op.drop_table("warnings")
