"""Declarative base shared by every table, and column types that behave the
same on SQLite and PostgreSQL."""
from __future__ import annotations

from typing import ClassVar

from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

from integrations.shared.sql import NAMING, UTCDateTime

__all__ = ["NAMING", "Base", "UTCDateTime"]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    # every subclass is mapped to a Table (DeclarativeBase types it as FromClause)
    __table__: ClassVar[Table]
