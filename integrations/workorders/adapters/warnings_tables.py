"""The 研判预警 tables: warnings, the orders behind them, their audit, the weekly
reports and the scan's cursors (migration 0013).

A warning is one finding of a detector (``domain.warnings``): a kind
(``repeat``, ``dispute_risk``, ``surge``, ``hotspot``), a level (``attention``
关注 / ``warning`` 预警 / ``urgent`` 紧急), the area and category, a Chinese
explanation and a state (``open`` → ``acknowledged`` → ``closed``). The same
finding is never raised twice: ``dedupe_key`` is unique (e.g.
``repeat:<order id>``, ``dispute_risk:<order id>``,
``surge:<area>:<category>:<start>``, ``hotspot:<area>:<week>:<place>``); a
detector that finds more of the same updates its row (more orders, a higher
level) instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime

WARNING_KINDS = ("repeat", "dispute_risk", "surge", "hotspot")
WARNING_LEVELS = ("attention", "warning", "urgent")
WARNING_STATES = ("open", "acknowledged", "closed")


class RiskWarning(Base):
    """A 研判预警 finding (``Warning`` would shadow the builtin)."""

    __tablename__ = "warnings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    level: Mapped[str] = mapped_column(String(12), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    #: the grid (repeat, dispute_risk, surge, hotspot of a grid) or township/county area
    area_code: Mapped[str] = mapped_column(String(64), ForeignKey("areas.code"), nullable=False)
    #: a taxonomy category; None for a finding about several (a hotspot place)
    category: Mapped[str | None] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(160), nullable=False, unique=True)
    #: one Chinese sentence a supervisor can act on
    explanation: Mapped[str] = mapped_column(Text, nullable=False)
    #: what the detector measured: score and reasons, counts and baseline, earlier orders...
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    #: the triggering (repeat, dispute_risk) or parent (surge, after ``link``) order
    order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(80))
    ack_note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(80))
    close_note: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_warnings_state_created_at", "state", "created_at"),
        Index("ix_warnings_area_code_kind", "area_code", "kind"),
        Index("ix_warnings_order_id", "order_id"),
    )


class WarningOrder(Base):
    """An order behind a warning: ``trigger`` (the new one), ``earlier`` (a repeat's
    predecessors), ``member`` (a surge's reports), ``parent`` (a surge after ``link``)."""

    __tablename__ = "warning_orders"

    warning_id: Mapped[int] = mapped_column(ForeignKey("warnings.id"), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(12), nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_warning_orders_order_id", "order_id"),)


class WarningEvent(Base):
    """The audit of a warning: ``raise``, ``update`` (more orders, a new level),
    ``acknowledge``, ``close``, ``link``, ``reopen``; actor as the audit names
    people (``system``, ``staff:alice``)."""

    __tablename__ = "warning_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    warning_id: Mapped[int] = mapped_column(ForeignKey("warnings.id"), nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    actor: Mapped[str] = mapped_column(String(80), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    level: Mapped[str] = mapped_column(String(12), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_warning_events_warning_id_id", "warning_id", "id"),)


class WeeklyReport(Base):
    """One 研判 report: an area (a township or the county) and a week (Monday, China time)."""

    __tablename__ = "weekly_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_code: Mapped[str] = mapped_column(String(64), ForeignKey("areas.code"), nullable=False)
    #: the Monday the week starts on, ISO (``2026-11-30``), China time
    week: Mapped[str] = mapped_column(String(10), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: who asked for it: ``system`` (the Monday run) or ``staff:<username>``
    created_by: Mapped[str] = mapped_column(String(80), nullable=False)
    body: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)

    __table_args__ = (UniqueConstraint("area_code", "week", name="uq_weekly_reports_area_week"),)


class ScanCursor(Base):
    """How far a detector has read (e.g. ``orders`` → the last order id,
    ``events`` → the last order event id), so each run reads only what is new."""

    __tablename__ = "scan_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
