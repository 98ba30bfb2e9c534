"""Idempotency keys of the channels' requests on existing orders (cancel, satisfaction,
attach, location, photos): one row per key and caller, written in the same transaction
as the change the request made (``service.request_keys``)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class RequestKey(Base):
    __tablename__ = "request_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: who sent it (the channel account: ``actions``, ``telegram``)
    caller: Mapped[str] = mapped_column(String(32), nullable=False)
    #: the ``Idempotency-Key`` header
    key: Mapped[str] = mapped_column(String(128), nullable=False)
    #: sha256 of what was asked (endpoint, order, body): the same key for another request is 409
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    #: the order it acted on (a replay answers with that order as it is now)
    order_number: Mapped[str] = mapped_column(String(8), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        UniqueConstraint("caller", "key", name="uq_request_keys_caller_key"),
        Index("ix_request_keys_created_at", "created_at"),
    )
